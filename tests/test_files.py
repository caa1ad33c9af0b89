"""Atomic writes (``files.write_atomic``) and the up-front writability check."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_agentperf import files
from pytest_agentperf.files import unwritable_reason, write_atomic


@pytest.fixture
def umask_027() -> Iterator[int]:
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_every_file_and_creates_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "out" / "deep" / "a.json", tmp_path / "b.json"
    assert write_atomic({a: "A\n", b: "B\n"}) == [a, b]
    assert (a.read_text(), b.read_text()) == ("A\n", "B\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "b.json", "deep", "out"]


def test_new_files_get_the_umask_permissions_not_mkstemps(tmp_path: Path, umask_027: int) -> None:
    path = tmp_path / "report.html"
    write_atomic({path: "<html>"})
    assert _mode(path) == 0o666 & ~umask_027 == 0o640


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("old")
    path.chmod(0o604)
    write_atomic({path: "new"})
    assert (path.read_text(), _mode(path)) == ("new", 0o604)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real)
    write_atomic({link: "new"})
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_a_failure_half_way_replaces_nothing_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_atomic({a: "old a", b: "old b"})
    calls = []

    def full_disk(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the second file's data does not fit
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic({a: "new a", b: "new b"})
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_a_folder_in_the_way_is_an_oserror_naming_it(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=r"'.*out' is a directory"):
        write_atomic({tmp_path / "out": "x"})
    (tmp_path / "afile").write_text("")
    with pytest.raises(FileExistsError, match="afile"):  # mkdir of a folder that is a file
        write_atomic({tmp_path / "afile" / "r.json": "x"})


def test_a_reader_never_sees_half_a_file_while_two_writers_race(tmp_path: Path) -> None:
    """Two writers of different documents on one path, one reader: always a whole one."""
    path = tmp_path / "results.json"
    docs = [json.dumps({"tests": [i] * 20_000}) for i in (1, 2)]
    write_atomic({path: docs[0]})
    stop = threading.Event()
    seen: list[str] = []

    def writer(text: str) -> None:
        for _ in range(30):
            write_atomic({path: text})

    def reader() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    threads = [threading.Thread(target=writer, args=(d,)) for d in docs]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert seen
    assert all(text in docs for text in seen), "a reader saw a partial or empty file"
    assert path.read_text() in docs


def test_unwritable_reasons(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    assert unwritable_reason(tmp_path / "new" / "r.json") is None
    assert unwritable_reason(tmp_path / "adir", folder=True) is None
    assert unwritable_reason(tmp_path / "x" / "y", folder=True) is None
    afile, adir = str(tmp_path / "afile"), str(tmp_path / "adir")
    assert unwritable_reason(tmp_path / "afile" / "r.json") == (
        f"{afile!r} is a file, so the folder {afile!r} cannot be made"
    )
    assert (
        unwritable_reason(tmp_path / "afile", folder=True) == f"{afile!r} is a file, not a folder"
    )
    assert unwritable_reason(tmp_path / "adir") == f"{adir!r} is a folder, not a file"


def test_a_folder_without_write_permission_is_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.access, as a read-only filesystem or a folder of another user answers it (the
    # tests may run as root, to whom every mode bit says yes)
    monkeypatch.setattr(files.os, "access", lambda path, mode: Path(path) != tmp_path)
    assert unwritable_reason(tmp_path / "out" / "r.json") == f"{str(tmp_path)!r} is not writable"
    assert unwritable_reason(tmp_path, folder=True) == f"{str(tmp_path)!r} is not writable"
