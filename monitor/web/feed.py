"""The Atom feed of alerts (RFC 4287): ``alerts feed -o alerts.atom`` and ``/alerts.atom``.

Feed readers are how many newsrooms watch sources, so every alert is an entry: the mail's
subject as its title, the mail's plain text as its content, the event as its category, and
a link to the person's report when there is one. Ids are stable: an entry's id is derived
from the alert's id and creation time, the feed's from the database it reads (its URL is
hashed, never shown), so regenerating the feed never makes a reader show an alert twice.

Every string may come from a scraped page: the XML writer escapes markup, and characters XML
cannot carry (control characters, bidi overrides, lone surrogates) are removed first. The
feed reads the database only; building it never contacts an engine.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session, sessionmaker

from monitor import __version__
from monitor.alerts.content import alert_subject
from monitor.alerts.payload import Message, upgrade
from monitor.alerts.render import text_body
from monitor.alerts.schema import AlertPayload
from monitor.alerts.words import clean
from monitor.core.clock import iso_utc
from monitor.store.models import Alert
from monitor.store.outbox import alerts_with_deliveries

ATOM = "http://www.w3.org/2005/Atom"
FEED_LIMIT = 200  # the newest alerts in the feed; readers keep what they have seen
# What XML 1.0 cannot carry, beyond what ``clean`` removes.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAMESPACE = uuid.UUID("4f6c0f4e-5b7a-4d7e-9d0a-6b1f3c2a9e51")  # this feed's, fixed forever


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def feed_id(database_url: str) -> str:
    """The feed's id: stable for one database, revealing nothing of its URL."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'feed:' + database_url)}"


def entry_id(alert_id: int, created_at: datetime) -> str:
    """An alert's entry id: the same each time the feed is written."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'alert:{alert_id}:{iso_utc(created_at)}')}"


def _body(payload: AlertPayload, report: str | None) -> str:
    """The mail's text without its delivery line (an entry is no delivery)."""
    text = text_body(Message(f"alert-{payload['alert_id']}", [payload], "feed"), report)
    return text.rstrip("\n").rsplit("\n", 1)[0].rstrip() + "\n"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = _xml(text)
    return element


def atom_feed(
    alerts: Sequence[Alert],
    *,
    feed: str,
    now: datetime,
    report_base: str | None = None,
    report: str | None = None,
) -> bytes:
    """The Atom document of ``alerts`` (newest first). ``report_base`` (e.g. ``report/``
    on the status server) links each person's report; ``report`` is named in the text."""
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", feed)
    _sub(root, "title", "image-absence-monitor alerts")
    _sub(root, "updated", iso_utc(max((a.created_at for a in alerts), default=now)))
    _sub(_sub(root, "author"), "name", "image-absence-monitor")
    _sub(root, "generator", "image-absence-monitor", version=__version__)
    for alert in alerts:
        payload = upgrade(alert.payload)
        entry = _sub(root, "entry")
        _sub(entry, "id", entry_id(alert.id, alert.created_at))
        _sub(entry, "title", alert_subject(payload))
        stamp = iso_utc(alert.created_at)
        _sub(entry, "published", stamp)
        _sub(entry, "updated", stamp)
        _sub(entry, "category", term=_xml(clean(alert.event)))
        person = payload.get("person")
        if report_base and person:
            _sub(entry, "link", rel="alternate", href=report_base + quote(str(person), safe=""))
        _sub(entry, "content", _body(payload, report), type="text")
    document: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + document


def alerts_feed(
    sessions: sessionmaker[Session],
    *,
    database_url: str,
    now: datetime,
    limit: int = FEED_LIMIT,
    report_base: str | None = None,
    report: str | None = None,
) -> bytes:
    """The feed of the newest ``limit`` alerts in the database."""
    with sessions() as session:
        alerts = [a for a, _ in alerts_with_deliveries(session, limit)]
    return atom_feed(
        alerts, feed=feed_id(database_url), now=now, report_base=report_base, report=report
    )
