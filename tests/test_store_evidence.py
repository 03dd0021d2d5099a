"""What a drop alert lists as vanished, and where each vanished image is still seen."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
from sqlalchemy import select

from monitor.detector.events import Confirmation, Event
from monitor.store import catalog
from monitor.store.evidence import vanished_images
from monitor.store.models import Snapshot
from monitor.store.outbox import enqueue
from tests.helpers.thumbnails import NOW, item, keep, make_app, photo, seed, serving


def drop_confirmed_by(snapshot_id: int) -> Event:
    return Event(
        event="drop",
        source="baidu",
        family="chinese",
        t=NOW,
        reason="test",
        person="Chen Yixin",
        term="Chen Yixin",
        confirming=(Confirmation(NOW, "ok", 1, 1, snapshot_id),),
    )


async def test_vanished_image_is_still_seen_where_the_same_photo_is_under_another_url(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    [on_baidu, stays] = seed(app, "baidu", [item(1), item(9)])
    [on_bing] = seed(app, "bing", [item(7, "tse.bing.test")])
    files: dict[str, bytes | httpx.Response] = {
        "https://img.test/thumb/1": photo(1),
        "https://img.test/thumb/9": photo(5),
        "https://tse.bing.test/thumb/7": photo(1, size=(120, 90), fmt="JPEG"),
    }
    fetcher, _ = serving(files)
    async with fetcher:
        await keep(app, fetcher, [on_baidu, stays, on_bing])
    seed(app, "baidu", [item(9)])  # image 1 vanishes from Baidu
    with app.sessions() as session:
        baidu = next(r for r in catalog.sync(session, app.config) if r.source == "baidu")
        last = session.scalar(
            select(Snapshot.id)
            .where(Snapshot.series_id == baidu.series_id)
            .order_by(Snapshot.id.desc())
            .limit(1)
        )
        assert last is not None
        [gone] = vanished_images(session, baidu.series_id, drop_confirmed_by(last)).values()
    assert gone["image_url"] == "https://img.test/full/1.jpg"
    assert gone["still_seen_on"] == ["bing"]


def test_vanished_image_without_thumbnails_is_matched_by_url_only(tmp_path: Path) -> None:
    app = make_app(tmp_path, evidence="  keep_thumbnails: false\n")
    seed(app, "baidu", [item(1), item(2)])
    seed(app, "bing", [item(2), item(3)])
    seed(app, "baidu", [item(3)])  # 1 and 2 vanish from Baidu; 2 is still on Bing
    with app.sessions() as session:
        baidu = next(r for r in catalog.sync(session, app.config) if r.source == "baidu")
        last = session.scalar(
            select(Snapshot.id)
            .where(Snapshot.series_id == baidu.series_id)
            .order_by(Snapshot.id.desc())
            .limit(1)
        )
        assert last is not None
        gone = list(vanished_images(session, baidu.series_id, drop_confirmed_by(last)).values())
    seen = {g["image_url"]: g["still_seen_on"] for g in gone}
    assert seen == {"https://img.test/full/1.jpg": [], "https://img.test/full/2.jpg": ["bing"]}


def test_signs_never_supersede_the_healthy_body_and_holds_survive_it(tmp_path: Path) -> None:
    from monitor.core.observation import Observation, Status
    from monitor.store.evidence import RawBody, keep_raw, pre_drop_snapshot
    from monitor.store.models import RawResponse
    from monitor.store.retention import hold
    from monitor.store.snapshots import record_snapshot

    app = make_app(tmp_path, evidence="  keep_thumbnails: false\n")
    with app.sessions() as session, session.begin():
        baidu = next(r for r in catalog.sync(session, app.config) if r.source == "baidu")
        ids = []

        def check(body: bytes, reason: str) -> int:
            obs = Observation(Status.OK, items=[item(1)], raw=body)
            snap = record_snapshot(
                session, series_id=baidu.series_id, observation=obs, started_at=NOW, finished_at=NOW
            )
            keep_raw(session, snap, RawBody.of(obs), reason)
            ids.append(snap.id)
            return snap.id

        check(b"an old healthy answer", "healthy")
        check(b"before the drop", "healthy")  # supersedes the old one
        check(b"first sign", "suspect")
        check(b"first sign", "suspect")  # the second low check confirms the drop
        assert pre_drop_snapshot(session, baidu.series_id, ids[2]) == ids[1]
        alert = enqueue(session, payload={"event": "drop"}, channels=[], now=NOW)
        hold(
            session,
            alert.id,
            {ids[1]: "pre_drop", ids[2]: "confirming", ids[3]: "confirming"},
            [],
            NOW,
        )
        check(b"images are back", "healthy")  # the pre-drop body is held: not superseded
        check(b"images are back", "healthy")  # the same answer again: moved, not rewritten
    with app.sessions() as session:
        kept = {r.snapshot_id: r.reason for r in session.scalars(select(RawResponse))}
    assert kept == {
        ids[1]: "pre_drop",
        ids[2]: "confirming",
        ids[3]: "confirming",
        ids[5]: "healthy",
    }


def test_a_body_is_compressed_or_reduced_to_its_digest_as_its_check_ends() -> None:
    """Unchanged healthy bodies are not written again, so they are never gzipped; a changed
    one is compressed at once; either way the raw bytes leave memory (body and observation)."""
    from monitor.core.observation import Observation, Status
    from monitor.store.evidence import RawBody

    def obs() -> Observation:
        return Observation(Status.OK, items=[item(1)], raw=b"the same page")

    digest = RawBody.of(obs()).sha256  # type: ignore[union-attr]
    same, other = obs(), obs()
    unchanged = RawBody.ready(same, digest)
    changed = RawBody.ready(other, "another digest")
    assert unchanged is not None and unchanged.unchanged and unchanged.sha256 == digest
    assert changed is not None and changed.raw is None and not changed.unchanged
    assert same.raw is None and other.raw is None
    assert gzip.decompress(changed.body_gz) == b"the same page"


def test_a_confirming_check_with_the_kept_healthy_body_copies_that_body(tmp_path: Path) -> None:
    """Its bytes left memory when the check ended (unchanged: only the digest is left), and
    the evidence of the drop is still the whole body."""
    from monitor.core.observation import Observation, Status
    from monitor.store.evidence import RawBody, keep_raw, kept_raw
    from monitor.store.snapshots import record_snapshot

    app = make_app(tmp_path, evidence="  keep_thumbnails: false\n")
    with app.sessions() as session, session.begin():
        baidu = next(r for r in catalog.sync(session, app.config) if r.source == "baidu")
        snaps = []
        for _ in range(2):
            obs = Observation(Status.OK, items=[item(1)], raw=b"the same page")
            snaps.append(
                record_snapshot(
                    session,
                    series_id=baidu.series_id,
                    observation=obs,
                    started_at=NOW,
                    finished_at=NOW,
                )
            )
        first = RawBody.ready(Observation(Status.OK, items=[item(1)], raw=b"the same page"), None)
        keep_raw(session, snaps[0], first, "healthy")
        assert first is not None
        same = RawBody.ready(obs, first.sha256)
        assert same is not None and same.unchanged
        keep_raw(session, snaps[1], same, "confirming")
    with app.sessions() as session:
        row = kept_raw(session, snaps[1].id)
        assert row is not None and row.reason == "confirming"
        assert gzip.decompress(row.body_gz) == b"the same page"
