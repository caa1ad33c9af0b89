from __future__ import annotations

import io

import pytest

from pytest_agentperf.progress import TerminalProgress, in_ci, make_progress


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


def test_silent_under_pytest_capture(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    expected_silent = not getattr(reporter, "isatty", False)
    assert (make_progress(pytestconfig) is None) is expected_silent


def test_redraws_are_rate_limited_and_finish_prints_a_summary() -> None:
    now = [0.0]
    out: list[str] = []
    sink = TerminalProgress(out.append, min_interval=0.5, clock=lambda: now[0])
    sink.start("test_agent", 2000)
    for step in range(1, 21):  # 20 updates over 1.9 s: at most 4 draws
        now[0] = step * 0.1 - 0.1
        sink.update(step * 100, 400.0 + step, 0.0482)
    now[0] = 2.0
    sink.finish()
    text = "".join(out)
    draws = [part for part in text.split("\r") if part.strip()]
    assert 2 <= len(draws) <= 5
    assert draws[0].startswith("agentperf test_agent: 100/2,000 (5%) 401/s p95 48.2ms")
    assert draws[-1].startswith("agentperf test_agent: 2,000/2,000 (100%) 420/s p95 48.2ms in 2.0s")
    assert text.startswith("\n")
    assert text.endswith("\n")


def test_unknown_total_and_no_p95() -> None:
    sink = TerminalProgress(lambda _: None)
    sink.start("open", None)
    assert sink.line(12, 3.5, None) == "agentperf open: 12 done 3.5/s"
