"""Writing output files atomically, and checking up front that they can be written.

Every file the package writes -- the results document and its github-action-benchmark
files, the HTML report, baselines -- goes through :func:`write_atomic`: each file is first
written whole to a temporary file in its own folder, then moved over the destination with
``os.replace``. A reader (a CI artifact upload, a dashboard, a second session) sees the old
file or the new one, never half of one; a write that fails half way (a full disk, a
killed job) leaves the previous file as it was.

Files are created with the permissions ``open()`` would give them (``0o666`` minus the
umask, usually ``0o644``), not the ``0o600`` of :func:`tempfile.mkstemp`, so that CI
artifact uploaders and other users of a shared runner can read them; a file that already
exists keeps its permissions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = ["error_text", "unwritable_reason", "write_atomic"]

_TRIES = 16


def _open_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new, empty temporary file next to ``name`` (mode ``0o666`` minus the umask)."""
    for _ in range(_TRIES):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {folder / name}")


def _target(path: Path) -> Path:
    """Where the bytes go: through a symlink to its file (the link stays a link)."""
    return path.resolve() if path.is_symlink() else path


def _write_temp(path: Path, text: str) -> Path:
    """``text`` written whole (and flushed to disk) to a temporary file beside ``path``."""
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path.parent, path.name)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))  # keep an existing file's mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(files: Mapping[Path, str]) -> list[Path]:
    """Write each ``path: text`` atomically; return the paths (as given).

    All the files are written to temporary files first, and only when every one of them is
    complete are they moved into place, so a failure (``OSError``: a full disk, a folder
    that cannot be created) replaces none of them. Missing parent folders are created.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            target = _target(Path(path))
            staged.append((_write_temp(target, text), target))
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [Path(p) for p in files]


def unwritable_reason(path: Path, *, folder: bool = False) -> str | None:
    """Why ``path`` (a file, or a folder with ``folder=True``) cannot be written, or ``None``.

    A cheap check made before a long run, so that a destination that cannot work stops the
    run before the workload rather than after it: an existing path of the wrong kind, or
    the nearest existing ancestor being a file or not writable. It cannot foresee
    everything (a disk that fills up later); the write itself still reports its errors.
    """
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            return f"{str(path)!r} is a file, not a folder"
        if not folder and path.is_dir():
            return f"{str(path)!r} is a folder, not a file"
        writable = path if folder else path.parent
        return None if os.access(writable, os.W_OK) else f"{str(writable)!r} is not writable"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{str(ancestor)!r} is a file, so the folder {str(path.parent)!r} cannot be made"
    if not os.access(ancestor, os.W_OK):
        return f"{str(ancestor)!r} is not writable"
    return None


def error_text(exc: BaseException) -> str:
    """A failed write in words: an ``OSError``'s reason without the temporary file's name
    (``'File too large'``), anything else as its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
