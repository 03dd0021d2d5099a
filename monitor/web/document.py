"""``absence-monitor report``: one self-contained HTML file about one or more people.

Contract of ``write_report(app, people, output)``: it reads the database (migrating it to
head first, as every command does), renders each person's section (``monitor.web``) and
writes the file atomically. No people given means every watched person in the database.
An empty database or an unknown name is a ``MonitorError`` with a sentence a user can act
on, never a traceback. The file needs no network to open: CSS, script and charts are
inline, and kept thumbnails are embedded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from monitor.core.errors import MonitorError
from monitor.report.data import known_people, person_view
from monitor.store.models import Snapshot
from monitor.web.report_page import local_thumbnails, report_document

if TYPE_CHECKING:
    from monitor.app import App

logger = logging.getLogger(__name__)


def write_report(app: App, people: list[str], output: Path) -> Path:
    """Write the report; returns its path."""
    app.migrate()
    with app.sessions() as session:
        if not session.scalar(select(func.count()).select_from(Snapshot)):
            raise MonitorError(
                "the database has no checks yet: run `absence-monitor check` (or the daemon) "
                "first, then write the report"
            )
        names = list(dict.fromkeys(people)) or known_people(session)
        views = [person_view(session, app.config, name) for name in names]
        local = local_thumbnails(app, session, views)
    html = report_document(views, generated=app.clock(), local=local)
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
