"""A person's report as HTML: what happened, alerts, charts, current state, vanished images
(one group per alerted episode), controls.

``report_html(sessions, config, person, ...)`` is the page the daemon serves at
``/report/<person>``; ``report_document`` renders one or several people into one
self-contained file (what ``absence-monitor report`` writes). Both read the database only;
kept thumbnails are embedded as ``data:`` URIs so that an erased photo stays visible in the
saved file, and nothing else is loaded unless ``remote_images`` (``images.py``). The markup
is ``templates/report.html`` and ``templates/person.html``, handed the
read models of ``monitor.report`` as they are; escaping and URL rules: ``templating.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config
from monitor.report.data import PersonView, person_view
from monitor.store.thumbnails import local_copies
from monitor.web.images import Pictures
from monitor.web.templating import render_page

MAX_EMBEDDED_BYTES = 600_000
# The only types a kept file is embedded as: the data: URI's type comes from here, never
# from the file or the engine.
_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}


def embedded_thumbnails(local: Mapping[int, Path]) -> dict[int, str]:
    """``data:`` URIs of the kept files (image id -> URI) small enough to embed."""
    out = {}
    for image_id, path in local.items():
        kind = _TYPES.get(path.suffix.lower())
        if kind is None:
            continue
        data = path.read_bytes()
        if len(data) <= MAX_EMBEDDED_BYTES:
            out[image_id] = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    return out


def report_document(
    views: Sequence[PersonView],
    *,
    generated: datetime,
    local: Mapping[int, Path] | None = None,
    back_link: str | None = None,
    remote_images: bool = False,
) -> str:
    """One HTML document with a section per person.

    ``local`` maps image ids to kept thumbnail files; ``back_link`` is a link of this
    package's own (the daemon's ``../``), never a URL from the data; ``remote_images`` lets
    images without a kept copy load from the engines (off: a placeholder with the URL).
    """
    names = ", ".join(v.name for v in views)
    return render_page(
        "report.html",
        title=f"Image absence report: {names}",
        generated=generated,
        names=names,
        views=views,
        pictures=Pictures(embedded_thumbnails(local or {}), remote=remote_images),
        back_link=back_link,
        remote_images=remote_images,
    )


def local_thumbnails(
    session: Session, thumbnail_dir: Path | None, views: Sequence[PersonView]
) -> dict[int, Path]:
    """Kept thumbnails of the vanished images, when there are any on disk."""
    ids = [
        v.image_id for p in views for g in p.galleries for v in g.images if v.image_id is not None
    ]
    if thumbnail_dir is None or not ids or not thumbnail_dir.is_dir():
        return {}
    return local_copies(session, thumbnail_dir, ids)


def report_html(
    sessions: sessionmaker[Session],
    config: Config,
    person: str,
    *,
    thumbnail_dir: Path | None,
    now: datetime,
) -> str:
    """The page of ``person`` as the daemon serves it; ``MonitorError`` if unknown."""
    with sessions() as session:
        view = person_view(session, config, person)
        local = local_thumbnails(session, thumbnail_dir, [view])
    return report_document([view], generated=now, local=local, back_link="../")
