"""Saved baselines: ``BaselineStore`` and reading results files.

A baseline is a results document (what ``--agentperf-json`` writes) saved under a name in
``.agentperf/baselines/<name>.json``, wrapped with its format and the environment it was
taken on::

    {"schema": "pytest-agentperf/baseline", "version": 1, "name": "main",
     "saved_at": "2025-01-01T12:00:00.000000+00:00",
     "environment": {"python": "3.11.9", "platform": "...", "cpus": 2, ...},
     "results": {"schema": "pytest-agentperf/results", "version": 1, "tests": [...]}}

Files are written atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_agentperf.errors import BaselineError
from pytest_agentperf.files import write_atomic

__all__ = [
    "BASELINE_SCHEMA",
    "BASELINE_VERSION",
    "DEFAULT_ROOT",
    "RESULTS_SCHEMA",
    "BaselineInfo",
    "BaselineStore",
    "baseline_store",
    "load_baseline",
    "load_document",
]

DEFAULT_ROOT = Path(".agentperf/baselines")
BASELINE_SCHEMA = "pytest-agentperf/baseline"
BASELINE_VERSION = 1
RESULTS_SCHEMA = "pytest-agentperf/results"


@dataclass(frozen=True, slots=True)
class BaselineInfo:
    """A saved baseline, as listed by :meth:`BaselineStore.list`."""

    name: str
    path: Path
    saved_at: str  # ISO-8601, UTC
    environment: dict[str, Any] = field(default_factory=dict)


_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


class BaselineStore:
    """Baselines saved as ``<root>/<name>.json`` (documented in docs/baselines.md).

    A file holds ``{"schema": "pytest-agentperf/baseline", "version": 1, "name": ...,
    "saved_at": ..., "environment": {...}, "results": <the JSON results document>}``.
    """

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"BaselineStore(root={str(self.root)!r})"

    def path(self, name: str) -> Path:
        """Where the baseline ``name`` lives (validates the name)."""
        if not _NAME.match(name):
            raise BaselineError(
                f"{name!r} is not a valid baseline name; use letters, digits, '_', '-' and '.' "
                "(not first), e.g. 'main' or 'v1.2'."
            )
        return self.root / f"{name}.json"

    def save(self, name: str, document: dict[str, Any]) -> Path:
        """Save ``document`` (a results document) as the baseline ``name``, atomically."""
        path = self.path(name)
        environment = document.get("environment") or _minimal_environment()
        entry = {
            "schema": BASELINE_SCHEMA,
            "version": BASELINE_VERSION,
            "name": name,
            "saved_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "environment": environment,
            "results": document,
        }
        try:
            text = json.dumps(entry, indent=1, allow_nan=False, default=_json_default) + "\n"
            write_atomic({path: text})
        except (OSError, ValueError, TypeError) as exc:
            raise BaselineError(f"Cannot save the baseline {name!r} to {path}: {exc}") from exc
        return path

    def list(self) -> list[BaselineInfo]:
        """Every saved baseline, oldest first."""
        infos: list[BaselineInfo] = []
        if not self.root.is_dir():
            return infos
        for path in self.root.glob("*.json"):
            try:
                entry = _read_json(path)
            except BaselineError:
                continue
            if entry.get("schema") == BASELINE_SCHEMA:
                env = entry.get("environment") or {}
                infos.append(BaselineInfo(path.stem, path, str(entry.get("saved_at", "")), env))
        return sorted(infos, key=lambda i: (i.saved_at, i.name))

    def latest(self) -> str | None:
        """The name of the most recently saved baseline, or None when there is none."""
        infos = self.list()
        return infos[-1].name if infos else None

    def load(self, name: str | None = None) -> dict[str, Any]:
        """The results document saved as ``name`` (None: the latest saved)."""
        if name is None:
            name = self.latest()
            if name is None:
                raise BaselineError(self._none_saved())
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(i.name for i in self.list()) or "none"
            raise BaselineError(
                f"No baseline named {name!r} in {self.root} (saved baselines: {known}); "
                "save it with 'pytest --agentperf --agentperf-save NAME'."
            )
        return load_document(path)

    def _none_saved(self) -> str:
        """Why there is no latest baseline: none saved, or none of the files readable."""
        unreadable: list[str] = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else ():
            try:
                load_document(path)
            except BaselineError as exc:
                unreadable.append(str(exc))
        if unreadable:
            return (
                f"No readable baseline in {self.root}: {'; '.join(unreadable[:3])}. Save a new "
                "one with 'pytest --agentperf --agentperf-save NAME'."
            )
        return (
            f"No baseline saved in {self.root}; save one first with "
            "'pytest --agentperf --agentperf-save NAME'."
        )


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a results document from ``path``: a ``--agentperf-json`` file or a saved baseline."""
    data = _read_json(Path(path))
    schema = data.get("schema")
    if schema == BASELINE_SCHEMA:
        _check_version(data, BASELINE_VERSION, path)
        results = data.get("results")
        if not isinstance(results, dict):
            raise BaselineError(f"The baseline {str(path)!r} has no results document.")
        data, schema = results, results.get("schema")
    if schema != RESULTS_SCHEMA or not isinstance(data.get("tests"), list):
        raise BaselineError(
            f"{str(path)!r} is not a pytest-agentperf results file (schema {schema!r}); "
            "use a file written by --agentperf-json or --agentperf-save."
        )
    _check_version(data, 1, path)
    return data


def _check_version(data: dict[str, Any], supported: int, path: str | Path) -> None:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BaselineError(
            f"{str(path)!r} has the format version {version!r}, which is not a version "
            f"number (a whole number such as {supported}); it was not written by "
            "pytest-agentperf, or was edited."
        )
    if version > supported:
        raise BaselineError(
            f"{str(path)!r} has format version {version!r}; this pytest-agentperf reads "
            f"versions up to {supported} (upgrade it to read newer files)."
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{str(path)!r} does not exist.") from None
    except OSError as exc:
        raise BaselineError(f"Cannot read {str(path)!r}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BaselineError(f"{str(path)!r} does not hold a JSON object.")
    return data


def _minimal_environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform()}


def _json_default(value: object) -> object:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def baseline_store(root: Path) -> BaselineStore:
    """The baseline store of the project at ``root`` (``<root>/.agentperf/baselines``)."""
    return BaselineStore(root / DEFAULT_ROOT)


def load_baseline(root: Path, name: str | None) -> dict[str, Any]:
    """The results document saved as ``name`` (``"latest"``: the latest saved)."""
    return baseline_store(root).load(None if name in (None, "latest") else name)
