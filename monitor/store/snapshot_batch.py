"""A round's snapshots in bulk: read and plan before the write transaction, write inside it.

``plan_snapshots(session, checks)`` reads (in any session, before the write) everything the
write needs and computes the rest: each result's image keys and set digest, the series'
previous valid set and its time, the image ids and set ids already stored, and, for the
series whose set changed, their images still open (``series_images.seen_open``): which
images leave is decided here. ``write_snapshots(session, plan, round_id)`` then only
writes, a few statements per round whatever its size: the new images and sets (``ON
CONFLICT DO NOTHING``: another writer may have stored the same ones meanwhile), the
snapshot rows, the images that left, and the sightings of the current ones (an upsert that
opens a closed row and leaves an open one alone). The contract of each snapshot is
``record_snapshot``'s (``monitor.store.snapshots``), which is this, one check at a time.

A plan is only as fresh as its reads: the caller writes it in a transaction that has
checked no other round of the series' source was stored since (``RoundCommit``), or reads
it inside the transaction itself. Images and sets are never deleted, so their ids stay
true whoever wrote them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from monitor.core.observation import OBSERVATION_VALUES, ImageItem, Observation
from monitor.store.bulk import chunks, dialect_insert, ids_of, insert_ignoring
from monitor.store.models import Image, ImageSet, ImageSetMember, Series, SeriesImage, Snapshot


@dataclass(frozen=True, slots=True)
class NewSnapshot:
    """One check to store as a snapshot of ``series_id`` (one per series per plan)."""

    series_id: int
    observation: Observation
    started_at: datetime
    finished_at: datetime
    body_sha256: str | None = None  # the response body's, kept or not (the snapshot log's)
    check_id: str | None = None  # cluster mode: the node's id of the check (stored once)


@dataclass(slots=True)
class _Result:
    """The image set of one valid check, planned."""

    hashes: list[bytes]
    items: list[ImageItem]
    digest: bytes


@dataclass
class SnapshotPlan:
    """What ``write_snapshots`` writes (see module docstring)."""

    checks: list[NewSnapshot]
    results: dict[int, _Result]  # series id -> its valid check's set
    images: dict[bytes, int]  # url hash -> id, of the images already stored
    sets: dict[bytes, int]  # digest -> id, of the sets already stored
    # Series id -> (image id, its last_seen) of the open sightings that leave.
    leaving: dict[int, list[tuple[int, datetime]]] = field(default_factory=dict)

    def counts(self, series_id: int) -> tuple[int | None, int | None]:
        """The check's distinct images and domains (None, None: a failed check)."""
        result = self.results.get(series_id)
        if result is None:
            return None, None
        return len(result.hashes), len({i.domain for i in result.items if i.domain})


def url_hash(item: ImageItem) -> bytes:
    """16-byte key of an image: BLAKE2b of its normalised URL."""
    return key_hash(item.key)


def key_hash(key: str) -> bytes:
    """``url_hash`` of the image whose normalised URL is ``key``."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()


def set_digest(hashes: Iterable[bytes]) -> bytes:
    """Digest of a set of images, independent of order."""
    h = hashlib.sha256()
    for x in sorted(hashes):
        h.update(x)
    return h.digest()


def plan_snapshots(session: Session, checks: Sequence[NewSnapshot]) -> SnapshotPlan:
    """Read and decide everything ``write_snapshots`` needs (reads only)."""
    results: dict[int, _Result] = {}
    for c in checks:
        if c.observation.status.is_observation:
            items = c.observation.distinct_items
            hashes = [key_hash(k) for k in c.observation.distinct_keys]
            results[c.series_id] = _Result(hashes, items, set_digest(hashes))
    hashes = list({h for r in results.values() for h in r.hashes})
    images = ids_of(session, Image.url_hash, Image.id, hashes)
    digests = list({r.digest for r in results.values()})
    sets = ids_of(session, ImageSet.digest, ImageSet.id, digests)
    previous = _previous(session, list(results))
    plan = SnapshotPlan(list(checks), results, images, sets)
    for series_id, result in results.items():
        before = previous.get(series_id)
        if before is None or sets.get(result.digest) != before[0]:  # the set changed
            plan.leaving[series_id] = []
    current = {sid: {images.get(h) for h in r.hashes} for sid, r in results.items()}
    for chunk in chunks(list(plan.leaving)):
        rows = session.execute(
            select(SeriesImage.series_id, SeriesImage.image_id, SeriesImage.last_seen).where(
                SeriesImage.series_id.in_(chunk), SeriesImage.seen_open.is_(True)
            )
        )
        for series_id, image_id, last_seen in rows:
            if image_id not in current[series_id]:
                # It left: it was last seen by the series' previous valid check.
                last_valid = previous[series_id][1] if series_id in previous else None
                plan.leaving[series_id].append((image_id, last_valid or last_seen))
    return plan


@dataclass(frozen=True)
class Written:
    """What ``write_snapshots`` wrote: each series' snapshot id, the snapshot rows (their
    columns as attributes, the id among them) and the digest of each image set they name
    (what the snapshot log chains, without reading them back)."""

    ids: dict[int, int]
    rows: list[SimpleNamespace]
    digests: dict[int, bytes]


def write_snapshots(session: Session, plan: SnapshotPlan, round_id: int | None) -> Written:
    """Write ``plan`` (writes only); returns what was written."""
    images = dict(plan.images)
    fresh = {
        h: item
        for r in plan.results.values()
        for h, item in zip(r.hashes, r.items, strict=True)
        if h not in images
    }
    if fresh:
        images.update(_insert_images(session, fresh, min(c.finished_at for c in plan.checks)))
    sets = dict(plan.sets)
    new_sets = {r.digest: r for r in plan.results.values() if r.digest not in sets}
    if new_sets:
        sets.update(
            insert_ignoring(
                session,
                ImageSet,
                [{"digest": d, "size": len(r.hashes)} for d, r in new_sets.items()],
                "digest",
            )
        )
        # A set another writer created meanwhile has these members already: they are skipped.
        members = [
            {"set_id": sets[d], "image_id": images[h], "position": pos}
            for d, r in new_sets.items()
            for pos, h in enumerate(r.hashes)
        ]
        insert_ignoring(session, ImageSetMember, members, "set_id", "image_id")
    rows = [_snapshot_row(c, round_id, plan, sets) for c in plan.checks]
    ids = _insert_snapshots(session, rows)
    _write_sightings(session, plan, images)
    return Written(
        {c.series_id: int(i) for c, i in zip(plan.checks, ids, strict=True)},
        [SimpleNamespace(**row) for row in rows],
        {set_id: digest for digest, set_id in sets.items()},
    )


def _insert_snapshots(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the snapshot ``rows`` in their order, each given its ``id``; their ids.

    On SQLite the write transaction holds the database's write lock, so no other writer
    adds a snapshot before it commits: the ids after the largest stored are given here and
    the rows go in as one executemany. (SQLAlchemy cannot batch an ``INSERT .. RETURNING``
    whose ids must come back in order on SQLite: it sent one statement per row.) Elsewhere
    the database numbers them and returns the ids in order, batched."""
    t = cast(Table, Snapshot.__table__)
    if session.get_bind().dialect.name == "sqlite":
        first = (session.scalar(select(func.max(t.c.id))) or 0) + 1
        ids = list(range(first, first + len(rows)))
        for row, snapshot_id in zip(rows, ids, strict=True):
            row["id"] = snapshot_id
        session.execute(insert(t), rows)
        return ids
    returned = session.scalars(insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
    ids = [int(i) for i in returned]
    for row, snapshot_id in zip(rows, ids, strict=True):
        row["id"] = snapshot_id
    return ids


def _snapshot_row(
    c: NewSnapshot, round_id: int | None, plan: SnapshotPlan, sets: dict[bytes, int]
) -> dict[str, Any]:
    obs = c.observation
    result = plan.results.get(c.series_id)
    images, domains = plan.counts(c.series_id)
    return {
        "series_id": c.series_id,
        "check_id": c.check_id,
        "round_id": round_id,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "status": obs.status.value,
        "reason": obs.reason,
        "http_status": obs.http_status,
        "image_count": images,
        "reported_total": obs.reported_total,
        "domain_count": domains,
        "pages": obs.pages,
        "elapsed_ms": obs.elapsed_ms,
        "image_set_id": sets[result.digest] if result else None,
        "body_sha256": c.body_sha256,
        "excluded": False,
    }


def _write_sightings(session: Session, plan: SnapshotPlan, images: dict[bytes, int]) -> None:
    """Close the sightings that left; open (or add) those of the current images."""
    t = cast(Table, SeriesImage.__table__)
    gone = [
        {"s": sid, "i": iid, "t": last} for sid, left in plan.leaving.items() for iid, last in left
    ]
    if gone:
        session.execute(
            update(t)
            .where(t.c.series_id == bindparam("s"), t.c.image_id == bindparam("i"))
            .values(seen_open=False, last_seen=bindparam("t")),
            gone,
        )
    at = {c.series_id: c.finished_at for c in plan.checks}
    seen = {
        (sid, images[h]): at[sid]
        for sid in plan.leaving  # the series whose set changed
        for h in plan.results[sid].hashes
    }
    rows = [
        {"series_id": s, "image_id": i, "first_seen": t, "last_seen": t, "seen_open": True}
        for (s, i), t in seen.items()
    ]
    if rows:
        stmt = dialect_insert(session)(t)
        upsert = stmt.on_conflict_do_update(
            index_elements=["series_id", "image_id"],
            set_={"seen_open": True, "last_seen": stmt.excluded.last_seen},
            where=t.c.seen_open.is_(False),  # an open one stays as it is
        )
        session.execute(upsert, rows)  # one statement, many rows (executemany)


def _insert_images(
    session: Session, fresh: dict[bytes, ImageItem], now: datetime
) -> dict[bytes, int]:
    """Insert images never seen before (skipping any another writer inserted meanwhile: a
    concurrent ``check`` and daemon never abort a round on ``url_hash``); the id of each."""
    rows = [
        {
            "url_hash": h,
            "image_url": item.image_url,
            "thumb_url": item.thumb_url,
            "page_url": item.page_url,
            "title": item.title,
            "domain": item.domain,
            "first_seen": now,
        }
        for h, item in fresh.items()
    ]
    return insert_ignoring(session, Image, rows, "url_hash")


def _previous(session: Session, series_ids: list[int]) -> dict[int, tuple[int | None, datetime]]:
    """Series id -> (image set id, finished_at) of its latest valid snapshot: one query per
    chunk, each series' snapshot found by walking its index backwards (as one lookup would)."""
    inner = aliased(Snapshot)
    latest = (
        select(inner.id)
        .where(
            inner.series_id == Series.id,
            inner.status.in_(OBSERVATION_VALUES),
            inner.late.is_(None),  # a late check is older than the series' latest
        )
        .order_by(inner.id.desc())
        .limit(1)
        .correlate(Series)
        .scalar_subquery()
    )
    out: dict[int, tuple[int | None, datetime]] = {}
    for chunk in chunks(series_ids):
        rows = session.execute(
            select(Snapshot.series_id, Snapshot.image_set_id, Snapshot.finished_at).where(
                Snapshot.id.in_(select(latest).where(Series.id.in_(chunk)))
            )
        )
        out.update({sid: (set_id, at) for sid, set_id, at in rows})
    return out
