"""``workers=`` / ``backend=`` and the Ray options, checked before anything starts.

Runs without Ray installed: Ray is hidden here (``sys.modules["ray"] = None`` makes
``import ray`` fail and ``find_spec`` find nothing, as in an environment without the
extra). The tests with a real cluster are in ``test_ray_backend.py``.
"""

from __future__ import annotations

import sys

import pytest

from pytest_agentperf.engine.ray_cluster import INSTALL, check_address, ray_installed
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.errors import LoadConfigError
from tests.engine import proc_targets as pt


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)


@pytest.mark.usefixtures("no_ray")
def test_without_the_extra_the_ray_backend_names_the_install_command() -> None:
    assert not ray_installed()
    perf = AgentPerf()
    with pytest.raises(LoadConfigError) as info:
        perf.run_sync(pt.failing_every_7th, n=10, concurrency=2, workers=2, backend="ray")
    assert str(info.value) == (
        "run(workers=2, backend='ray') needs Ray, which is not installed: "
        "pip install 'pytest-agentperf[ray]'"
    )
    with pytest.raises(LoadConfigError, match=r"pip install 'pytest-agentperf\[ray\]'"):
        AgentPerf(backend="ray").run_sync(pt.failing_every_7th, n=10, workers=2)
    assert perf.results == []


@pytest.mark.usefixtures("no_ray")
def test_without_the_extra_the_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("--agentperf-backend", "ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--agentperf-backend ray needs Ray, which is not installed: {INSTALL}" in (
        result.stderr.str()
    )
    pytester.makeini(
        "[pytest]\nagentperf_backend = ray\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini option 'agentperf_backend' ray needs Ray" in result.stderr.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--agentperf-backend", "dask"],
            "--agentperf-backend: 'dask' is not a backend; use 'processes' (worker processes "
            "on this machine) or 'ray' (actors of a Ray cluster).",
        ),
        (
            ["--agentperf-ray-address", "head-node"],
            "--agentperf-ray-address='head-node' is not a Ray cluster address; use host:port",
        ),
        (
            ["--agentperf-ray-address", "ray://head:10001"],
            "Ray Client addresses (ray://) are not supported",
        ),
    ],
)
def test_bad_backend_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_processes_and_workers_spell_the_run_one_way() -> None:
    perf = AgentPerf()
    run = perf.run_sync
    with pytest.raises(LoadConfigError, match="pass one of them"):
        run(pt.failing_every_7th, n=10, processes=2, workers=2)
    with pytest.raises(LoadConfigError, match="for the 'ray' backend write workers=2"):
        run(pt.failing_every_7th, n=10, processes=2, backend="ray")
    with pytest.raises(LoadConfigError, match="needs workers=N"):
        run(pt.failing_every_7th, n=10, backend="ray")
    with pytest.raises(LoadConfigError, match=r"'spark' is not a backend; use one of"):
        run(pt.failing_every_7th, n=10, workers=2, backend="spark")  # type: ignore[arg-type]
    with pytest.raises(LoadConfigError, match=r"run\(workers=0\): use an integer >= 1"):
        run(pt.failing_every_7th, n=10, workers=0)
    with pytest.raises(LoadConfigError, match="AgentPerf"):
        AgentPerf(backend="threads")  # type: ignore[arg-type]
    assert perf.results == []


def test_workers_on_the_processes_backend_is_processes() -> None:
    result = AgentPerf(seed=3).run_sync(pt.failing_every_7th, n=101, concurrency=4, workers=2)
    assert result.total == 101
    assert result.extra["workers"] == 2
    assert "backend" not in result.extra  # local processes, as with processes=2
    with pytest.raises(LoadConfigError, match=r"run\(workers=2\) with n=1: each worker needs"):
        AgentPerf().run_sync(pt.failing_every_7th, n=1, workers=2)


def test_an_unreachable_address_fails_in_milliseconds_naming_the_option() -> None:
    origin = "--agentperf-ray-address"
    with pytest.raises(LoadConfigError, match=r"'127\.0\.0\.1:1': no Ray cluster there, the "):
        check_address("127.0.0.1:1", origin)  # refused
    with pytest.raises(LoadConfigError, match="no Ray cluster there"):
        check_address("no-such-host.invalid:6379", origin)  # unresolvable
    assert check_address("auto", origin) is None
