"""Small inline-SVG charts for the HTML report: line charts and a histogram.

Hand-written SVG keeps the report a single file that works offline, with no JavaScript
library to vendor. Every chart has a ``<title>`` and ``<desc>`` (screen readers), axis
labels, and a ``<title>`` on each point or bar so hovering shows the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import count

__all__ = ["Series", "histogram", "line_chart", "nice_ticks"]

WIDTH, HEIGHT = 540, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 26, 30, 44
COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706")
MAX_MARKERS = 120  # beyond this many points a series is drawn without markers

Fmt = Callable[[float], str]
_ids = count()


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its label and ``(x, y)`` points."""

    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, target)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value < hi + step * 0.5:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


class _Frame:
    """Maps data to pixels and draws the axes of one chart."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], *, y_zero: bool = True) -> None:
        x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        y_lo = 0.0 if y_zero or not ys else min(ys)
        y_hi = max(ys) if ys else 1.0
        if x_hi <= x_lo:
            x_hi = x_lo + 1.0
        # x spans the data exactly (time, tasks); y starts at a round value (or zero)
        self.xticks = [t for t in nice_ticks(x_lo, x_hi) if x_lo <= t <= x_hi]
        self.yticks = nice_ticks(y_lo, y_hi)
        self.x0, self.x1 = x_lo, x_hi
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]

    def px(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return LEFT + (x - self.x0) / span * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return HEIGHT - BOTTOM - (y - self.y0) / span * (HEIGHT - TOP - BOTTOM)

    def axes(self, x_label: str, y_label: str, x_fmt: Fmt, y_fmt: Fmt) -> list[str]:
        out = ['<g class="axes">']
        for y in self.yticks:
            py = self.py(y)
            out.append(
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}"/>'
                f'<text class="tick" x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">'
                f"{escape(y_fmt(y)) if y else '0'}</text>"
            )
        for x in self.xticks:
            px = self.px(x)
            out.append(
                f'<line class="tickmark" x1="{px:.1f}" x2="{px:.1f}" y1="{HEIGHT - BOTTOM}" '
                f'y2="{HEIGHT - BOTTOM + 4}"/><text class="tick" x="{px:.1f}" '
                f'y="{HEIGHT - BOTTOM + 17}" text-anchor="middle">'
                f"{escape(x_fmt(x)) if x else '0'}</text>"
            )
        out.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
            f'y2="{HEIGHT - BOTTOM}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" '
            f'y2="{HEIGHT - BOTTOM}"/>'
            f'<text class="label" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="label" transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2:.0f}) '
            f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text></g>'
        )
        return out


def _open(title: str, desc: str, kind: str) -> list[str]:
    uid = f"chart{next(_ids)}"
    return [
        f'<svg class="chart {kind}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{uid}-t {uid}-d" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>',
    ]


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    x_fmt: Fmt = lambda v: f"{v:g}",
    y_fmt: Fmt = lambda v: f"{v:g}",
    desc: str = "",
) -> str:
    """A line chart of one or more series, with a legend when there are several."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if math.isfinite(y)]
    frame = _Frame(xs, ys)
    out = _open(title, desc or f"{y_label} against {x_label}", "line")
    out += frame.axes(x_label, y_label, x_fmt, y_fmt)
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = [(x, y) for x, y in s.points if math.isfinite(y)]
        path = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<g class="series" data-label="{escape(s.label)}"><polyline fill="none" '
            f'stroke="{color}" stroke-width="2"{dash} points="{path}"/>'
        )
        if len(pts) <= MAX_MARKERS:
            for x, y in pts:
                out.append(
                    f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3" '
                    f'fill="{color}" data-x="{x!r}" data-y="{y!r}"><title>'
                    f"{escape(s.label)}: {escape(y_fmt(y))} at {escape(x_fmt(x))}"
                    "</title></circle>"
                )
        out.append("</g>")
    if len(series) > 1:
        for i, s in enumerate(series):
            x = LEFT + 8 + i * 130
            color = COLORS[i % len(COLORS)]
            out.append(
                f'<g class="legend"><rect x="{x}" y="8" width="14" height="4" fill="{color}"/>'
                f'<text x="{x + 18}" y="14">{escape(s.label)}</text></g>'
            )
    out.append("</svg>")
    return "".join(out)


def histogram(
    title: str,
    values: Sequence[float],
    *,
    x_label: str,
    x_fmt: Fmt,
    bins: int = 30,
    clip_quantile: float = 0.99,
    markers: Sequence[tuple[str, float]] = (),
    desc: str = "",
) -> str:
    """A histogram of ``values``; values above the ``clip_quantile`` go in a last "more" bar.

    ``markers`` draws labelled vertical lines (e.g. the p50 and p95).
    """
    xs = sorted(v for v in values if math.isfinite(v))
    if not xs:
        return ""
    lo = xs[0]
    hi = xs[min(len(xs) - 1, math.ceil(clip_quantile * (len(xs) - 1)))]
    hi = hi if hi > lo else lo + (abs(lo) or 1.0)
    width = (hi - lo) / bins
    counts = [0] * bins
    overflow = 0
    for v in xs:
        if v > hi:
            overflow += 1
        else:
            counts[min(bins - 1, int((v - lo) / width))] += 1
    frame = _Frame([lo, hi], [float(c) for c in counts])
    out = _open(title, desc or f"distribution of {len(xs)} values", "histogram")
    out += frame.axes(x_label, "requests", x_fmt, lambda v: f"{v:g}")
    for i, c in enumerate(counts):
        a, b = lo + i * width, lo + (i + 1) * width
        x0, x1, y = frame.px(a), frame.px(b), frame.py(c)
        out.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{max(0.5, x1 - x0 - 1):.1f}" '
            f'height="{frame.py(0) - y:.1f}" data-count="{c}"><title>{c} requests in '
            f"{escape(x_fmt(a))} to {escape(x_fmt(b))}</title></rect>"
        )
    for i, (label, value) in enumerate(markers):
        if lo <= value <= hi:
            px = frame.px(value)
            out.append(
                f'<g class="marker"><line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" '
                f'y2="{HEIGHT - BOTTOM}" stroke="{COLORS[(i + 1) % len(COLORS)]}" '
                f'stroke-dasharray="4 3"/><text x="{px + 3:.1f}" y="{TOP + 10 + 12 * i}">'
                f"{escape(label)} {escape(x_fmt(value))}</text></g>"
            )
    if overflow:
        out.append(
            f'<text class="note" x="{WIDTH - RIGHT}" y="{TOP - 8}" text-anchor="end">'
            f"{overflow} slower than {escape(x_fmt(hi))} not shown</text>"
        )
    out.append("</svg>")
    return "".join(out)
