"""``db verify``: recompute the snapshot log (``monitor.store.snapshot_log``) and name
what does not match: an entry whose fields were edited, a missing entry (a deleted
snapshot), a snapshot outside the log (an inserted one), a kept raw body whose bytes are not
those the log names (a swapped body), an image set whose members are not its digest, a head
that is not the last entry. It streams the snapshots in log order, so its memory does not
grow with the database.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core import loghash
from monitor.store.models import Image, ImageSet, ImageSetMember, LogHead, RawResponse, Snapshot
from monitor.store.snapshot_batch import set_digest
from monitor.store.snapshot_log import COLUMNS, SeriesName, fields_of, series_names

MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not match: ``what`` names it (entry, snapshot, file)."""

    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass
class LogCheck:
    """What ``verify`` found: the entries checked, the head, and the problems in the order
    found (the first is the first broken link)."""

    entries: int = 0
    head: str = loghash.GENESIS
    bodies: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, what: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(what, detail))

    @property
    def ok(self) -> bool:
        return not self.problems


def _logged(session: Session) -> Iterator[Any]:
    q = (
        select(*COLUMNS)
        .outerjoin(ImageSet, ImageSet.id == Snapshot.image_set_id)
        .where(Snapshot.log_seq.is_not(None))
        .order_by(Snapshot.log_seq)
        .execution_options(yield_per=5000)
    )
    yield from session.execute(q)


def _label(row: Any, names: dict[int, SeriesName]) -> str:
    person, term, source, _ = names.get(row.series_id, ("?", "?", "?", "?"))
    when = loghash.moment(row.finished_at)[:19] + "Z"
    return f"snapshot {row.id}, {person} / {term} on {source}, {when}"


def verify(session: Session) -> LogCheck:
    """Recompute the chain and check the kept bodies and image sets (module docstring)."""
    check = LogCheck()
    names = series_names(session)
    previous: str | None = loghash.GENESIS
    last = 0
    for row in _logged(session):
        if row.log_seq != last + 1:
            check.add(
                f"entry {last + 1}",
                f"missing before entry {row.log_seq} ({_label(row, names)}): "
                f"{row.log_seq - last - 1} snapshot(s) were deleted",
            )
            previous = None  # the missing entry's link is unknown: start again from here
        if previous is not None:
            expected = loghash.link(previous, fields_of(row, names, row.digest))
            if expected != row.log_hash:
                check.add(
                    f"entry {row.log_seq}",
                    f"{_label(row, names)}: its fields do not give its link "
                    "(the row, or one before it, was edited)",
                )
        previous, last = row.log_hash, row.log_seq
        check.entries += 1
    check.head = previous or check.head
    outside = session.scalar(
        select(Snapshot.id).where(Snapshot.log_seq.is_(None)).order_by(Snapshot.id).limit(1)
    )
    if outside is not None:
        check.add(f"snapshot {outside}", "is not in the log (inserted outside the monitor)")
    _check_head(session, check, last)
    _check_bodies(session, check)
    _check_sets(session, check)
    return check


def _check_head(session: Session, check: LogCheck, last: int) -> None:
    head = session.get(LogHead, 1)
    seq, link = (head.seq, head.head) if head is not None else (0, loghash.GENESIS)
    if seq != last or link != check.head:
        check.add(
            "head",
            f"says entry {seq} with link {link[:16]}…, the log ends at entry {last} "
            f"with {check.head[:16]}… (entries at the end were deleted, or the head edited)",
        )


def _check_bodies(session: Session, check: LogCheck) -> None:
    rows = session.execute(
        select(
            RawResponse.snapshot_id, RawResponse.sha256, RawResponse.body_gz, Snapshot.body_sha256
        )
        .join(Snapshot, Snapshot.id == RawResponse.snapshot_id)
        .order_by(RawResponse.snapshot_id)
        .execution_options(yield_per=200)
    )
    for snapshot_id, stated, body_gz, logged in rows:
        check.bodies += 1
        try:
            actual = hashlib.sha256(gzip.decompress(body_gz)).hexdigest()
        except (OSError, EOFError):
            actual = "unreadable"
        if actual != stated or stated != logged:
            check.add(
                f"snapshot {snapshot_id}",
                f"its kept raw body hashes to {actual[:16]}…, the log names "
                f"{(logged or 'no body')[:16]}… (the body was swapped)",
            )


def _check_sets(session: Session, check: LogCheck) -> None:
    rows = session.execute(
        select(ImageSet.id, ImageSet.digest, Image.url_hash)
        .outerjoin(ImageSetMember, ImageSetMember.set_id == ImageSet.id)
        .outerjoin(Image, Image.id == ImageSetMember.image_id)
        .order_by(ImageSet.id)
        .execution_options(yield_per=5000)
    )
    current: tuple[int, bytes] | None = None
    members: list[bytes] = []
    for set_id, digest, member in rows:
        if current is None or current[0] != set_id:
            _one_set(check, current, members)
            current, members = (set_id, digest), []
        if member is not None:
            members.append(member)
    _one_set(check, current, members)


def _one_set(check: LogCheck, current: tuple[int, bytes] | None, members: list[bytes]) -> None:
    if current is not None and set_digest(members) != current[1]:
        check.add(
            f"image set {current[0]}",
            "its members do not give its digest (an image was added to or removed from it)",
        )
