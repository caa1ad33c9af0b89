from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.report.progress import TerminalProgress, in_ci, make_progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert make_progress(io.StringIO()) is None
    assert make_progress(None) is None
    assert make_progress(_Tty()) is not None


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("false", False), ("", False)]
)
def test_silent_in_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected
    assert (make_progress(_Tty()) is None) is expected


class _Plugins:
    """A plugin manager with a terminal reporter and the real capture manager."""

    def __init__(self, **plugins: object) -> None:
        self.plugins = plugins

    def get_plugin(self, name: str) -> object:
        return self.plugins.get(name)


async def _work(payload: object) -> object:
    return payload


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "not-a-tty"])
def test_draws_through_pytest_only_on_a_terminal(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = _Tty() if tty else io.StringIO()
    reporter = pytest.TerminalReporter(pytestconfig, stream)
    capman = pytestconfig.pluginmanager.get_plugin("capturemanager")
    config = SimpleNamespace(
        pluginmanager=_Plugins(terminalreporter=reporter, capturemanager=capman)
    )
    perf = AgentPerf(progress=make_progress(config))  # type: ignore[arg-type]
    perf.run_sync(_work, n=20, name="progress")
    written = stream.getvalue()
    if tty:
        assert written.startswith("\n\ragentperf progress: ")
        assert "agentperf progress: 20/20 (100%) " in written
        assert written.endswith("\n")
    else:
        assert written == ""


def test_redraws_are_rate_limited_and_finish_prints_a_summary() -> None:
    now = [0.0]
    out: list[str] = []
    sink = TerminalProgress(out.append, min_interval=0.5, clock=lambda: now[0])
    sink.start("test_agent", 2000)
    for step in range(1, 21):  # 20 updates at 0.0, 0.1, ..., 1.9 s
        now[0] = (step - 1) / 10
        sink.update(step * 100, 400.0 + step, 0.0482)
    now[0] = 2.0
    sink.finish()
    text = "".join(out)
    draws = [part.rstrip() for part in text.split("\r") if part.strip()]
    # one draw per 0.5 s (at 0.0, 0.5, 1.0 and 1.5 s), then the summary
    assert draws == [
        "agentperf test_agent: 100/2,000 (5%) 401/s p95 48.2ms",
        "agentperf test_agent: 600/2,000 (30%) 406/s p95 48.2ms",
        "agentperf test_agent: 1,100/2,000 (55%) 411/s p95 48.2ms",
        "agentperf test_agent: 1,600/2,000 (80%) 416/s p95 48.2ms",
        "agentperf test_agent: 2,000/2,000 (100%) 420/s p95 48.2ms in 2.0s",
    ]
    assert text.startswith("\n")
    assert text.endswith("\n")


def test_unknown_total_and_no_p95() -> None:
    sink = TerminalProgress(lambda _: None)
    sink.start("open", None)
    assert sink.line(12, 3.5, None) == "agentperf open: 12 done 3.5/s"
