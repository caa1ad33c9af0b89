"""The shape check agrees with jsonschema on schema.json, and says where a document is wrong."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_agentperf.errors import BaselineError
from pytest_agentperf.report.document import check_document, load_schema
from pytest_agentperf.report.shape import ANNOTATIONS, KEYWORDS, shape_errors
from tests.factories import document, entry, full_result, make_result

SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


_VALID = json.dumps(
    document(
        entry("t.py::test_a", full_result(), make_result("second", growth=2e6, samples=[0.1])),
        entry("t.py::test_b", outcome="xfailed"),
    )
).replace("NaN", "null")


def valid_document() -> dict[str, Any]:
    """A document as --agentperf-json writes it: every field, JSON round-tripped."""
    return dict(json.loads(_VALID))


def _errors(doc: object) -> list[str]:
    return list(shape_errors(doc, SCHEMA))


def _valid_by_jsonschema(doc: object) -> bool:
    return bool(VALIDATOR.is_valid(doc))


def _keywords(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            children = value.values() if key in ("properties", "$defs") else [value]
            for child in children:
                yield from _keywords(child)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


def test_the_schema_uses_only_keywords_the_check_knows() -> None:
    unknown = set(_keywords(SCHEMA)) - KEYWORDS - ANNOTATIONS - {"const"}
    assert not unknown, f"teach report/shape.py these keywords: {unknown}"


def test_a_written_document_has_the_shape() -> None:
    doc = valid_document()
    assert _valid_by_jsonschema(doc)
    assert _errors(doc) == []
    assert check_document(doc, "'r.json'") is doc


def _set(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return doc


WRONG = [
    ("tests", [1], "tests[0]: 1 is not an object"),
    ("tests", ["a"], "tests[0]: 'a' is not an object"),
    ("environment", [1], "environment: [1] is not an object"),
    ("tests.0.results.0.latency", "fast", "tests[0].results[0].latency: 'fast' is not an object"),
    ("tests.0.outcome", "great", "tests[0].outcome: 'great' is not one of 'passed', 'failed'"),
    ("tests.0.results", 5, "tests[0].results: 5 is not an array"),
    (
        "tests.0.results.0.completed",
        -1,
        "tests[0].results[0].completed: -1 is not a whole number >= 0",
    ),
    (
        "tests.0.results.0.latency.p95",
        "1s",
        "tests[0].results[0].latency.p95: '1s' is not a number or null",
    ),
    (
        "tests.0.results.0.ttft",
        {"count": "x"},
        "tests[0].results[0].ttft: the key 'mean' is missing",
    ),
    ("tests.0.results.0.ttft", 3, "tests[0].results[0].ttft: 3 is not an object or null"),
    (
        "tests.0.results.1.memory.per_task_ci",
        [1, 2, 3],
        "per_task_ci: [1, 2, 3] has 3 items, not 2",
    ),
    (
        "tests.0.figures",
        {"x": [1]},
        "tests[0].figures.x: [1] is not a number or a string or true or false",
    ),
    ("environment.cpus", 0, "environment.cpus: 0 is not a whole number >= 1"),
    ("version", "1", "version: '1' is not 1"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), WRONG, ids=[w[0] + "=" + repr(w[1]) for w in WRONG]
)
def test_a_wrong_shape_is_named_where_it_is(path: str, value: object, message: str) -> None:
    doc = _set(valid_document(), path, value)
    assert not _valid_by_jsonschema(doc)
    errors = _errors(doc)
    assert any(message in e for e in errors), errors


def test_a_missing_key_is_named() -> None:
    doc = valid_document()
    del doc["tests"][0]["results"][0]["latency"]
    assert _errors(doc) == ["tests[0].results[0]: the key 'latency' is missing"]
    with pytest.raises(BaselineError) as info:
        check_document(doc, "'r.json'")
    assert str(info.value) == (
        "'r.json' is not a valid pytest-agentperf results document: tests[0].results[0]: the "
        "key 'latency' is missing. It should be a file written by --agentperf-json or "
        "--agentperf-save (the format is pytest_agentperf/report/schema.json)."
    )


def test_many_wrong_places_are_cut_short() -> None:
    doc = valid_document()
    doc["tests"] = [1, 2, 3, 4, 5]
    with pytest.raises(BaselineError) as info:
        check_document(doc, "'r.json'")
    message = str(info.value)
    assert "tests[0]: 1 is not an object; tests[1]: 2 is not an object; tests[2]" in message
    assert "tests[3]" not in message
    assert "; and more." in message


# -- the verdicts agree with jsonschema on random damage ----------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def _places(node: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            yield from _places(value, (*path, index))


PLACES = [p for p in _places(valid_document()) if p and "samples" not in p]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=JSON_VALUES, delete=st.booleans())
def test_the_verdict_matches_jsonschema(
    place: tuple[Any, ...], value: object, delete: bool
) -> None:
    doc = valid_document()
    node: Any = doc
    for part in place[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        del node[place[-1]]
    else:
        node[place[-1]] = value
    assert (not _errors(doc)) == _valid_by_jsonschema(doc)
