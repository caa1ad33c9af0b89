"""The schema-driven generator: every value it makes validates; bad schemas name the path."""

from __future__ import annotations

import random
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal
from uuid import UUID

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from pytest_agentperf.mockllm.schema import SchemaError, compile_schema, generate

LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.builds(
        lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
        st.integers(-50, 50),
        st.integers(0, 20),
    ),
    st.builds(
        lambda low, span: {"type": "number", "exclusiveMinimum": low, "maximum": low + span},
        st.floats(-5, 5, allow_nan=False),
        st.floats(0.5, 10, allow_nan=False),
    ),
    st.builds(
        lambda low, span: {"type": "string", "minLength": low, "maxLength": low + span},
        st.integers(0, 30),
        st.integers(0, 10),
    ),
    st.lists(st.sampled_from(["a", "b", 1, None]), min_size=1, max_size=3, unique=True).map(
        lambda values: {"enum": values}
    ),
    st.sampled_from(["date-time", "date", "email", "uuid", "uri"]).map(
        lambda fmt: {"type": "string", "format": fmt}
    ),
)


def _object(children: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": children,
        "required": [name for name in required if name in children],
        "additionalProperties": False,
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if not isinstance(kind, str) or kind == "null":
        return schema
    return {**schema, "type": [kind, "null"]}


SCHEMAS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(
            _object,
            st.dictionaries(st.sampled_from("abcdef"), inner, max_size=4),
            st.lists(st.sampled_from("abcdef"), unique=True),
        ),
        st.builds(
            lambda items, low: {"type": "array", "items": items, "minItems": low},
            inner,
            st.integers(0, 3),
        ),
        st.lists(inner, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
        inner.map(_nullable),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_generated_values_validate(schema: dict[str, Any], seed: int) -> None:
    node = compile_schema(schema, "schema")
    rng = random.Random(seed)
    for _ in range(3):
        jsonschema.validate(generate(node, rng), schema, format_checker=jsonschema.FormatChecker())


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Line(BaseModel):
    sku: str = Field(min_length=3, max_length=8)
    quantity: int = Field(gt=0, lt=10)
    price: float = Field(ge=0.01, le=99.5)


class Tree(BaseModel):
    name: str
    children: list[Tree] = []


class Order(BaseModel):
    kind: Literal["refund", "exchange"]
    colour: Colour
    placed: datetime
    due: date | None
    ref: UUID
    lines: list[Line] = Field(min_length=1, max_length=3)
    notes: dict[str, str] = {}
    tree: Tree


@pytest.mark.parametrize("model", [Order, Line, Tree])
def test_pydantic_models_validate(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    node = compile_schema(schema, "schema")
    rng = random.Random(7)
    for _ in range(100):
        model.model_validate(generate(node, rng))


def test_the_same_seed_gives_the_same_values() -> None:
    node = compile_schema(Order.model_json_schema(), "schema")
    first = [generate(node, random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    assert generate(node, random.Random(4)) != first[0]


def test_property_order_follows_the_schema() -> None:
    node = compile_schema(Line.model_json_schema(), "schema")
    assert list(generate(node, random.Random(1))) == ["sku", "quantity", "price"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "strng"}, 'text.format.schema.type="strng" is not a JSON Schema type'),
        ({"properties": {"a": {"type": "intger"}}}, "schema.properties.a.type"),
        ({"type": "object", "required": "a"}, "schema.required must be a list"),
        ({"$ref": "#/$defs/Missing"}, "names no definition"),
        ({"$ref": "https://example.com/s.json"}, "only local references"),
        ({"anyOf": []}, "schema.anyOf must be a non-empty list"),
        ({"enum": "abc"}, "schema.enum must be a non-empty list"),
        ({"type": "array", "minItems": 3, "maxItems": 1}, "maxItems is below minItems"),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "maximum is below minimum"),
        ({"type": "number", "minimum": "1"}, 'schema.minimum="1" must be a number'),
        (["not", "a", "schema"], "must be a JSON Schema object"),
    ],
)
def test_unusable_schemas_name_the_path(schema: Any, expected: str) -> None:
    with pytest.raises(SchemaError, match=None) as caught:
        compile_schema(schema, "text.format.schema")
    assert expected in str(caught.value)
