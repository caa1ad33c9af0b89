"""The price table (``[tool.agentperf.prices]``) and the checks of cost budgets against it.

The project ships no price: a model's price is the user's to state, per million tokens,
in one currency::

    [tool.agentperf.prices]
    currency = "USD"
    "gpt-4o-mini" = { input = 0.15, output = 0.60 }
    "claude-*" = { input = 3.0, output = 15.0 }   # a pattern: any model it matches

A model the mock serves that the table does not price leaves the cost unmeasured (the
result names it, and a cost budget fails saying so); that cannot be known before the run.
Everything else is checked before any test runs: an entry that is not a table of
``input`` and ``output``, a negative or non-numeric price, a missing or malformed
currency, and a cost budget in another currency or with no table at all.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_agentperf.errors import BudgetConfigError
from pytest_agentperf.spend import ModelPrice, Prices
from pytest_agentperf.verdict.budgets import Budget

__all__ = ["PRICES_HELP", "check_cost_budgets", "parse_prices", "read_prices"]

PRICES_HELP = (
    "write it as '[tool.agentperf.prices]' with 'currency = \"USD\"' (a three-letter code) and "
    "one line per model, 'MODEL = { input = 0.15, output = 0.60 }' (prices per million "
    "tokens, numbers >= 0; a MODEL with '*' matches many models)"
)
_CODE = re.compile(r"^[A-Z]{3}$")
_PRICE_KEYS = ("input", "output")


def _bad(where: str, problem: str) -> BudgetConfigError:
    return BudgetConfigError(f"{where}: {problem}; {PRICES_HELP}.")


def _price(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where, f"{value!r} is not a price")
    if not math.isfinite(value) or value < 0:
        raise _bad(where, f"{value!r} is not a price (it must be a number >= 0)")
    return float(value)


def _model(name: str, entry: object, where: str) -> ModelPrice:
    place = f"{where} {name!r}"
    if not isinstance(entry, Mapping):
        raise _bad(place, f"{entry!r} is not a table of input and output prices")
    unknown = sorted(set(entry) - set(_PRICE_KEYS))
    if unknown:
        raise _bad(
            place, f"unknown key(s) {', '.join(map(repr, unknown))} (accepted: input, output)"
        )
    missing = [key for key in _PRICE_KEYS if key not in entry]
    if missing:
        raise _bad(place, f"no {' and no '.join(missing)} price")
    return ModelPrice(
        _price(entry["input"], f"{place} input"), _price(entry["output"], f"{place} output")
    )


def parse_prices(table: object, where: str) -> Prices:
    """A price table from its TOML (or dict) form; :class:`BudgetConfigError` naming ``where``."""
    if not isinstance(table, Mapping):
        raise _bad(where, f"{table!r:.60} is not a table")
    currency = table.get("currency")
    if not isinstance(currency, str) or not _CODE.match(currency):
        got = "no currency" if currency is None else f"currency = {currency!r} is not a code"
        raise _bad(where, f"{got} (accepted: a three-letter code such as 'USD' or 'EUR')")
    models = {
        str(name): _model(str(name), entry, where)
        for name, entry in table.items()
        if name != "currency"
    }
    if not models:
        raise _bad(where, "no model is priced")
    return Prices(currency, models)


def read_prices(path: Path) -> Prices | None:
    """``[tool.agentperf.prices]`` of the pyproject.toml at ``path``, or ``None`` if absent."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise BudgetConfigError(f"{path}: not valid TOML: {exc}") from exc
    section: Any = data.get("tool", {}).get("agentperf", {})
    if not isinstance(section, dict) or "prices" not in section:
        return None
    return parse_prices(section["prices"], f"{path}: [tool.agentperf.prices]")


def check_cost_budgets(budgets: Iterable[tuple[str, Budget]], prices: Prices | None) -> None:
    """Every cost budget (``(where, budget)``) needs a table, in the table's currency."""
    for where, item in budgets:
        if item.metric != "cost_per_task":
            continue
        if prices is None:
            raise BudgetConfigError(
                f"{where}: a cost budget ({item.describe()}) needs a price table, and there "
                f"is none: add [tool.agentperf.prices] to the rootdir's pyproject.toml; "
                f"{PRICES_HELP}."
            )
        if item.currency is not None and item.currency != prices.currency:
            raise BudgetConfigError(
                f"{where}: the cost budget is in {item.currency}, but the price table "
                f"[tool.agentperf.prices] is in {prices.currency}; write the limit in "
                f"{prices.currency} (e.g. '<= 0.002 {prices.currency}') or as a plain number."
            )
