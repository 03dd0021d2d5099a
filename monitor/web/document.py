"""``absence-monitor report``: one self-contained HTML file about one or more people.

Contract of ``write_report(sessions, config, people, output, thumbnail_dir=..., now=...)``:
it reads the database (the caller has migrated it to head, as every command does), renders
each person's section (``report_page``) and writes the file atomically. No people given
means every watched person in the database. An empty database or an unknown name is a
``MonitorError`` with a sentence a user can act on, never a traceback. The file needs no
network to open: CSS, script and charts are inline, kept thumbnails are embedded, and an
image without a kept copy is a placeholder naming its URL, unless ``remote_images`` (the
``--remote-images`` option) lets the engines' thumbnails load.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config
from monitor.core.errors import MonitorError
from monitor.report.data import known_people, person_view
from monitor.store.reads import has_checks
from monitor.web.report_page import local_thumbnails, report_document

logger = logging.getLogger(__name__)


def write_report(
    sessions: sessionmaker[Session],
    config: Config,
    people: list[str],
    output: Path,
    *,
    thumbnail_dir: Path | None,
    now: datetime,
    remote_images: bool = False,
) -> Path:
    """Write the report; returns its path. ``now`` is the time the report says it was made."""
    with sessions() as session:
        if not has_checks(session):
            raise MonitorError(
                "the database has no checks yet: run `absence-monitor check` (or the daemon) "
                "first, then write the report"
            )
        names = list(dict.fromkeys(people)) or known_people(session)
        views = [person_view(session, config, name) for name in names]
        local = local_thumbnails(session, thumbnail_dir, views)
    html = report_document(views, generated=now, local=local, remote_images=remote_images)
    output = Path(output)
    if not output.parent.is_dir():
        raise MonitorError(f"cannot write {output}: directory {output.parent} does not exist")
    # Write beside the target then rename: a reader never sees half a report.
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MonitorError(f"cannot write {output}: {exc}") from None
    logger.info("report on %d people written to %s (%d bytes)", len(views), output, len(html))
    return output
