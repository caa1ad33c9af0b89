"""Units: every spelling users type, and the error they get for a bad one."""

from __future__ import annotations

import math

import pytest

from pytest_agentperf.errors import UnitError
from pytest_agentperf.units import (
    Bound,
    duration_hint,
    format_bytes,
    format_count,
    format_duration,
    format_fraction,
    format_money,
    format_rate,
    money_currency,
    parse_bound,
    parse_bytes,
    parse_count,
    parse_duration,
    parse_fraction,
    parse_money,
    parse_rate,
    parse_ratio,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("150ms", 0.15),
        ("2s", 2.0),
        ("2 s", 2.0),
        ("500us", 500e-6),
        ("500µs", 500e-6),
        ("1.5min", 90.0),
        ("10ns", 1e-8),
        (0.25, 0.25),
        (3, 3.0),
        ("1e-3", 1e-3),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("2MB", 2 * 1024**2), ("512KB", 512 * 1024), ("1GiB", 1024**3), ("100", 100.0), (64, 64.0)],
)
def test_sizes(text: str | float, nbytes: float) -> None:
    assert parse_bytes(text) == nbytes


def test_plain_number_size_takes_the_number_unit() -> None:
    assert parse_bytes(2, number_unit=1024**2) == 2 * 1024**2
    assert parse_bytes("2", number_unit=1024**2) == 2 * 1024**2
    assert parse_bytes("2KB", number_unit=1024**2) == 2048


@pytest.mark.parametrize(("text", "rate"), [("400/s", 400.0), ("1200/min", 20.0), (50, 50.0)])
def test_rates(text: str | float, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize(("text", "fraction"), [("1%", 0.01), ("0.5%", 0.005), (0.02, 0.02)])
def test_fractions(text: str | float, fraction: float) -> None:
    assert parse_fraction(text) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (parse_duration, "1O0ms"),
        (parse_duration, "150 parsecs"),
        (parse_duration, -1),
        (parse_duration, math.inf),
        (parse_duration, True),
        (parse_duration, None),
        (parse_bytes, "2 lots"),
        (parse_rate, "400/hour"),
        (parse_fraction, "150%"),
        (parse_fraction, 2),
        (parse_fraction, "1 percent"),
        (parse_duration, "5m"),
        (parse_ratio, -0.1),
        (parse_ratio, "1.2x"),
        (parse_ratio, math.nan),
    ],
)
def test_bad_values_say_what_where_and_what_is_accepted(parser: object, value: object) -> None:
    with pytest.raises(UnitError) as info:
        parser(value, "@latency(p95=...) of test_x")  # type: ignore[operator]
    message = str(info.value)
    assert repr(value) in message
    assert "@latency(p95=...) of test_x" in message
    assert "such as" in message


def test_m_is_refused_as_ambiguous_with_a_hint() -> None:
    with pytest.raises(UnitError) as info:
        parse_duration("5m", "run(duration=...)")
    assert str(info.value) == (
        "'5m' in run(duration=...) is not a duration such as '150ms', '2s', '500us' or a number "
        "of seconds ('m' is ambiguous: write 'min' for minutes or 'ms' for milliseconds)."
    )
    assert parse_duration("5min") == 300.0
    assert duration_hint("<= 5m") == duration_hint("5 m") != ""
    assert duration_hint("5ms") == duration_hint(5) == ""


@pytest.mark.parametrize(("text", "ratio"), [("90%", 0.9), (1.2, 1.2), ("120%", 1.2), (0, 0.0)])
def test_ratios_may_exceed_one(text: str | float, ratio: float) -> None:
    assert parse_ratio(text) == pytest.approx(ratio)


def test_bounds() -> None:
    assert parse_bound(">= 400/s", parse_rate, "<=") == Bound(">=", 400.0)
    assert parse_bound("<= 150ms", parse_duration, ">=") == Bound("<=", 0.15)
    assert parse_bound("150ms", parse_duration, "<=") == Bound("<=", 0.15)
    assert parse_bound(0.2, parse_duration, "<=") == Bound("<=", 0.2)
    assert parse_bound("=> 3/s", parse_rate, "<=") == Bound(">=", 3.0)
    bound = Bound("<=", 0.15)
    assert bound.holds(0.15)
    assert not bound.holds(0.16)
    assert Bound(">", 1.0).holds(1.5)
    assert not Bound("<", 1.0).holds(1.0)


def test_bad_bound_names_the_operator_form() -> None:
    with pytest.raises(UnitError, match=r"'>= lots' in throughput\(min=\) .* '>= <value>'"):
        parse_bound(">= lots", parse_rate, ">=", "throughput(min=)")


def test_formatting() -> None:
    assert format_duration(0.0123) == "12.3ms"
    assert format_duration(2.5) == "2.50s"
    assert format_duration(42e-6) == "42µs"
    assert format_duration(None) == "-"
    assert format_bytes(2.5 * 1024**2) == "2.5MiB"
    assert format_bytes(-2048) == "-2.0KiB"
    assert format_bytes(12) == "12B"
    assert format_rate(1234.5) == "1,234/s"
    assert format_rate(12.34) == "12.3/s"
    assert format_fraction(0.0123) == "1.23%"
    assert format_fraction(float("nan")) == "-"


@pytest.mark.parametrize(
    ("text", "count"), [("3k", 3000.0), ("1.5M", 1.5e6), ("2", 2.0), (0.5, 0.5), ("40K", 4e4)]
)
def test_counts(text: str | float, count: float) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["3kk", "3 tokens", "-1", "k", True, "nan"])
def test_bad_counts_say_what_is_accepted(text: object) -> None:
    with pytest.raises(UnitError, match="is not a count such as 2, 3k"):
        parse_count(text, "budget(tokens_per_task=)")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$0.002", 0.002, "USD"),
        ("<= $0.002", None, "USD"),
        ("0.002 USD", 0.002, "USD"),
        ("0.01 eur", 0.01, "EUR"),
        ("€0.01", 0.01, "EUR"),
        ("0.5", 0.5, None),
        (0.25, 0.25, None),
    ],
)
def test_money(text: str | float, amount: float | None, currency: str | None) -> None:
    if amount is not None:
        assert parse_money(text) == amount
    assert money_currency(text) == currency


@pytest.mark.parametrize("text", ["$-1", "$0.002 EUR", "$$1", "0.002 dollars", "USD"])
def test_bad_money_says_what_is_accepted(text: str) -> None:
    with pytest.raises(UnitError, match=r"is not an amount such as '\$0.002'"):
        parse_money(text)


def test_formatting_counts_and_money() -> None:
    assert [format_count(v) for v in (2.0, 1.5, 3400.0, 2.5e6, None)] == [
        "2", "1.50", "3,400", "2.50M", "-",
    ]  # fmt: skip
    assert format_money(0.0021345, "USD") == "$0.002135"
    assert format_money(0.0000042, "USD") == "$0.0000042"
    assert format_money(12.5, "EUR") == "€12.50"
    assert format_money(0.5, "CHF") == "CHF 0.5"
    assert format_money(0.0) == "0"
