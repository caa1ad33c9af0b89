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
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_agentperf.metrics import METRICS
from pytest_agentperf.report.records import TestRecord
from pytest_agentperf.result import PerfResult, json_safe

__all__ = [
    "SCHEMA",
    "VERSION",
    "build_document",
    "gab_entries",
    "gab_paths",
    "load_schema",
    "write_document",
]

SCHEMA = "pytest-agentperf/results"
VERSION = 1

Entry = dict[str, Any]
#: The metrics exported to the github-action-benchmark files, in this order.
GAB_METRICS = tuple(m for m in METRICS.values() if m.export)


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
    return dict(json_safe(document))


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
        for name, raw in zip(_names(test), test["results"], strict=True):
            result = PerfResult.from_dict(raw)
            for metric in GAB_METRICS:
                value = metric.value(result)
                if value is None or not math.isfinite(value):
                    continue
                unit = metric.unit
                entry = {
                    "name": f"{name} {metric.name}",
                    "unit": unit.export_unit,
                    "value": value * unit.export_scale,
                }
                (bigger if metric.better == "higher" else smaller).append(entry)
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
