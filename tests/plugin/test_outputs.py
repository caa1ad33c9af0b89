"""Writing the outputs: atomically, with the umask's permissions, checked before the run,
and a run that could not write a requested output fails, naming the option or ini key."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

RUNS = """
import pytest

@pytest.mark.agentperf
def test_lat(agent_perf, fake_result, pytestconfig):
    (pytestconfig.rootpath / "ran").touch()
    agent_perf.record(fake_result("lat", samples=[0.001 * (i % 97) for i in range(3000)]))
"""

# Makes the disk "full" at the end of the session: files may grow to 16 KiB (the results
# document is ~60 KiB), and a write beyond that fails with EFBIG instead of killing the
# process (as a full disk fails it with ENOSPC).
FULL_DISK = """
import resource, signal
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_output_gets_the_umask_permissions(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    args = ["--agentperf-json=out/r.json", "--agentperf-html=out/r.html", "--agentperf-save=main"]
    perf_pytester.runpytest("--agentperf", *args).assert_outcomes(passed=1)
    root = perf_pytester.path
    written = [*(root / "out").iterdir(), root / ".agentperf" / "baselines" / "main.json"]
    assert sorted(p.name for p in written) == [
        "main.json",
        "r.gab-bigger.json",
        "r.gab-smaller.json",
        "r.html",
        "r.json",
    ]
    assert {p.name: _mode(p) for p in written} == dict.fromkeys(
        (p.name for p in written), 0o666 & ~_umask()
    )


def test_a_write_failing_half_way_keeps_the_old_files_and_fails_the_run(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    args = ["--agentperf", "--agentperf-json=out/r.json", "--agentperf-html=out/r.html"]
    perf_pytester.runpytest(*args).assert_outcomes(passed=1)
    out = perf_pytester.path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before["r.json"]) > 32768  # bigger than the "disk" allows

    perf_pytester.makeconftest(perf_pytester.path.joinpath("conftest.py").read_text() + FULL_DISK)
    result = perf_pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"agentperf: wrote {out / 'r.html'}",  # small enough to fit
            f"agentperf: ERROR: --agentperf-json: could not write {out / 'r.json'}: File too large",
            "agentperf: the run fails: a requested output was not written.",
        ]
    )
    # the previous document and its gab files are whole and unchanged; no temp file is left
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(after) == sorted(before)
    assert {k: v for k, v in after.items() if k != "r.html"} == {
        k: v for k, v in before.items() if k != "r.html"
    }
    json.loads(after["r.json"])


def test_a_write_that_fails_at_the_end_names_the_ini_key(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nagentperf_json = r.json\n"
    )
    perf_pytester.makepyfile(
        test_b=RUNS
        + """
def test_takes_the_place(pytestconfig):
    (pytestconfig.rootpath / "r.json").mkdir()
"""
    )
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"agentperf: ERROR: ini option 'agentperf_json': could not write "
            f"{perf_pytester.path / 'r.json'}: '*r.json' is a directory, not a file"
        ]
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--agentperf-save=../../x",
            "--agentperf-save: '../../x' is not a valid baseline name; use letters, digits, "
            "'_', '-' and '.' (not first), e.g. 'main' or 'v1.2'.",
        ),
        (
            "--agentperf-save=/tmp/abs",
            "--agentperf-save: '/tmp/abs' is not a valid baseline name; *",
        ),
        (
            "--agentperf-json=afile/r.json",
            "--agentperf-json: cannot write {root}/afile/r.json: '{root}/afile' is a file, so "
            "the folder '{root}/afile' cannot be made.",
        ),
        (
            "--agentperf-html=adir",
            "--agentperf-html: cannot write {root}/adir: '{root}/adir' is a folder, not a file.",
        ),
        (
            "--agentperf-save=main",
            "--agentperf-save: cannot write {root}/.agentperf/baselines: "
            "'{root}/.agentperf/baselines' is a file, not a folder.",
        ),
    ],
    ids=["traversal", "absolute", "json-parent-is-a-file", "html-is-a-folder", "store-is-a-file"],
)
def test_an_output_that_cannot_be_written_stops_the_run_before_any_test(
    perf_pytester: pytest.Pytester, option: str, message: str
) -> None:
    root = perf_pytester.path
    (root / "afile").write_text("")
    (root / "adir").mkdir()
    (root / ".agentperf").mkdir()
    (root / ".agentperf" / "baselines").write_text("")
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest("--agentperf", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: " + message.format(root=root)])
    assert not (root / "ran").exists()


def test_an_ini_destination_that_cannot_be_written_names_the_ini_key(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nagentperf_html = afile/r.html\n"
    )
    (perf_pytester.path / "afile").write_text("")
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option 'agentperf_html': cannot write *afile/r.html*"])
    # without --agentperf nothing is written, so nothing is checked
    perf_pytester.runpytest().assert_outcomes(skipped=1)


def test_save_without_agentperf_is_a_usage_error(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest("--agentperf-save=main")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --agentperf-save main: performance tests run only with --agentperf (or "
            "'agentperf = true' in the ini), so nothing would be saved; add --agentperf."
        ]
    )


def test_a_run_that_recorded_nothing_does_not_replace_a_baseline(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    perf_pytester.runpytest("--agentperf", "--agentperf-save=main").assert_outcomes(passed=1)
    saved = perf_pytester.path / ".agentperf" / "baselines" / "main.json"
    before = saved.read_bytes()
    result = perf_pytester.runpytest("--agentperf", "--agentperf-save=main", "-k", "nosuch")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "agentperf: ERROR: --agentperf-save: the baseline 'main' was not saved: no "
            "performance test recorded results in this run (an existing baseline of that name "
            "is kept)."
        ]
    )
    assert saved.read_bytes() == before


def test_a_usage_error_leaves_the_previous_report_alone(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    perf_pytester.runpytest("--agentperf", "--agentperf-json=r.json").assert_outcomes(passed=1)
    before = (perf_pytester.path / "r.json").read_bytes()
    perf_pytester.makepyfile(
        test_c="""
import pytest

@pytest.mark.latency(p95="fast")
def test_bad(agent_perf):
    pass
"""
    )
    result = perf_pytester.runpytest("--agentperf", "--agentperf-json=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (perf_pytester.path / "r.json").read_bytes() == before
