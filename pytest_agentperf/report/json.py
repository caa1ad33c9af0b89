"""The results document (``--agentperf-json``) and the github-action-benchmark files.

The document is described by ``schema.json`` next to this module (``SCHEMA`` / ``VERSION``
below). Floats that are not finite (an unmeasured percentile is NaN in memory) are written
as ``null``, so the file is strict JSON.

Beside ``PATH`` two files in the format of github-action-benchmark are written:
``PATH`` with its suffix replaced by ``.gab-bigger.json`` (tool ``customBiggerIsBetter``:
throughput, efficiency) and ``.gab-smaller.json`` (``customSmallerIsBetter``: latency
percentiles, TTFT, error rate, memory growth). Each is a list of ``{name, unit, value}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_agentperf.errors import AgentPerfError
from pytest_agentperf.report import TestRecord, baseline_store
from pytest_agentperf.settings import Settings

__all__ = [
    "SCHEMA",
    "VERSION",
    "build_document",
    "gab_entries",
    "gab_paths",
    "load_schema",
    "sanitize",
    "write_document",
    "write_outputs",
]

SCHEMA = "pytest-agentperf/results"
VERSION = 1

Entry = dict[str, Any]
# (metric name, unit, bigger is better, getter on a result dict)
_GAB: tuple[tuple[str, str, bool, Callable[[dict[str, Any]], Any]], ...] = (
    ("throughput", "tasks/s", True, lambda r: r.get("throughput")),
    ("efficiency", "ratio", True, lambda r: r.get("efficiency")),
    ("p50", "ms", False, lambda r: _ms(r.get("latency", {}).get("p50"))),
    ("p95", "ms", False, lambda r: _ms(r.get("latency", {}).get("p95"))),
    ("p99", "ms", False, lambda r: _ms(r.get("latency", {}).get("p99"))),
    ("ttft_p95", "ms", False, lambda r: _ms((r.get("ttft") or {}).get("p95"))),
    ("error_rate", "%", False, lambda r: _pct(r.get("error_rate"))),
    ("memory_growth", "MiB", False, lambda r: _mib((r.get("memory") or {}).get("growth_bytes"))),
)


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) * 1e3


def _pct(value: Any) -> float | None:
    return None if value is None else float(value) * 100


def _mib(value: Any) -> float | None:
    return None if value is None else float(value) / 1024.0**2


def sanitize(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` and tuples by lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value


def build_document(
    records: Sequence[TestRecord], environment: dict[str, Any], created: datetime | None = None
) -> dict[str, Any]:
    """The results document for ``records``."""
    moment = created or datetime.now(UTC)
    document = {
        "schema": SCHEMA,
        "version": VERSION,
        "created": moment.isoformat(),
        "environment": environment,
        "tests": [r.to_dict() for r in records],
    }
    return dict(sanitize(document))


def _names(test: dict[str, Any]) -> list[str]:
    results = test["results"]
    if len(results) == 1:
        return [test["nodeid"]]
    return [f"{test['nodeid']} [{r.get('name') or i}]" for i, r in enumerate(results)]


def gab_entries(document: dict[str, Any]) -> tuple[list[Entry], list[Entry]]:
    """The bigger-is-better and smaller-is-better entries of ``document``."""
    bigger: list[Entry] = []
    smaller: list[Entry] = []
    for test in document["tests"]:
        for name, result in zip(_names(test), test["results"], strict=True):
            for metric, unit, is_bigger, get in _GAB:
                value = get(result)
                if value is None or not math.isfinite(value):
                    continue
                entry = {"name": f"{name} {metric}", "unit": unit, "value": value}
                (bigger if is_bigger else smaller).append(entry)
    return bigger, smaller


def gab_paths(path: Path) -> tuple[Path, Path]:
    """``out/results.json`` -> ``out/results.gab-bigger.json``, ``out/results.gab-smaller.json``."""
    stem = path.with_suffix("") if path.suffix == ".json" else path
    return (
        stem.with_name(stem.name + ".gab-bigger.json"),
        stem.with_name(stem.name + ".gab-smaller.json"),
    )


def _dump(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_document(document: dict[str, Any], path: Path) -> list[Path]:
    """Write the document and its two github-action-benchmark files; return the paths."""
    bigger_path, smaller_path = gab_paths(path)
    bigger, smaller = gab_entries(document)
    _dump(document, path)
    _dump(bigger, bigger_path)
    _dump(smaller, smaller_path)
    return [path, bigger_path, smaller_path]


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the results document."""
    text = resources.files("pytest_agentperf.report").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _write_html(document: dict[str, Any], path: Path) -> Path:
    from pytest_agentperf.report.html import write_html

    return write_html(document, path)


def write_outputs(
    records: Sequence[TestRecord], environment: dict[str, Any], settings: Settings, root: Path
) -> tuple[list[Path], list[str]]:
    """Write what the settings ask for (JSON, HTML, baseline): (paths written, problems)."""
    document = build_document(records, environment)
    written: list[Path] = []
    problems: list[str] = []
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    if settings.json_path is not None:
        json_path = settings.json_path
        jobs.append(("--agentperf-json", lambda: write_document(document, json_path)))
    if settings.html_path is not None:
        html_path = settings.html_path
        jobs.append(("--agentperf-html", lambda: [_write_html(document, html_path)]))
    if settings.save is not None:
        name = settings.save
        jobs.append(("--agentperf-save", lambda: [baseline_store(root).save(name, document)]))
    for option, job in jobs:
        try:
            written += job()
        except (OSError, ImportError, AgentPerfError) as exc:
            problems.append(f"{option}: could not write: {exc}")
    return written, problems
