"""A small, seeded JSON Schema value generator: what the mock answers under structured output.

When a request forces a tool (``tool_choice``) or asks for JSON (``response_format``,
``text.format``, Anthropic ``output_config``), the mock must answer with a value that
validates against the given schema, as a real model does. ``compile_schema`` checks the
schema once (a clear error naming the path of a bad keyword) and turns it into a tree of
``_Node``; ``generate`` walks the tree with a seeded ``random.Random``, so the same seed
gives the same values. Compiled schemas are cached by their JSON text.

It covers what structured-output libraries emit (pydantic's ``model_json_schema()``,
OpenAI strict mode, zod-to-json-schema): ``type`` (or a list of types), ``properties``,
``required``, ``items``/``prefixItems``, ``minItems``/``maxItems``, ``enum``, ``const``,
``anyOf``/``oneOf``/``allOf``, ``$ref`` into ``$defs``/``definitions`` (recursion is cut at
a fixed depth), string ``format`` (date-time, date, time, email, uri, uuid),
``minLength``/``maxLength``, and numeric bounds. ``pattern`` is not honoured. Why not
``jsf`` or ``hypothesis-jsonschema``: see ``docs/mock-llm.md`` (speed on the hot path,
determinism under a seed without touching the global ``random``, no heavy dependencies).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

__all__ = ["SchemaError", "compile_schema", "generate", "schema_key"]

_TYPES: Final = ("string", "number", "integer", "boolean", "object", "array", "null")
_MAX_DEPTH: Final = 6
_WORDS: Final = ("mock", "answer", "value", "sample", "text", "alpha", "beta", "gamma")
_FORMATS: Final = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "email": "mock@example.com",
    "uri": "https://example.com/mock",
    "url": "https://example.com/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}


_KEY_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str).encode


class SchemaError(ValueError):
    """Raised when a schema cannot be used; the message names the path of the bad keyword."""


@dataclass(slots=True)
class _Node:
    """One compiled (sub)schema."""

    types: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    properties: tuple[tuple[str, _Node], ...] = ()
    required: frozenset[str] = frozenset()
    items: _Node | None = None
    prefix: tuple[_Node, ...] = ()
    min_items: int = 0
    max_items: int | None = None
    choices: tuple[_Node, ...] = ()
    ref: str | None = None
    fmt: str | None = None
    min_length: int = 0
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: tuple[bool, bool] = (False, False)
    defs: dict[str, _Node] = field(default_factory=dict)


def schema_key(schema: object) -> str:
    """The cache key of a schema: its JSON text (key order kept: it is the output's order)."""
    return _KEY_ENCODER(schema)


@lru_cache(maxsize=512)
def _compiled(key: str) -> _Node:
    return _Compiler().compile(json.loads(key), "")


def compile_schema(schema: object, where: str) -> _Node:
    """The compiled ``schema``; ``SchemaError`` naming ``where`` and the path if unusable."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{where} must be a JSON Schema object, not {_show(schema)}.")
    try:
        return _compiled(schema_key(schema))
    except SchemaError as exc:
        raise SchemaError(f"{where}{exc}") from None


def _show(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class _Compiler:
    """Checks and compiles one schema (with its ``$defs``)."""

    def __init__(self) -> None:
        self.defs: dict[str, _Node] = {}
        self.raw_defs: dict[str, Any] = {}

    def compile(self, schema: Mapping[str, Any], path: str) -> _Node:
        for key in ("$defs", "definitions"):
            table = schema.get(key)
            if table is None:
                continue
            if not isinstance(table, Mapping):
                raise SchemaError(f"{path}.{key} must be an object of schemas.")
            for name, sub in table.items():
                self.raw_defs[f"#/{key}/{name}"] = sub
        root = self.node(schema, path)
        for ref, sub in self.raw_defs.items():
            if ref not in self.defs:
                self.defs[ref] = self.node(sub, f"{path}.{ref[2:].replace('/', '.')}")
        root.defs = self.defs
        return root

    def node(self, schema: object, path: str) -> _Node:
        if schema is True or schema == {}:
            return _Node(types=("string",))
        if not isinstance(schema, Mapping):
            raise SchemaError(f"{path or '.'}: a schema must be an object, not {_show(schema)}.")
        node = _Node()
        if "$ref" in schema:
            node.ref = self._ref(schema["$ref"], path)
            return node
        node.types = self._types(schema, path)
        self._choices(node, schema, path)
        if "enum" in schema or "const" in schema:
            node.enum = self._enum(schema, path)
        if "object" in node.types or "properties" in schema:
            self._object(node, schema, path)
        if "array" in node.types or "items" in schema or "prefixItems" in schema:
            self._array(node, schema, path)
        node.fmt = schema.get("format") if isinstance(schema.get("format"), str) else None
        node.min_length = self._count(schema, "minLength", path) or 0
        node.max_length = self._count(schema, "maxLength", path)
        node.minimum, low_open = self._bound(schema, ("minimum", "exclusiveMinimum"), path)
        node.maximum, high_open = self._bound(schema, ("maximum", "exclusiveMaximum"), path)
        node.exclusive = (low_open, high_open)
        if node.minimum is not None and node.maximum is not None and node.maximum < node.minimum:
            raise SchemaError(f"{path}.maximum is below minimum.")
        return node

    def _ref(self, ref: object, path: str) -> str:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise SchemaError(f"{path}.$ref={_show(ref)}: only local references ('#/$defs/X').")
        if ref != "#" and ref not in self.raw_defs:
            raise SchemaError(f"{path}.$ref={ref!r} names no definition in $defs.")
        return ref

    def _types(self, schema: Mapping[str, Any], path: str) -> tuple[str, ...]:
        declared = schema.get("type")
        if declared is None:
            return ()
        types = (declared,) if isinstance(declared, str) else declared
        if not isinstance(types, list | tuple) or not types:
            raise SchemaError(f"{path}.type={_show(declared)} must be a type or a list of types.")
        for name in types:
            if name not in _TYPES:
                raise SchemaError(
                    f"{path}.type={_show(name)} is not a JSON Schema type ({', '.join(_TYPES)})."
                )
        return tuple(types)

    def _choices(self, node: _Node, schema: Mapping[str, Any], path: str) -> None:
        for key in ("anyOf", "oneOf", "allOf"):
            options = schema.get(key)
            if options is None:
                continue
            if not isinstance(options, list) or not options:
                raise SchemaError(f"{path}.{key} must be a non-empty list of schemas.")
            compiled = tuple(self.node(o, f"{path}.{key}[{i}]") for i, o in enumerate(options))
            # allOf: the first branch stands for all (what pydantic emits is one $ref)
            node.choices = compiled[:1] if key == "allOf" else compiled

    def _enum(self, schema: Mapping[str, Any], path: str) -> tuple[Any, ...]:
        if "const" in schema:
            return (schema["const"],)
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise SchemaError(f"{path}.enum must be a non-empty list of values.")
        return tuple(values)

    def _object(self, node: _Node, schema: Mapping[str, Any], path: str) -> None:
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise SchemaError(f"{path}.properties must be an object of schemas.")
        node.properties = tuple(
            (str(name), self.node(sub, f"{path}.properties.{name}"))
            for name, sub in properties.items()
        )
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(f"{path}.required must be a list of property names.")
        node.required = frozenset(required)

    def _array(self, node: _Node, schema: Mapping[str, Any], path: str) -> None:
        items = schema.get("items")
        if items is not None and items is not False:
            node.items = self.node(items, f"{path}.items")
        prefix = schema.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise SchemaError(f"{path}.prefixItems must be a list of schemas.")
        node.prefix = tuple(self.node(s, f"{path}.prefixItems[{i}]") for i, s in enumerate(prefix))
        node.min_items = self._count(schema, "minItems", path) or 0
        node.max_items = self._count(schema, "maxItems", path)
        if node.max_items is not None and node.max_items < node.min_items:
            raise SchemaError(f"{path}.maxItems is below minItems.")

    @staticmethod
    def _count(schema: Mapping[str, Any], key: str, path: str) -> int | None:
        value = schema.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"{path}.{key}={_show(value)} must be a non-negative integer.")
        return value

    @staticmethod
    def _bound(
        schema: Mapping[str, Any], keys: Sequence[str], path: str
    ) -> tuple[float | None, bool]:
        """A numeric bound and whether it is exclusive."""
        inclusive, exclusive = (schema.get(k) for k in keys)
        for key, value in zip(keys, (inclusive, exclusive), strict=True):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise SchemaError(f"{path}.{key}={_show(value)} must be a number.")
        if exclusive is not None:
            return float(exclusive), True
        return (None, False) if inclusive is None else (float(inclusive), False)


# -- generation -----------------------------------------------------------------------------


def generate(root: _Node, rng: random.Random) -> Any:
    """A value that validates against the compiled schema ``root``."""
    return _Generator(root, rng).value(root, 0)


class _Generator:
    __slots__ = ("rng", "root")

    def __init__(self, root: _Node, rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, node: _Node, depth: int) -> Any:
        if node.ref is not None:
            target = self.root if node.ref == "#" else self.root.defs[node.ref]
            return self.value(target, depth + 1)
        if node.enum is not None:
            return node.enum[self.rng.randrange(len(node.enum))]
        if node.choices:
            return self._choice(node, depth)
        kind = self._kind(node, depth)
        if kind == "object":
            return self._object(node, depth)
        if kind == "array":
            return self._array(node, depth)
        if kind == "string":
            return self._string(node)
        if kind in ("integer", "number"):
            return self._number(node, kind)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def _kind(self, node: _Node, depth: int) -> str:
        types = node.types
        if not types:
            if node.properties:
                return "object"
            return "array" if node.items is not None or node.prefix else "string"
        if len(types) == 1:
            return types[0]
        concrete = [t for t in types if t != "null"]
        if depth >= _MAX_DEPTH and "null" in types:
            return "null"
        return concrete[self.rng.randrange(len(concrete))] if concrete else "null"

    def _choice(self, node: _Node, depth: int) -> Any:
        choices = node.choices
        if depth >= _MAX_DEPTH:  # prefer a branch that ends the recursion
            for option in choices:
                if option.types == ("null",):
                    return None
        non_null = [c for c in choices if c.types != ("null",)] or list(choices)
        return self.value(non_null[self.rng.randrange(len(non_null))], depth + 1)

    def _object(self, node: _Node, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, sub in node.properties:
            if name in node.required or depth < _MAX_DEPTH - 1:
                result[name] = self.value(sub, depth + 1)
        return result

    def _array(self, node: _Node, depth: int) -> list[Any]:
        values = [self.value(sub, depth + 1) for sub in node.prefix]
        low = max(node.min_items, len(values))
        high = node.max_items if node.max_items is not None else low + 3
        if depth >= _MAX_DEPTH:
            high = low
        count = self.rng.randint(low, max(low, high))
        item = node.items
        while len(values) < count:
            values.append(self.value(item, depth + 1) if item is not None else self._word())
        return values

    def _word(self) -> str:
        return _WORDS[self.rng.randrange(len(_WORDS))]

    def _string(self, node: _Node) -> str:
        if node.fmt in _FORMATS:
            return _FORMATS[node.fmt]
        text = " ".join(self._word() for _ in range(self.rng.randint(1, 4)))
        if len(text) < node.min_length:
            text = (text + " ") * (node.min_length // (len(text) + 1) + 1)
        return text if node.max_length is None else text[: node.max_length]

    def _number(self, node: _Node, kind: str) -> int | float:
        low_open, high_open = node.exclusive
        low = node.minimum if node.minimum is not None else 0.0
        high = node.maximum if node.maximum is not None else max(low, 0.0) + 100.0
        if kind == "integer":
            first = math.floor(low) + 1 if low_open else math.ceil(low)
            last = math.ceil(high) - 1 if high_open else math.floor(high)
            return self.rng.randint(first, max(first, last))
        value = round(self.rng.uniform(low, high), 2)
        if value <= low and (low_open or value < low):
            value = low + (high - low) / 2 if high > low else low
        if value >= high and (high_open or value > high):
            value = low + (high - low) / 2
        return value
