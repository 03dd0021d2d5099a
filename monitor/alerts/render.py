"""Pure rendering of a ``Message`` into a subject, a plain-text body and an HTML body.

This is what channels call. Both bodies are drawn from one intermediate form, the sections
of ``monitor.alerts.content`` (which also writes the subject and cleans every string), so
they always say the same thing. Everything in a payload may come from a scraped page, so in
HTML every string goes through ``html.escape`` and only absolute ``http(s)`` URLs become an
``href`` (a ``javascript:`` or ``data:`` URL is shown as inert text, never linked). No image
is ever remote: a thumbnail is shown only as a kept copy attached to the mail (``cid:``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from monitor.alerts.content import (
    MAX_IMAGES,
    PREFIX,
    Img,
    Link,
    Span,
    alert_subject,
    sections,
    subject,
)
from monitor.alerts.payload import Message
from monitor.alerts.schema import AlertPayload
from monitor.alerts.words import clean
from monitor.core.urls import safe_url

# The channels' whole rendering API; the subject and ``clean`` come from ``content``.
__all__ = ["MAX_IMAGES", "PREFIX", "clean", "html_body", "inline_images", "subject", "text_body"]


def _text_span(span: Span) -> str:
    if isinstance(span, Link):
        return f"{clean(span.text)} <{clean(span.url)}>" if span.url else clean(span.text)
    if isinstance(span, Img):
        return ""  # the image and page links already say where it is
    return span


def _html_span(span: Span, cids: Mapping[str, str]) -> str:
    if isinstance(span, Link):
        url = safe_url(span.url)
        text = html.escape(clean(span.text))
        return f'<a href="{html.escape(url)}">{text}</a>' if url else text
    if isinstance(span, Img):
        # Only a kept copy attached to the mail: a remote image would tell the host (maybe
        # the censoring engine's CDN) that the alert was opened, and by whom.
        cid = cids.get(span.image_url)
        if cid is None:
            return ""
        alt = html.escape(clean(span.alt))
        return (
            f'<img src="cid:{html.escape(cid)}" alt="{alt}" width="80" '
            'style="vertical-align:middle;margin-right:6px"> '
        )
    return html.escape(span)


def _each(message: Message) -> Iterable[tuple[int, AlertPayload]]:
    return enumerate(message.alerts, start=1)


def inline_images(message: Message) -> list[str]:
    """The image URLs whose thumbnails the HTML body shows (if kept): the first
    ``MAX_IMAGES`` vanished images of each alert, each once."""
    urls = (i["image_url"] for a in message.alerts for i in a["vanished_images"][:MAX_IMAGES])
    return list(dict.fromkeys(urls))


def text_body(message: Message, report: str | None = None) -> str:
    """The plain-text body; ``report`` is where the full list of images is (URL or path)."""
    out: list[str] = []
    if message.is_batch:
        out += [subject(message).removeprefix(PREFIX), ""]
    for n, alert in _each(message):
        title = alert_subject(alert)
        if message.is_batch:
            title = f"{n}/{len(message.alerts)}. {title}"
        out += [title, "=" * len(title), ""]
        for sec in sections(alert, report):
            if sec.heading:
                out += [sec.heading, "-" * len(sec.heading)]
            out += [
                ("- " if sec.heading else "") + "".join(map(_text_span, line)) for line in sec.lines
            ]
            out.append("")
    out.append(f"Delivery {clean(message.delivery_id)} — image-absence-monitor")
    return "\n".join(out) + "\n"


def html_body(
    message: Message, report: str | None = None, cids: Mapping[str, str] | None = None
) -> str:
    """The HTML body: escaped throughout, links only for http(s) URLs, and thumbnails only
    where ``cids`` (image URL -> Content-ID of an attached kept copy) has one."""
    cids = cids or {}
    parts = ['<!DOCTYPE html><html><body style="font-family:sans-serif">']
    if message.is_batch:
        parts.append(f"<h1>{html.escape(subject(message).removeprefix(PREFIX))}</h1>")
    for _n, alert in _each(message):
        parts.append(f"<h2>{html.escape(alert_subject(alert))}</h2>")
        for sec in sections(alert, report):
            lines = ["".join(_html_span(span, cids) for span in line) for line in sec.lines]
            if not sec.heading:
                parts += [f"<p>{line}</p>" for line in lines]
                continue
            parts.append(f"<h3>{html.escape(sec.heading)}</h3><ul>")
            parts += [f"<li>{line}</li>" for line in lines]
            parts.append("</ul>")
    parts.append(f"<p><small>Delivery {html.escape(clean(message.delivery_id))}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
