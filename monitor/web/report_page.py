"""A person's report as HTML: current state, charts, vanished images, alerts, controls.

``report_html(app, person)`` is the page the daemon serves at ``/report/<person>``;
``report_document`` renders one or several people into one self-contained file (what
``absence-monitor report`` writes). Both read the database only; kept thumbnails are
embedded as ``data:`` URIs so that an erased photo stays visible in the saved file.
Escaping and URL rules: see ``monitor.web.markup``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.core.urls import domain_of
from monitor.report.data import PersonView, SeriesView, person_view
from monitor.report.vanished import VanishedView
from monitor.web.chart import series_chart
from monitor.web.markup import esc, fmt_num, link, page, safe_url, time_tag

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.app import App

MAX_EMBEDDED_BYTES = 600_000
_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}

LEGEND = (
    '<p class="legend"><span><i class="key key-line"></i>images found (valid checks)</span>'
    '<span><i class="key key-fail"></i>failed check (not a zero)</span>'
    '<span><i class="key key-drop"></i>drop episode</span>'
    '<span><i class="key key-unhealthy"></i>source unhealthy</span>'
    '<span><i class="key key-alert"></i>alert</span>'
    '<span><i class="key key-baseline"></i>baseline</span></p>'
)


def state_badge(state: str | None) -> str:
    if state is None:
        return '<span class="state" title="no detector verdict yet">—</span>'
    return f'<span class="state state-{esc(state)}">{esc(state.replace("_", " "))}</span>'


def status_badge(status: str | None) -> str:
    return f'<span class="state status-{esc(status or "none")}">{esc(status or "—")}</span>'


def state_table(views: Sequence[SeriesView]) -> str:
    """The current state of each series: last check, counts, baseline, detector state."""
    rows = []
    for v in views:
        last, valid = v.last, v.last_valid
        reason = f' <span class="muted">{esc(last.reason)}</span>' if last and last.reason else ""
        last_count = "—" if last is None or last.count is None else str(last.count)
        valid_count = "—" if valid is None else f"{valid.count} ({time_tag(valid.t)})"
        rows.append(
            f"<tr><td>{esc(v.source)}</td><td>{esc(v.term)}</td><td>{esc(v.vantage)}</td>"
            f"<td>{time_tag(last.t if last else None)}</td>"
            f"<td>{status_badge(last.status if last else None)}{reason}</td>"
            f'<td class="num">{last_count}</td><td>{valid_count}</td>'
            f'<td class="num">{fmt_num(None if v.baseline is None else round(v.baseline, 1))}</td>'
            f"<td>{state_badge(v.detector_status)}{' stale' if v.stale else ''}</td>"
            f'<td class="num">{v.failures} / {len(v.points)}'
            f"{'' if v.total_checks <= len(v.points) else f' of {v.total_checks}'}</td></tr>"
        )
    return (
        '<table class="state-table"><thead><tr><th>Source</th><th>Term</th><th>Vantage</th>'
        "<th>Last check</th><th>Last status</th><th>Last count</th><th>Last valid count</th>"
        "<th>Baseline</th><th>Detector</th><th>Failed / shown checks</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def chart_panels(views: Sequence[SeriesView], t0: datetime, t1: datetime) -> str:
    panels = []
    for v in views:
        panels.append(
            f'<div class="panel"><h4>{esc(v.label)} {state_badge(v.detector_status)}</h4>'
            f"{series_chart(v, t0, t1)}</div>"
        )
    return "".join(panels)


def _thumb(v: VanishedView, local: Mapping[int, Path]) -> str:
    alt = esc(v.title or v.domain or "image")
    path = local.get(v.image_id) if v.image_id is not None else None
    if path is not None:
        data = path.read_bytes()
        kind = _TYPES.get(path.suffix.lower())
        if kind and len(data) <= MAX_EMBEDDED_BYTES:
            uri = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
            return f'<img src="{uri}" alt="{alt}" title="kept copy">'
    src = safe_url(v.thumb_url) or safe_url(v.image_url)
    if src is None:
        return "no thumbnail"
    return f'<img src="{esc(src)}" alt="{alt}" loading="lazy" referrerpolicy="no-referrer">'


def gallery(
    vanished: Sequence[VanishedView], total: int, gid: str, local: Mapping[int, Path]
) -> str:
    """The vanished images, newest alerts first, each with where it still shows."""
    if not vanished:
        return '<p class="muted">No image has vanished from any source so far.</p>'
    items = []
    for v in vanished:
        still = (
            "still seen on " + ", ".join(f"<b>{esc(s)}</b>" for s in v.still_seen_on)
            if v.still_seen_on
            else "not in the latest results of any other source"
        )
        if v.same_photo_on:
            still += (
                "<div>same photo still on "
                + ", ".join(f"<b>{esc(s)}</b>" for s in v.same_photo_on)
                + " under another URL</div>"
            )
        alerts = ", ".join(f"#{a}" for a in v.alert_ids)
        notes = f"<div>in alert {alerts}</div>" if alerts else ""
        if v.back:
            notes += "<div>back in this source's latest results</div>"
        title = v.title or v.domain or domain_of(v.page_url or v.image_url) or "page"
        items.append(
            f'<li class="{"alerted" if v.alert_ids else ""}">'
            f'<div class="thumb">{_thumb(v, local)}</div>'
            f'<div class="title">{link(v.page_url, title)}</div>'
            f"<div>gone from <b>{esc(v.source)}</b>"
            f"{f' ({esc(v.term)})' if v.term else ''}</div>"
            f"<div>first seen {time_tag(v.first_seen)}</div>"
            f"<div>last seen {time_tag(v.last_seen)}</div>"
            f"<div>{still}</div>{notes}"
            f"<div>{link(v.image_url, 'image: ' + (domain_of(v.image_url) or v.image_url))}</div>"
            "</li>"
        )
    more = total - len(vanished)
    note = f'<p class="muted">{more} more not shown.</p>' if more > 0 else ""
    return (
        f'<input class="filter" type="search" placeholder="filter by title, domain, source" '
        f'aria-label="filter the vanished images" data-gallery="{gid}">'
        f'<ul class="gallery" id="{gid}">{"".join(items)}</ul>{note}'
    )


def alerts_table(view: PersonView) -> str:
    if not view.alerts:
        return '<p class="muted">No alerts.</p>'
    rows = "".join(
        f"<tr><td>#{a.alert_id}</td><td>{time_tag(a.t)}</td><td>{esc(a.event)}</td>"
        f"<td>{esc(a.source or '—')}</td><td>{esc(a.term or '—')}</td><td>{esc(a.reason)}</td></tr>"
        for a in reversed(view.alerts)
    )
    return (
        "<table><thead><tr><th>Alert</th><th>When</th><th>Event</th><th>Source</th>"
        f"<th>Term</th><th>Reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def person_section(view: PersonView, anchor: str, local: Mapping[int, Path]) -> str:
    """Everything about one person."""
    span = view.time_range
    head = f'<section class="person" id="{anchor}"><h2>{esc(view.name)}</h2>'
    if view.notes:
        head += f'<p class="muted">{esc(view.notes)}</p>'
    if span is None:
        return head + '<p class="message">No checks recorded for this person yet.</p></section>'
    t0, t1 = span
    parts = [
        head,
        f'<p class="muted">{len(view.series)} series, from {time_tag(t0)} to {time_tag(t1)}.</p>',
        "<h3>Current state per source</h3>",
        state_table(view.series),
        "<h3>Image counts over time</h3>",
        LEGEND,
        chart_panels(view.series, t0, t1),
        f"<h3>Vanished images ({view.vanished_total})</h3>",
        gallery(view.vanished, view.vanished_total, f"{anchor}-gallery", local),
        f"<h3>Alerts ({len(view.alerts)})</h3>",
        alerts_table(view),
        "<h3>Controls</h3>",
    ]
    if view.controls:
        parts += [
            '<p class="muted">Queries that should never vanish, checked on the same sources: '
            "if they drop too, the engine changed, not the person's presence.</p>",
            state_table(view.controls),
            chart_panels(view.controls, t0, t1),
        ]
    else:
        parts.append('<p class="muted">No controls configured on these sources.</p>')
    parts.append("</section>")
    return "".join(parts)


def report_document(
    views: Sequence[PersonView],
    *,
    generated: datetime,
    local: Mapping[int, Path] | None = None,
    back_link: str | None = None,
) -> str:
    """One HTML document with a section per person."""
    local = local or {}
    names = ", ".join(v.name for v in views)
    body = []
    if back_link:
        body.append(f'<p><a href="{esc(back_link)}">← overview</a></p>')
    body.append(f"<h1>Image absence report: {esc(names)}</h1>")
    if len(views) > 1:
        body.append(
            '<nav class="toc">'
            + "".join(f'<a href="#p{i}">{esc(v.name)}</a>' for i, v in enumerate(views))
            + "</nav>"
        )
    body += [person_section(v, f"p{i}", local) for i, v in enumerate(views)]
    return page(f"Image absence report: {names}", "\n".join(body), generated=generated)


def local_thumbnails(app: App, session: Session, views: Sequence[PersonView]) -> dict[int, Path]:
    """Kept thumbnails of the vanished images, when there are any on disk."""
    from monitor.store.thumbnails import local_copies

    directory = app.thumbnail_dir
    ids = [v.image_id for p in views for v in p.vanished if v.image_id is not None]
    if directory is None or not ids or not directory.is_dir():
        return {}
    return local_copies(session, directory, ids)


def report_html(app: App, person: str) -> str:
    """The page of ``person`` as the daemon serves it; ``MonitorError`` if unknown."""
    with app.sessions() as session:
        view = person_view(session, app.config, person)
        local = local_thumbnails(app, session, [view])
    return report_document([view], generated=app.clock(), local=local, back_link="../")
