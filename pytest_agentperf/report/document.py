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

import functools
import itertools
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_agentperf.errors import BaselineError
from pytest_agentperf.files import write_atomic
from pytest_agentperf.metrics import METRICS, MONEY
from pytest_agentperf.report.records import TestRecord
from pytest_agentperf.report.shape import shape_errors
from pytest_agentperf.result import PerfResult, json_safe
from pytest_agentperf.verdict.store import baseline_store, load_document

__all__ = [
    "SCHEMA",
    "VERSION",
    "build_document",
    "check_document",
    "gab_entries",
    "gab_paths",
    "load_schema",
    "read_baseline",
    "read_results",
    "write_document",
]

SCHEMA = "pytest-agentperf/results"
VERSION = 1

MAX_SHOWN = 3  # wrong places named in one message

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
                currency = result.llm.currency if result.llm is not None else ""
                entry = {
                    "name": f"{name} {metric.name}",
                    "unit": currency if unit is MONEY and currency else unit.export_unit,
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


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def write_document(document: dict[str, Any], path: Path) -> list[Path]:
    """Write the document and its two github-action-benchmark files; return the paths.

    The three files are written atomically and together (:func:`write_atomic`): a failed
    write leaves the previous set as it was, so they always describe the same run.
    """
    bigger_path, smaller_path = gab_paths(path)
    bigger, smaller = gab_entries(document)
    texts = {path: _dumps(document), bigger_path: _dumps(bigger), smaller_path: _dumps(smaller)}
    return write_atomic(texts)


@functools.cache
def _schema_text() -> str:
    return resources.files("pytest_agentperf.report").joinpath("schema.json").read_text("utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the results document."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def check_document(document: dict[str, Any], where: str) -> dict[str, Any]:
    """``document``, once it has the shape ``schema.json`` describes; else a
    :class:`BaselineError` naming ``where`` (the file) and the first wrong places."""
    errors = list(itertools.islice(shape_errors(document, load_schema()), MAX_SHOWN + 1))
    if not errors:
        return document
    more = "; and more" if len(errors) > MAX_SHOWN else ""
    raise BaselineError(
        f"{where} is not a valid pytest-agentperf results document: "
        f"{'; '.join(errors[:MAX_SHOWN])}{more}. It should be a file written by "
        "--agentperf-json or --agentperf-save (the format is pytest_agentperf/report/schema.json)."
    )


def read_results(path: str | Path) -> dict[str, Any]:
    """The results document in ``path`` (a ``--agentperf-json`` file or a saved baseline),
    checked: a :class:`BaselineError` says what is wrong with a bad one."""
    return check_document(load_document(path), repr(str(path)))


def read_baseline(root: Path, name: str | None) -> dict[str, Any]:
    """The results document saved as the baseline ``name`` (``None``/``"latest"``: the
    latest) under the project ``root``, checked as :func:`read_results` does."""
    store = baseline_store(root)
    wanted = store.latest() if name in (None, "latest") else name
    document = store.load(wanted)  # None (nothing saved): a BaselineError that says so
    return check_document(document, f"the baseline {str(store.path(str(wanted)))!r}")
