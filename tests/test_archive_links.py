"""Reports link the Internet Archive's confirmed copy of a vanished image's page (issue 12,
item 7): one confirmed after the alert counts, a capture still pending does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import html as lxml_html

from monitor.report.data import person_view
from monitor.store.archive import url_hash
from monitor.store.models import ArchiveCapture
from tests.helpers.report import report_file
from tests.helpers.story import CHEN, DONG, seed_story

AT = datetime(2026, 12, 7, tzinfo=UTC)


def _capture(url: str, state: str, archive_url: str | None) -> ArchiveCapture:
    return ArchiveCapture(
        url=url,
        url_hash=url_hash(url),
        trigger="first_seen",
        trigger_key="page",
        state=state,
        attempts=1,
        next_at=AT,
        created_at=AT,
        archive_url=archive_url,
    )


def test_the_gallery_links_confirmed_archived_pages_only(tmp_path: Path) -> None:
    app = seed_story(tmp_path)
    with app.sessions() as session:
        [gallery] = person_view(session, app.config, DONG).galleries
    pages = [v.page_url for v in gallery.images if v.page_url]
    archived, pending = pages[0], pages[1]
    copy = f"https://web.archive.org/web/20261207000000/{archived}"
    with app.sessions() as session, session.begin():
        session.add(_capture(archived, "archived", copy))
        session.add(_capture(pending, "submitted", None))
    with app.sessions() as session:
        [gallery] = person_view(session, app.config, DONG).galleries
    linked = {v.page_url: v.archived_page for v in gallery.images}
    assert linked[archived] == copy and linked[pending] is None
    doc = lxml_html.fromstring(
        report_file(app, [DONG, CHEN], tmp_path / "r.html").read_text(encoding="utf-8")
    )
    hrefs = [a.get("href") for a in doc.iter("a")]
    assert hrefs.count(copy) == sum(1 for v in gallery.images if v.page_url == archived)
    assert not any(h and h.endswith(f"/{pending}") and "web.archive.org" in h for h in hrefs)
