"""Inline SVG charts, drawn in Python: a series' image counts over time, and sparklines.

What a chart promises a reader:

- a line joins consecutive valid checks only; a failed check breaks the line and is a red
  tick in the strip under the plot (with its status and reason as a tooltip), never a zero;
- a stretch with no check at all for more than two of the source's intervals (its
  ``every``; for a source no longer configured, the median time between its checks)
  breaks the line too and is shaded in a dashed frame, its dates as a tooltip
  (``axis.silences``): a silence is not a straight line;
- the time axis has dated ticks at round moments (at least four, ``axis.time_ticks``) and
  the count axis a title;
- a positive "no results" is a real zero, drawn as a hollow point on the zero line;
- checks excluded as part of an engine incident are grey and not joined;
- episodes are shaded (drops red, partial restorations orange, unhealthy sources grey) with
  their frozen baseline dashed; alerts are marked by a flag and a vertical line;
- every series of a person shares the time axis (``t0``..``t1``), so panels line up.

Elements carry ``data-`` attributes (snapshot, episode, alert ids) so tests can read them.

Safety contract: a chart is the one piece of markup written by hand, so it is returned as
``markupsafe.Markup`` (a template prints it as is) only after every text in it has gone
through ``esc``: labels, tooltips (engine statuses and reasons), and the event, kind and
state names that become class names. Numbers and ids are formatted by this module. A chart
holds no link and loads nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup

from monitor.report.data import CheckPoint, SeriesView
from monitor.report.marks import EpisodeSpan
from monitor.web.axis import silences, tick_label, time_ticks
from monitor.web.markup import esc, fmt_num, fmt_time

WIDTH, HEIGHT = 760, 160
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 16, 34
MAX_DOTS = 400  # beyond this, dots (and their tooltips) would only add weight


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= value:
            return float(step * exp)
    return float(10 * exp)


class _Scale:
    def __init__(self, t0: datetime, t1: datetime, ymax: float) -> None:
        self.t0, self.t1, self.ymax = t0, t1, ymax
        self.x0, self.x1 = LEFT, WIDTH - RIGHT
        self.y0, self.y1 = HEIGHT - BOTTOM, TOP  # bottom and top of the plot

    def x(self, t: datetime) -> float:
        span = (self.t1 - self.t0).total_seconds()
        if span <= 0:
            return (self.x0 + self.x1) / 2
        frac = (t - self.t0).total_seconds() / span
        return round(self.x0 + min(max(frac, 0.0), 1.0) * (self.x1 - self.x0), 1)

    def y(self, v: float) -> float:
        return round(self.y0 - (v / self.ymax) * (self.y0 - self.y1), 1)


def _segments(
    points: Sequence[CheckPoint], interval: timedelta | None = None
) -> list[list[CheckPoint]]:
    """Runs of consecutive valid, non-excluded checks: a failure, an exclusion or a silence
    (no check for more than two ``interval``s) cuts."""
    cuts = {end for _, end in silences(points, interval)}
    runs: list[list[CheckPoint]] = [[]]
    for p in points:
        if p.t in cuts and runs[-1]:
            runs.append([])
        if p.failed or p.excluded or p.count is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(p)
    return [r for r in runs if r]


def _check_tip(p: CheckPoint) -> str:
    if p.failed:
        return f"{fmt_time(p.t)}: {p.status}" + (f" — {p.reason}" if p.reason else "")
    what = "no results (0)" if p.status == "no_results" else f"{p.count} images"
    note = " (engine incident: excluded)" if p.excluded else ""
    return f"{fmt_time(p.t)}: {what}{note}"


def _time_axis(sc: _Scale) -> str:
    """Dated ticks with a light vertical grid line each (``axis.time_ticks``)."""
    ticks, step = time_ticks(sc.t0, sc.t1)
    out = []
    for i, t in enumerate(ticks):
        x = sc.x(t)
        anchor = "start" if x - sc.x0 < 30 else "end" if sc.x1 - x < 30 else "middle"
        if i:
            out.append(f'<line class="vgrid" x1="{x}" x2="{x}" y1="{sc.y1}" y2="{sc.y0}"/>')
        out.append(
            f'<text class="axis tick" x="{x}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
            f'data-t="{t.isoformat()}">{esc(tick_label(t, step))}</text>'
        )
    return "".join(out)


def _silence(start: datetime, end: datetime, sc: _Scale) -> str:
    x0, x1 = sc.x(start), sc.x(end)
    tip = f"no check from {fmt_time(start)} to {fmt_time(end)}"
    return (
        f'<rect class="silence" x="{x0}" y="{sc.y1}" width="{round(max(x1 - x0, 1.0), 1)}" '
        f'height="{sc.y0 - sc.y1}"><title>{esc(tip)}</title></rect>'
    )


def _y_title(sc: _Scale) -> str:
    y = (sc.y0 + sc.y1) / 2
    return (
        f'<text class="axis-title" x="14" y="{y}" text-anchor="middle" '
        f'transform="rotate(-90 14 {y})">images found</text>'
    )


def series_chart(view: SeriesView, t0: datetime, t1: datetime) -> Markup:
    """The chart of one series (see module docstring)."""
    valid = [p.count for p in view.points if p.count is not None]
    levels = valid + [s.baseline for s in view.spans if s.baseline is not None]
    if view.baseline is not None:
        levels.append(view.baseline)
    # Headroom above the highest level keeps the top point and baselines off the frame.
    sc = _Scale(t0, t1, nice_ceiling(max(levels, default=1) * 1.1))
    failed = [p for p in view.points if p.failed]
    quiet = silences(view.points, view.interval)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'data-series="{view.series_id}" data-checks="{len(view.points)}" '
        f'data-failed="{len(failed)}" data-silences="{len(quiet)}" '
        f'aria-label="{esc("image counts of " + view.label)}">',
        f'<rect class="plot" x="{sc.x0}" y="{sc.y1}" width="{sc.x1 - sc.x0}" '
        f'height="{sc.y0 - sc.y1}"/>',
    ]
    for span in view.spans:
        parts.append(_span(span, sc))
    for start, end in quiet:
        parts.append(_silence(start, end, sc))
    for v in (0.0, sc.ymax / 2, sc.ymax):
        y = sc.y(v)
        parts.append(f'<line class="grid" x1="{sc.x0}" x2="{sc.x1}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text class="axis" x="{sc.x0 - 6}" y="{y + 4}" text-anchor="end">{fmt_num(v)}</text>'
        )
    if view.baseline is not None and view.detector_status not in ("dropped", "partial"):
        y = sc.y(view.baseline)
        parts.append(
            f'<line class="baseline" x1="{sc.x0}" x2="{sc.x1}" y1="{y}" y2="{y}">'
            f"<title>baseline {fmt_num(round(view.baseline, 1))}</title></line>"
        )
    for run in _segments(view.points, view.interval):
        if len(run) > 1:
            pts = " ".join(f"{sc.x(p.t)},{sc.y(p.count or 0)}" for p in run)
            parts.append(f'<polyline class="line" points="{pts}"/>')
    dots = len(view.points) <= MAX_DOTS
    for p in view.points:
        if p.failed or p.count is None:
            continue
        if not dots and not p.excluded and p.status != "no_results":
            continue
        cls = "pt excluded" if p.excluded else ("pt zero" if p.status == "no_results" else "pt")
        parts.append(
            f'<circle class="{cls}" cx="{sc.x(p.t)}" cy="{sc.y(p.count)}" r="2.5" '
            f'data-snapshot="{p.snapshot_id}" data-count="{p.count}">'
            f"<title>{esc(_check_tip(p))}</title></circle>"
        )
    for p in failed:
        x = sc.x(p.t)
        parts.append(
            f'<line class="fail" x1="{x}" x2="{x}" y1="{sc.y0 + 4}" y2="{sc.y0 + 13}" '
            f'data-snapshot="{p.snapshot_id}"><title>{esc(_check_tip(p))}</title></line>'
        )
    for mark in view.alerts:
        x = sc.x(mark.t)
        tip = f"{fmt_time(mark.t)}: alert #{mark.alert_id} {mark.event} — {mark.reason}"
        parts.append(
            f'<g class="alert alert-{esc(mark.event)}" data-alert="{mark.alert_id}">'
            f"<title>{esc(tip)}</title>"
            f'<line x1="{x}" x2="{x}" y1="{sc.y1}" y2="{sc.y0}"/>'
            f'<path d="M{x - 5},{sc.y1 - 10} L{x + 5},{sc.y1 - 10} L{x},{sc.y1 - 2} Z"/></g>'
        )
    parts.append(_time_axis(sc))
    parts.append(_y_title(sc))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above went through esc)


def _span(span: EpisodeSpan, sc: _Scale) -> str:
    x_start = sc.x(max(span.start, sc.t0))
    x_end = sc.x(span.end) if span.end is not None else sc.x1
    width = max(x_end - x_start, 2.0)
    until = f"until {fmt_time(span.end)}" if span.end else "still open"
    scope = "whole source " if span.source_wide else ""
    base = f", baseline {fmt_num(round(span.baseline, 1))}" if span.baseline is not None else ""
    tip = f"{scope}{span.kind} episode ({span.state}) from {fmt_time(span.start)} {until}{base}"
    out = (
        f'<rect class="span span-{esc(span.kind)} span-{esc(span.state)}" '
        f'data-episode="{span.episode_id}" x="{x_start}" y="{sc.y1}" width="{round(width, 1)}" '
        f'height="{sc.y0 - sc.y1}"><title>{esc(tip)}</title></rect>'
    )
    if span.baseline is not None and span.kind == "drop":
        y = sc.y(span.baseline)
        out += (
            f'<line class="ep-baseline" x1="{x_start}" x2="{round(x_start + width, 1)}" '
            f'y1="{y}" y2="{y}"/>'
        )
    return out


def sparkline_svg(points: Sequence[CheckPoint], *, width: int = 120, height: int = 26) -> Markup:
    """A small trend of recent checks: failures are gaps with a red tick, never zeros."""
    n = len(points)
    top = max((p.count for p in points if p.count is not None), default=0) or 1
    base = height - 5

    def x(i: int) -> float:
        return round(2 + (i / (n - 1) if n > 1 else 0.5) * (width - 4), 1)

    def y(v: int) -> float:
        return round(base - v / top * (base - 2), 1)

    index = {p.snapshot_id: i for i, p in enumerate(points)}
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="recent checks">'
    ]
    failed = sum(p.failed for p in points)
    parts.append(f"<title>{n} recent checks, {failed} failed</title>")
    for run in _segments(points):
        coords = " ".join(f"{x(index[p.snapshot_id])},{y(p.count or 0)}" for p in run)
        if len(run) == 1:
            cx, cy = coords.split(",")
            parts.append(f'<circle class="pt" cx="{cx}" cy="{cy}" r="1.5"/>')
        else:
            parts.append(f'<polyline class="line" points="{coords}"/>')
    for i, p in enumerate(points):
        if p.failed:
            parts.append(
                f'<line class="fail" x1="{x(i)}" x2="{x(i)}" y1="{base + 1}" y2="{height}"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above went through esc)
