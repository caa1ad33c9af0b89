"""The shape check of results documents: the part of JSON Schema that ``schema.json`` uses.

Every document read back -- by ``agentperf report`` and ``compare``, and as the baseline of
``--agentperf-compare`` -- is checked against ``schema.json`` first, so a file of the
right format but the wrong shape (``"tests": [1]``, a string where a latency summary
belongs) is refused with the place and what belongs there, rather than failing somewhere
inside the comparison with an ``AttributeError``.

This is a small interpreter of the keywords the schema uses (``type``, ``const``,
``enum``, ``required``, ``properties``, ``additionalProperties``, ``items``,
``minItems``, ``maxItems``, ``minimum``, ``oneOf`` and ``$ref`` into ``$defs``), not a
general validator: the package then needs no ``jsonschema`` (and its compiled
dependencies) at run time. Its verdicts are checked against ``jsonschema`` in the tests,
and a keyword it does not know is an error of the schema, not silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["KEYWORDS", "shape_errors"]

#: The keywords :func:`shape_errors` checks; annotations (title, description) are ignored.
KEYWORDS = frozenset(
    {
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "oneOf",
        "$ref",
    }
)
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})

Schema = Mapping[str, Any]

_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _has_type(value: object, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or isinstance(value, int) or float(value).is_integer()


def _resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        raise ValueError(f"schema.json: unsupported $ref {ref!r}")
    return _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)


def expected(schema: Schema, root: Schema) -> str:
    """What ``schema`` accepts, in words: ``"an object"``, ``"one of 'a', 'b'"``."""
    schema = _resolve(schema, root)
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    if "oneOf" in schema:
        return " or ".join(expected(s, root) for s in schema["oneOf"])
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    text = " or ".join(_TYPE_NAMES[k] for k in kinds) or "any value"
    if "minimum" in schema:
        text += f" >= {schema['minimum']:g}"
    return text


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(path: str) -> str:
    return path or "the document"


def shape_errors(
    value: object, schema: Schema, root: Schema | None = None, path: str = ""
) -> Iterator[str]:
    """Every place where ``value`` does not have the shape ``schema`` describes.

    Each message names the place (``tests[0].results[1].latency``), what is there and what
    belongs there. ``root`` holds the ``$defs`` (by default ``schema`` itself).
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise ValueError(f"schema.json uses keywords the shape check does not know: {unknown}")
    if "oneOf" in schema:
        yield from _one_of(value, schema["oneOf"], root, path)
        return
    problem = _local(value, schema, root)
    if problem:
        yield f"{_at(path)}: {_show(value)} is not {problem}"
        return
    if isinstance(value, dict):
        yield from _object(value, schema, root, path)
    elif isinstance(value, list):
        yield from _array(value, schema, root, path)


def _local(value: object, schema: Schema, root: Schema) -> str:
    """What ``value`` should have been, when it fails ``schema``'s own (not nested) checks."""
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "const" in schema and value != schema["const"]:
        return expected(schema, root)
    if "enum" in schema and value not in schema["enum"]:
        return expected(schema, root)
    if kinds is not None and not any(_has_type(value, k) for k in kinds):
        return expected(schema, root)
    minimum = schema.get("minimum")
    if minimum is not None and _has_type(value, "number") and value < minimum:
        return expected(schema, root)
    return ""


def _one_of(value: object, options: list[Schema], root: Schema, path: str) -> Iterator[str]:
    results = [list(shape_errors(value, option, root, path)) for option in options]
    if sum(1 for errors in results if not errors) == 1:
        return
    # Of the options whose own type fits, report the deeper problems of the first one.
    fitting = [
        errors
        for option, errors in zip(options, results, strict=True)
        if not _local(value, _resolve(option, root), root)
    ]
    if len(fitting) == 1 and fitting[0]:
        yield from fitting[0]
        return
    accepted = " or ".join(expected(o, root) for o in options)
    yield f"{_at(path)}: {_show(value)} is not {accepted}"


def _object(value: dict[str, Any], schema: Schema, root: Schema, path: str) -> Iterator[str]:
    prefix = f"{path}." if path else ""
    for key in schema.get("required", ()):
        if key not in value:
            yield f"{_at(path)}: the key {key!r} is missing"
    properties: Schema = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            yield from shape_errors(item, properties[key], root, f"{prefix}{key}")
        elif extra is False:
            yield f"{_at(path)}: the key {key!r} is not expected"
        elif isinstance(extra, Mapping):
            yield from shape_errors(item, extra, root, f"{prefix}{key}")


def _array(value: list[Any], schema: Schema, root: Schema, path: str) -> Iterator[str]:
    low, high = schema.get("minItems"), schema.get("maxItems")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        count = f"{low}" if low == high else f"{low or 0} to {high if high is not None else 'any'}"
        yield f"{_at(path)}: {_show(value)} has {len(value)} items, not {count}"
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            yield from shape_errors(item, items, root, f"{path}[{index}]")
