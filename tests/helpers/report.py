"""The seeded database of the report tests (``test_report``, ``test_browser``).

``seed_report_app`` builds a database through the real store: Chen Yixin on baidu and bing
plus a baidu control; baidu has two failed checks, then a drop (five images down to one)
with an open episode and an alert whose vanished images include one with a hostile title and
``javascript:`` URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.detector.state import Check, SeriesState
from monitor.detector.state import DropEpisode as StateEpisode
from monitor.store import catalog
from monitor.store.models import Episode, Series
from monitor.store.outbox import enqueue
from monitor.store.snapshots import record_snapshot
from monitor.web.document import write_report
from monitor.web.report_page import report_html

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
EVIL_TITLE = "<script>alert(1)</script>"


@dataclass
class Seeded:
    app: App
    baidu: int  # series ids
    bing: int
    control: int
    failed: list[int]  # snapshot ids of baidu's failed checks
    episode: int
    alert: int


def config_text(db: Path) -> str:
    return f"""\
database:
  url: sqlite:///{db}
people:
  - name: Chen Yixin
    notes: "watched since <2025>"
sources:
  baidu:
    kind: baidu_images
    controls: [giant panda]
  bing:
    kind: bing_images
"""


def seed_report_app(tmp_path: Path, thumb_base: str = "https://img.test") -> Seeded:
    """The seeded database described in the module docstring."""
    config = parse_config(config_text(tmp_path / "m.db"), "config.yaml", {})
    app = build(config, channels=[], clock=lambda: T0 + 20 * STEP)
    app.migrate()

    def img(n: str, title: str | None = None, page: str | None = None) -> ImageItem:
        return ImageItem(
            f"https://img.test/full/{n}.jpg",
            f"{thumb_base}/thumb/{n}.png",
            page or f"https://news.test/story/{n}",
            title or f"Story {n}",
        )

    evil = ImageItem(
        "javascript:alert(2)", "javascript:alert(3)", "javascript:alert(4)", EVIL_TITLE
    )
    before = [img("a"), img("b"), img("c"), img("d"), evil]
    after = [img("a")]
    pandas = [img(f"panda{i}") for i in range(8)]
    with app.sessions() as session, session.begin():
        refs = {(r.source, r.role): r.series_id for r in catalog.sync(session, config)}
        baidu, bing = refs[("baidu", "watch")], refs[("bing", "watch")]
        control = refs[("baidu", "control")]
        failed = []

        def snap(series: int, i: int, obs: Observation) -> int:
            t = T0 + i * STEP
            s = record_snapshot(
                session, series_id=series, observation=obs, started_at=t, finished_at=t
            )
            return s.id

        for i in range(13):
            if i == 4:
                failed.append(snap(baidu, i, Observation(Status.BLOCKED, reason="captcha page")))
            elif i == 5:
                failed.append(snap(baidu, i, Observation(Status.NETWORK_ERROR, reason="timeout")))
            else:
                snap(baidu, i, Observation(Status.OK, items=before if i < 10 else after))
            bing_obs = (
                Observation(Status.HTTP_ERROR, reason="HTTP 502", http_status=502)
                if i == 7
                else Observation(Status.OK, items=[img("b"), img("f")])
            )
            snap(bing, i, bing_obs)
            snap(control, i, Observation(Status.OK, items=pandas))
        drop_t = T0 + 10 * STEP
        baidu_row = session.scalars(select(Series).where(Series.id == baidu)).one()
        episode = Episode(
            series_id=baidu,
            source_id=baidu_row.source_id,
            kind="drop",
            metric="images",
            state="open",
            opened_at=drop_t,
            baseline=5.0,
        )
        session.add(episode)
        session.flush()
        vanished = [
            {
                "image_url": i.image_url,
                "thumb_url": i.thumb_url,
                "page_url": i.page_url,
                "title": i.title,
                "domain": i.domain,
                "first_seen": "2025-03-01T00:00:00Z",
                "last_seen": "2025-03-03T06:00:00Z",
                "still_seen_on": ["bing"] if i.image_url.endswith("/b.jpg") else [],
            }
            for i in before[1:]
        ]
        alert = enqueue(
            session,
            payload={
                "event": "drop",
                "person": "Chen Yixin",
                "term": "Chen Yixin",
                "source": "baidu",
                "reason": "5 -> 1 images over 3 checks",
                "vanished_images": vanished,
            },
            channels=[],
            now=T0 + 12 * STEP,
            person_id=baidu_row.person_id,
            source_id=baidu_row.source_id,
            series_id=baidu,
            episode_id=episode.id,
        )
        baidu_row.detector_state = dropped_state(app, drop_t)
    return Seeded(app, baidu, bing, control, failed, episode.id, alert.id)


def dropped_state(app: App, drop_t: datetime) -> dict[str, object]:
    """A detector state with an open drop episode on a baseline of 5."""
    state = SeriesState.new(app.config.detection_for("baidu"))
    for i in range(4):
        state.add_valid(Check((T0 + i * STEP).timestamp(), "ok", 5, 4, None))
    state.sufficient = True
    state.last_valid_t = drop_t.timestamp()
    state.episode = StateEpisode("images", 5.0, 7, drop_t.timestamp())
    return state.to_dict()


def report_file(app: App, people: list[str], output: Path) -> Path:
    """What ``absence-monitor report`` does: migrate, then write the report from the app's parts."""
    app.migrate()
    return write_report(
        app.sessions, app.config, people, output, thumbnail_dir=app.thumbnail_dir, now=app.clock()
    )


def person_page(app: App, person: str) -> str:
    """What the daemon serves at ``/report/<person>``."""
    return report_html(
        app.sessions, app.config, person, thumbnail_dir=app.thumbnail_dir, now=app.clock()
    )


def keep_thumbnail(
    app: App, image_suffix: str, data: bytes, content_type: str = "image/png"
) -> None:
    """A kept copy of the image whose URL ends with ``image_suffix``, as the fetcher stores it."""
    import hashlib

    from monitor.store.models import Image, Thumbnail

    assert app.thumbnail_dir is not None
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{sha[:2]}/{sha}.png"
    (app.thumbnail_dir / sha[:2]).mkdir(parents=True, exist_ok=True)
    (app.thumbnail_dir / rel).write_bytes(data)
    with app.sessions() as session, session.begin():
        image = session.scalars(select(Image).where(Image.image_url.endswith(image_suffix))).one()
        session.add(
            Thumbnail(
                image_id=image.id,
                sha256=sha,
                phash="0" * 16,
                path=rel,
                size=len(data),
                content_type=content_type,
                fetched_at=T0,
            )
        )
