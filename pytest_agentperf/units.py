"""Parsing and formatting of quantities with units.

Every value a user types -- in a marker, ``budget()``, pyproject, a latency model -- goes
through one of the ``parse_*`` functions here, so the accepted spellings and the error
messages are the same everywhere. Parsers return SI base units: seconds, bytes, tasks per
second, fractions. ``where`` names the place the value came from, for the error message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pytest_agentperf.errors import UnitError

__all__ = [
    "Bound",
    "duration_hint",
    "format_bytes",
    "format_count",
    "format_duration",
    "format_fraction",
    "format_money",
    "format_rate",
    "money_currency",
    "parse_bound",
    "parse_bytes",
    "parse_count",
    "parse_duration",
    "parse_fraction",
    "parse_money",
    "parse_rate",
    "parse_ratio",
    "parse_token_rate",
]

Op = Literal["<=", ">=", "<", ">"]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[A-Za-zµ%/]*)\s*$")
_BOUND = re.compile(r"^\s*(?P<op><=|>=|<|>|=<|=>)?\s*(?P<rest>.*)$")

_DURATION_UNITS = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
    "min": 60.0,
}
# "5m" could be minutes or a slip for "5ms"; it is refused with a hint rather than guessed.
_AMBIGUOUS_DURATION_UNITS = {"m": "'min' for minutes or 'ms' for milliseconds"}
# Memory budgets are in binary units; "MB" means MiB, as in every memory tool users know.
_BYTE_UNITS = {
    "": 1.0,
    "b": 1.0,
    "kb": 1024.0,
    "kib": 1024.0,
    "k": 1024.0,
    "mb": 1024.0**2,
    "mib": 1024.0**2,
    "m": 1024.0**2,
    "gb": 1024.0**3,
    "gib": 1024.0**3,
    "g": 1024.0**3,
}
_RATE_UNITS = {"": 1.0, "/s": 1.0, "/sec": 1.0, "rps": 1.0, "/min": 1 / 60.0, "rpm": 1 / 60.0}

DURATION_HELP = "a duration such as '150ms', '2s', '500us' or a number of seconds"
BYTES_HELP = "a size such as '2MB', '512KB', '1GiB' or a number of bytes"
RATE_HELP = "a rate such as '400/s', '1200/min' or a number of tasks per second"
FRACTION_HELP = "a fraction such as '1%', '0.5%' or a number between 0 and 1"
RATIO_HELP = "a ratio such as '90%', 0.9 or 1.2 (a number >= 0)"
COUNT_HELP = "a count such as 2, 3k (3,000), 1.5M (1,500,000) or 0.5 (a mean per task)"
MONEY_HELP = (
    "an amount such as '$0.002', '0.002 USD', '€0.01' or a number in the price table's currency"
)
TOKEN_RATE_HELP = "a rate such as '50/s' or a number of tokens per second"

_COUNT_UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}
#: Currency symbols a cost limit may start with, and the ISO code each stands for.
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_MONEY = re.compile(rf"^\s*(?P<sym>[$€£¥₹]?)\s*(?P<num>{_NUMBER})\s*(?P<code>[A-Za-z]{{3}})?\s*$")


def _fail(value: object, where: str, accepted: str) -> UnitError:
    place = f" in {where}" if where else ""
    return UnitError(f"{value!r}{place} is not {accepted}.")


def _split(value: str, where: str, accepted: str) -> tuple[float, str]:
    match = _QUANTITY.match(value)
    if match is None:
        raise _fail(value, where, accepted)
    return float(match["num"]), match["unit"]


def _finite_non_negative(number: float, value: object, where: str, accepted: str) -> float:
    if not math.isfinite(number) or number < 0:
        raise _fail(value, where, accepted)
    return number


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def parse_duration(value: str | float, where: str = "") -> float:
    """Return ``value`` in seconds. Numbers are seconds; strings may carry s/ms/us/ns/min.

    ``m`` is refused as ambiguous (minutes, or a slip for ``ms``?): write ``min`` or ``ms``.
    """
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, DURATION_HELP)
        number, unit = _split(value, where, DURATION_HELP)
        scale = _DURATION_UNITS.get(unit)
        if scale is None:
            raise _fail(value, where, DURATION_HELP + duration_hint(value))
        number *= scale
    return _finite_non_negative(number, value, where, DURATION_HELP)


def duration_hint(value: object) -> str:
    """`` ('m' is ambiguous: ...)`` when ``value`` (a duration, maybe with an operator) ends
    in a unit that is refused as ambiguous; else ``""``. For error messages."""
    if not isinstance(value, str):
        return ""
    bound = _BOUND.match(value)
    quantity = _QUANTITY.match(bound["rest"] if bound else value)
    unit = quantity["unit"] if quantity else ""
    hint = _AMBIGUOUS_DURATION_UNITS.get(unit)
    return f" ({unit!r} is ambiguous: write {hint})" if hint else ""


def parse_bytes(value: str | float, where: str = "", *, number_unit: float = 1.0) -> float:
    """Return ``value`` in bytes. Plain numbers are multiplied by ``number_unit``.

    ``number_unit=1024**2`` makes a plain number mean MiB (``memory_growth(max_mb=2)``).
    """
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, BYTES_HELP)
        number, unit = _split(value, where, BYTES_HELP)
        scale = _BYTE_UNITS.get(unit.lower()) if unit else number_unit
        if scale is None:
            raise _fail(value, where, BYTES_HELP)
        number *= scale
    else:
        number *= number_unit
    return _finite_non_negative(number, value, where, BYTES_HELP)


def parse_rate(value: str | float, where: str = "") -> float:
    """Return ``value`` in tasks per second."""
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, RATE_HELP)
        number, unit = _split(value, where, RATE_HELP)
        scale = _RATE_UNITS.get(unit.lower())
        if scale is None:
            raise _fail(value, where, RATE_HELP)
        number *= scale
    return _finite_non_negative(number, value, where, RATE_HELP)


def parse_ratio(value: str | float, where: str = "") -> float:
    """Return ``value`` as a non-negative ratio; ``"90%"`` is 0.9, ``1.2`` is 1.2.

    For figures that may exceed 1 (efficiency: an agent can beat the latency it was given).
    """
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, RATIO_HELP)
        number, unit = _split(value, where, RATIO_HELP)
        if unit == "%":
            number /= 100.0
        elif unit:
            raise _fail(value, where, RATIO_HELP)
    return _finite_non_negative(number, value, where, RATIO_HELP)


def parse_fraction(value: str | float, where: str = "") -> float:
    """Return ``value`` as a fraction in [0, 1]; ``"1%"`` is 0.01, ``0.01`` is 0.01."""
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, FRACTION_HELP)
        number, unit = _split(value, where, FRACTION_HELP)
        if unit == "%":
            number /= 100.0
        elif unit:
            raise _fail(value, where, FRACTION_HELP)
    if not 0.0 <= number <= 1.0:
        raise _fail(value, where, FRACTION_HELP)
    return number


def parse_count(value: str | float, where: str = "") -> float:
    """Return ``value`` as a count: ``"3k"`` is 3,000, ``"1.5M"`` 1,500,000, ``2`` is 2.

    Fractions are accepted (a limit on a mean per task: ``"1.5"`` calls per task);
    ``"3kk"`` and other suffixes are refused.
    """
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, COUNT_HELP)
        number, unit = _split(value, where, COUNT_HELP)
        scale = _COUNT_UNITS.get(unit)
        if scale is None:
            raise _fail(value, where, COUNT_HELP)
        number *= scale
    return _finite_non_negative(number, value, where, COUNT_HELP)


def money_currency(value: object) -> str | None:
    """The currency a cost limit names (``"$0.002"`` -> ``"USD"``), ``None`` for a bare number.

    ``value`` may carry an operator (``"<= $0.002"``); text that is not an amount gives ``None``.
    """
    if not isinstance(value, str):
        return None
    bound = _BOUND.match(value)
    match = _MONEY.match(bound["rest"] if bound else value)
    if match is None:
        return None
    symbol, code = match["sym"], match["code"]
    if symbol and code and CURRENCY_SYMBOLS[symbol] != code.upper():
        return f"{CURRENCY_SYMBOLS[symbol]}/{code.upper()}"  # contradictory: never a table's
    return CURRENCY_SYMBOLS[symbol] if symbol else (code.upper() if code else None)


def parse_money(value: str | float, where: str = "") -> float:
    """Return an amount of money: ``"$0.002"``, ``"0.002 USD"``, ``"€0.01"`` or a number.

    Which currency the text names is :func:`money_currency`'s business (checked against
    the price table by the plugin); here only the amount is read.
    """
    number = _number(value)
    if number is None:
        if not isinstance(value, str):
            raise _fail(value, where, MONEY_HELP)
        match = _MONEY.match(value)
        if match is None or "/" in (money_currency(value) or ""):
            raise _fail(value, where, MONEY_HELP)
        number = float(match["num"])
    return _finite_non_negative(number, value, where, MONEY_HELP)


def parse_token_rate(value: str | float, where: str = "") -> float:
    """Return ``value`` in tokens per second (``"50/s"``, ``"3000/min"`` or a number)."""
    try:
        return parse_rate(value, where)
    except UnitError:
        raise _fail(value, where, TOKEN_RATE_HELP) from None


@dataclass(frozen=True, slots=True)
class Bound:
    """A limit on a metric: ``measured <op> limit`` must hold."""

    op: Op
    limit: float

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` satisfies the bound."""
        if self.op == "<=":
            return measured <= self.limit
        if self.op == "<":
            return measured < self.limit
        if self.op == ">=":
            return measured >= self.limit
        return measured > self.limit

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


def parse_bound(
    value: str | float,
    parse: Callable[[str | float, str], float],
    default_op: Op,
    where: str = "",
) -> Bound:
    """Parse ``">= 400/s"``, ``"<= 150ms"`` or a bare value into a :class:`Bound`.

    ``parse`` is one of the ``parse_*`` functions, used for the part after the operator.
    A bare value takes ``default_op`` (``<=`` for latencies, ``>=`` for throughput).
    """
    if isinstance(value, str):
        match = _BOUND.match(value)
        op_text = match["op"] if match else None
        rest = match["rest"] if match else value
        op: Op = default_op
        if op_text:
            op = {"=<": "<=", "=>": ">="}.get(op_text, op_text)  # type: ignore[assignment]
        try:
            limit = parse(rest, where)
        except UnitError:
            accepted = f"a limit such as '{default_op} <value>' with {_HELP.get(parse, 'a number')}"
            raise _fail(value, where, accepted) from None
        return Bound(op, limit)
    return Bound(default_op, parse(value, where))


_HELP: dict[Callable[[str | float, str], float], str] = {
    parse_duration: DURATION_HELP,
    parse_bytes: BYTES_HELP,
    parse_rate: RATE_HELP,
    parse_fraction: FRACTION_HELP,
    parse_ratio: RATIO_HELP,
    parse_count: COUNT_HELP,
    parse_money: MONEY_HELP,
    parse_token_rate: TOKEN_RATE_HELP,
}


def format_duration(seconds: float | None) -> str:
    """``0.0123`` -> ``'12.3ms'``; chooses the unit a person would."""
    if seconds is None or math.isnan(seconds):
        return "-"
    magnitude = abs(seconds)
    if magnitude >= 1.0:
        return f"{seconds:.2f}s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.1f}ms"
    if magnitude >= 1e-6 or magnitude == 0.0:
        return f"{seconds * 1e6:.0f}µs"
    return f"{seconds * 1e9:.0f}ns"


def format_bytes(n: float | None) -> str:
    """``2_500_000`` -> ``'2.4MiB'``; keeps the sign, so growth can be negative."""
    if n is None or math.isnan(n):
        return "-"
    magnitude = abs(n)
    for unit, scale in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if magnitude >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}B"


def format_rate(per_second: float | None) -> str:
    """``1234.5`` -> ``'1,234/s'``."""
    if per_second is None or math.isnan(per_second):
        return "-"
    if per_second >= 100:
        return f"{per_second:,.0f}/s"
    return f"{per_second:.1f}/s"


def format_fraction(fraction: float | None) -> str:
    """``0.0123`` -> ``'1.23%'``."""
    if fraction is None or math.isnan(fraction):
        return "-"
    return f"{fraction * 100:.2f}%"


def format_count(value: float | None) -> str:
    """``2`` -> ``'2'``, ``1.5`` -> ``'1.50'``, ``3400`` -> ``'3,400'``, ``2.5e6`` -> ``'2.50M'``"""
    if value is None or math.isnan(value):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.2f}"


def format_money(value: float | None, currency: str = "") -> str:
    """``0.0021345`` -> ``'0.002135'`` (four significant digits), with ``currency`` before it."""
    if value is None or math.isnan(value):
        return "-"
    symbol = next((s for s, code in CURRENCY_SYMBOLS.items() if code == currency), "")
    prefix = symbol or (f"{currency} " if currency else "")
    if value == 0:
        return f"{prefix}0"
    if abs(value) >= 1:
        return f"{prefix}{value:,.2f}"
    digits = 3 - math.floor(math.log10(abs(value)))  # four significant digits
    return f"{prefix}{value:.{digits}f}".rstrip("0")
