"""The evidence a comparison row weighs: the significance test, and the interval of the change.

**Significance** (one-sided, in the direction the figure moved): latency percentiles by
Mann-Whitney U on the latency reservoirs combined (Bonferroni) with a quantile test of that
percentile; mean latency by Mann-Whitney U; throughput and efficiency by Mann-Whitney U on
the per-window throughputs (with fewer than ``MIN_WINDOWS`` full windows a side, on the
latencies: Little's law); CPU per task by Mann-Whitney U on the per-window CPU per task;
the error rate by a two-proportion z-test.

**The interval.** A comparison row shows, beside the change, the 95% interval of that
change: the noise the comparison observed in the two runs' own samples, so a reader sees
why a change was or was not called (a +12% change whose interval is -3%..+27% was not
significant; one of +10%..+14% was). Each interval comes from the samples the row's
significance test uses:

- **latency percentiles**: the distribution-free order-statistic interval of each run's
  percentile, on the log scale, so that the interval is of the ratio (the quantile test's
  own standard errors);
- **mean latency**: the ratio of the two means (the delta method on the log scale);
- **throughput, efficiency**: the ratio of the mean per-window throughputs (full windows;
  with fewer than ``MIN_WINDOWS`` a side, the inverse ratio of the mean latencies);
- **CPU per task**: the ratio of the mean per-window CPU per task;
- **error rate**: the difference of the two proportions (Wald).

These intervals cover the noise *within* the runs. The difference between two machines,
or one machine in two states, is not in them: that is what the machine contrast
(:mod:`pytest_agentperf.verdict.machine`) and paired A/B rounds
(:mod:`pytest_agentperf.verdict.paired`) are for.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from pytest_agentperf.metrics import METRICS
from pytest_agentperf.result import PerfResult, WindowStats
from pytest_agentperf.verdict import significance as sig
from pytest_agentperf.verdict.significance import log_quantile_and_se

__all__ = [
    "MIN_SAMPLES",
    "MIN_WINDOWS",
    "Z95",
    "agent_cpu_significance",
    "change_interval",
    "cpu_significance",
    "full_windows",
    "ratio_interval",
    "significance",
    "window_values",
]

MIN_SAMPLES = 8  # fewer latency samples a side: the change is reported but not tested
MIN_WINDOWS = 5  # fewer full windows a side: rates are judged through latency
Z95 = 1.959963984540054  # two-sided 95% normal quantile


def full_windows(windows: Sequence[WindowStats]) -> list[WindowStats]:
    """The windows at least half as long as the typical one (drops a partial last window)."""
    lengths = sorted(w.end - w.start for w in windows)
    if not lengths:
        return []
    typical = lengths[len(lengths) // 2]
    return [w for w in windows if w.end - w.start >= 0.5 * typical]


def _rate_scale(metric: str, result: PerfResult) -> float | None:
    """Factor from a window's throughput to the metric (efficiency is proportional to it)."""
    if metric == "throughput":
        return 1.0
    if result.efficiency is None or result.throughput <= 0:
        return None
    return result.efficiency / result.throughput


def window_values(metric: str, result: PerfResult) -> list[float] | None:
    """The metric window by window (full windows only), or ``None`` when it has no series.

    Throughput and efficiency: each window's throughput (scaled to efficiency); CPU per
    task: each window's process CPU per task finished in it.
    """
    windows = full_windows(result.timeseries)
    if METRICS[metric].test == "cpu":
        values = (w.cpu_per_task for w in windows)
        return [v for v in values if v is not None]
    scale = _rate_scale(metric, result)
    return None if scale is None else [w.throughput * scale for w in windows]


def significance(
    metric: str, base: PerfResult, cur: PerfResult, *, worse: bool
) -> tuple[float, str] | None:
    """One-sided p-value that ``cur`` moved away from ``base`` (``worse`` or better)."""
    spec = METRICS[metric]
    up = (spec.better == "lower") == worse  # does the tested change go upward?
    alt: sig.Alternative = "greater" if up else "less"
    if spec.test == "proportion":
        if base.total == 0 or cur.total == 0:
            return None
        r = sig.two_proportion_test(cur.failed, cur.total, base.failed, base.total, alt)
        return r.p_value, "two-proportion z-test"
    if spec.test == "rate":
        return _rate_significance(metric, base, cur, alt)
    if spec.test == "cpu":
        return cpu_significance(base, cur, alt)
    return _latency_significance(spec.quantile, base.samples, cur.samples, alt)


def _latency_significance(
    q: float | None, base: Sequence[float], cur: Sequence[float], alt: sig.Alternative
) -> tuple[float, str] | None:
    if len(base) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
        return None
    p = sig.mann_whitney_u(cur, base, alt).p_value
    applies = q is not None and sig.quantile_test_applies(min(len(base), len(cur)), q)
    if not applies or min(base) <= 0.0 or min(cur) <= 0.0:
        return p, "Mann-Whitney U"
    assert q is not None
    pq = sig.quantile_test(cur, base, q, alt).p_value
    return min(1.0, 2.0 * min(p, pq)), f"Mann-Whitney U + p{q * 100:g} quantile test"


def _rate_significance(
    metric: str, base: PerfResult, cur: PerfResult, alt: sig.Alternative
) -> tuple[float, str] | None:
    xs, ys = window_values(metric, cur), window_values(metric, base)
    if xs is not None and ys is not None and min(len(xs), len(ys)) >= MIN_WINDOWS:
        return sig.mann_whitney_u(xs, ys, alt).p_value, "Mann-Whitney U on windows"
    # Few windows: a lower rate means longer latencies (Little's law), so test those.
    flipped: sig.Alternative = "greater" if alt == "less" else "less"
    tested = _latency_significance(None, base.samples, cur.samples, flipped)
    if tested is None:
        return None
    return tested[0], "Mann-Whitney U on latencies"


def cpu_significance(
    base: PerfResult, cur: PerfResult, alt: sig.Alternative
) -> tuple[float, str] | None:
    """CPU per task, window by window (the time series carries each window's CPU)."""
    xs, ys = window_values("cpu_per_task", cur) or [], window_values("cpu_per_task", base) or []
    if len(xs) < MIN_WINDOWS or len(ys) < MIN_WINDOWS:
        return None
    return sig.mann_whitney_u(xs, ys, alt).p_value, "Mann-Whitney U on per-window CPU"


def agent_cpu_significance(base: PerfResult, cur: PerfResult) -> float | None:
    """One-sided p-value that the agent's CPU per task rose, window by window.

    A window's agent CPU per task is its process CPU per task less the run's harness share
    (the engine, mock and monitor per task): a busy machine inflates the harness's timed
    regions more than the agent's (measured: harness +75%, agent +11% in one run), so this
    is the figure to hold a code change to. ``None``: too few windows, or no attribution.
    """
    xs, ys = window_values("cpu_per_task", cur), window_values("cpu_per_task", base)
    hx, hy = cur.harness_cpu_per_task, base.harness_cpu_per_task
    if not xs or not ys or hx is None or hy is None:
        return None
    if len(xs) < MIN_WINDOWS or len(ys) < MIN_WINDOWS:
        return None
    return sig.mann_whitney_u([x - hx for x in xs], [y - hy for y in ys], "greater").p_value


def _log_mean_and_var(values: Sequence[float]) -> tuple[float, float] | None:
    """log of the mean and the variance of that log (delta method)."""
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    if mean <= 0.0:
        return None
    return math.log(mean), statistics.variance(values) / (len(values) * mean * mean)


def _ratio_of_means(cur: Sequence[float], base: Sequence[float]) -> tuple[float, float] | None:
    c, b = _log_mean_and_var(cur), _log_mean_and_var(base)
    if c is None or b is None:
        return None
    diff, half = c[0] - b[0], Z95 * math.sqrt(c[1] + b[1])
    return math.exp(diff - half), math.exp(diff + half)


def _ratio_of_quantiles(
    cur: Sequence[float], base: Sequence[float], q: float
) -> tuple[float, float] | None:
    if len(cur) < 2 or len(base) < 2:
        return None
    xs, ys = sorted(cur), sorted(base)
    if xs[0] <= 0.0 or ys[0] <= 0.0:
        return None
    (qx, sx), (qy, sy) = log_quantile_and_se(xs, q), log_quantile_and_se(ys, q)
    diff, half = qx - qy, Z95 * math.hypot(sx, sy)
    return math.exp(diff - half), math.exp(diff + half)


def ratio_interval(metric: str, base: PerfResult, cur: PerfResult) -> tuple[float, float] | None:
    """The 95% interval of ``current / baseline`` for a latency, rate or CPU metric."""
    spec = METRICS[metric]
    if spec.test == "latency":
        if spec.quantile is None:
            return _ratio_of_means(cur.samples, base.samples)
        return _ratio_of_quantiles(cur.samples, base.samples, spec.quantile)
    if spec.test in ("rate", "cpu"):
        xs, ys = window_values(metric, cur), window_values(metric, base)
        if xs is not None and ys is not None and min(len(xs), len(ys)) >= MIN_WINDOWS:
            return _ratio_of_means(xs, ys)
        if spec.test == "cpu":
            return None
        latency = _ratio_of_means(cur.samples, base.samples)  # Little's law: the inverse
        return None if latency is None else (1.0 / latency[1], 1.0 / latency[0])
    return None


def _proportion_interval(base: PerfResult, cur: PerfResult) -> tuple[float, float] | None:
    if base.total == 0 or cur.total == 0:
        return None
    pb, pc = base.failed / base.total, cur.failed / cur.total
    se = math.sqrt(pb * (1 - pb) / base.total + pc * (1 - pc) / cur.total)
    return pc - pb - Z95 * se, pc - pb + Z95 * se


def change_interval(
    metric: str, base: PerfResult, cur: PerfResult, *, relative: bool
) -> tuple[float, float] | None:
    """The 95% interval of the change, in a rule's terms (relative or absolute)."""
    b = METRICS[metric].value(base)
    if b is None:
        return None
    if METRICS[metric].test == "proportion":
        diff = _proportion_interval(base, cur)
        if diff is None or not relative:
            return diff
        return None if b == 0 else (diff[0] / b, diff[1] / b)
    ratio = ratio_interval(metric, base, cur)
    if ratio is None:
        return None
    if relative:
        return ratio[0] - 1.0, ratio[1] - 1.0
    return b * (ratio[0] - 1.0), b * (ratio[1] - 1.0)
