"""Least-squares growth fit with a t-distribution confidence interval (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["SlopeFit", "fit_slope", "t_quantile"]


@dataclass(frozen=True, slots=True)
class SlopeFit:
    """An ordinary least-squares line ``y = intercept + slope * x`` and its slope interval.

    ``ci`` is the two-sided confidence interval of the slope; it is ``(-inf, inf)`` when the
    points cannot tell (fewer than three, or all at the same ``x``).
    """

    slope: float
    intercept: float
    ci: tuple[float, float]
    points: int
    r2: float

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies above zero (a significant *positive* slope)."""
        return self.ci[0] > 0.0


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom.

    Exact for one and two degrees of freedom; beyond, the Cornish-Fisher expansion around
    the normal quantile (within 0.1% of the tabulated values for ``df >= 3`` at 95%).
    """
    if not 0.0 < p < 1.0 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p!r}, df={df!r}")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def fit_slope(xs: Sequence[float], ys: Sequence[float], confidence: float = 0.95) -> SlopeFit:
    """Fit ``ys`` against ``xs`` by least squares; the slope's interval uses t(n - 2)."""
    if len(xs) != len(ys):
        raise ValueError(f"fit_slope needs as many x as y values ({len(xs)} != {len(ys)})")
    n = len(xs)
    if n == 0:
        return SlopeFit(0.0, 0.0, (-math.inf, math.inf), 0, 0.0)
    mean_x = math.fsum(xs) / n
    mean_y = math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    if n < 2 or sxx == 0.0:
        return SlopeFit(0.0, mean_y, (-math.inf, math.inf), n, 0.0)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    sse = max(syy - slope * sxy, 0.0)
    r2 = 1.0 - sse / syy if syy > 0.0 else 1.0
    if n < 3:
        return SlopeFit(slope, intercept, (-math.inf, math.inf), n, r2)
    stderr = math.sqrt(sse / (n - 2) / sxx)
    half = t_quantile(0.5 + confidence / 2.0, n - 2) * stderr
    return SlopeFit(slope, intercept, (slope - half, slope + half), n, r2)
