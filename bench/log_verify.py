"""How long `absence-monitor db verify` takes over a database of N snapshots, and what
chaining costs a round's write.

    .venv/bin/python -m bench.log_verify --snapshots 100000

Builds an SQLite database (migrated by the monitor's own migrations) shaped like a year of
a real one: 5 sources x 100 people (500 series), their snapshots round by round, each
series moving between three result sets of 30 images, one check in 50 failed (no counts),
a kept healthy body of 60 KB per series and the held bodies of 20 drop alerts (4 each);
the snapshot log filled by the monitor's own rule (``monitor.core.loghash``). Then it prints
the median of ``--runs`` runs of `db verify` as a user runs it (a CLI process), of the
verification alone (in process), and of ``snapshot_log.append`` for a round of 100
snapshots (what every round's write pays).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.core import loghash
from monitor.core.observation import ImageItem, Observation, Status
from monitor.store import migrate
from monitor.store.db import create_db_engine, session_factory
from monitor.store.log_verify import verify
from monitor.store.models import (
    Image,
    ImageSet,
    ImageSetMember,
    LogHead,
    Person,
    RawResponse,
    Series,
    Snapshot,
    SourceRow,
    Term,
)
from monitor.store.snapshot_batch import set_digest, url_hash
from monitor.store.snapshot_log import append
from monitor.store.snapshots import record_snapshot

SOURCES, PEOPLE, SET_SIZE = 5, 100, 30
START = datetime(2025, 1, 1, tzinfo=UTC)


def body(series: int, n: int) -> bytes:
    """A 60 KB result page, different per check (compresses like HTML does)."""
    row = f"<li><a href='https://news.test/{series}/{n}/%d'><img src='x%d.jpg'></a></li>\n"
    return ("".join(row % (i, i * n) for i in range(900))).encode()[:60_000]


def build(path: Path, snapshots: int) -> None:
    engine = create_db_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(SourceRow), [{"name": f"s{s}", "kind": "bing_images"} for s in range(SOURCES)]
        )
        conn.execute(
            insert(Person), [{"name": f"p{p}", "role": "watch", "notes": ""} for p in range(PEOPLE)]
        )
        conn.execute(insert(Term), [{"person_id": p + 1, "text": f"p{p}"} for p in range(PEOPLE)])
        series = [
            {
                "person_id": p + 1,
                "term_id": p + 1,
                "source_id": s + 1,
                "vantage": "default",
                "role": "watch",
            }
            for s in range(SOURCES)
            for p in range(PEOPLE)
        ]
        conn.execute(insert(Series), series)
        names = {
            i + 1: (
                f"p{r['person_id'] - 1}",
                f"p{r['person_id'] - 1}",
                f"s{r['source_id'] - 1}",
                "default",
            )
            for i, r in enumerate(series)
        }
        # Each person's 40 images; each series moves between three sets of 30 of them.
        items = {
            p: [ImageItem(f"https://img.test/{p}/{i}.jpg") for i in range(40)]
            for p in range(PEOPLE)
        }
        conn.execute(
            insert(Image),
            [
                {"url_hash": url_hash(it), "image_url": it.image_url, "first_seen": START}
                for p in range(PEOPLE)
                for it in items[p]
            ],
        )
        image_id = {h: i for h, i in conn.execute(select(Image.url_hash, Image.id))}
        sets: dict[tuple[int, int], tuple[int, bytes]] = {}
        for p in range(PEOPLE):
            for k in range(3):
                chosen = items[p][k * 5 : k * 5 + SET_SIZE]
                hashes = [url_hash(it) for it in chosen]
                digest = set_digest(hashes)
                set_id = conn.execute(
                    insert(ImageSet).values(digest=digest, size=SET_SIZE)
                ).inserted_primary_key[0]
                conn.execute(
                    insert(ImageSetMember),
                    [
                        {"set_id": set_id, "image_id": image_id[h], "position": n}
                        for n, h in enumerate(hashes)
                    ],
                )
                sets[(p, k)] = (set_id, digest)
    per_series = snapshots // len(series)
    held = {(sid, per_series - 10 + k) for sid in range(1, 21) for k in range(4)}
    kept = {(sid, per_series - 1) for sid in names} | held
    rows: list[dict[str, Any]] = []
    raws: list[tuple[int, bytes]] = []
    link, seq = loghash.GENESIS, 0
    for n in range(per_series):
        at = START + timedelta(hours=6) * n
        for sid, name in names.items():
            seq += 1
            p = (sid - 1) % PEOPLE
            failed = (n + sid) % 50 == 0
            set_id, digest = sets[(p, (n // 70 + sid) % 3)]
            data = body(sid, n) if (sid, n) in kept else f"body {sid} {n}".encode()
            row = {
                "id": seq,
                "series_id": sid,
                "started_at": at,
                "finished_at": at + timedelta(seconds=2),
                "status": "blocked" if failed else "ok",
                "reason": "captcha" if failed else None,
                "http_status": 200,
                "image_count": None if failed else SET_SIZE,
                "reported_total": None,
                "domain_count": None if failed else 12,
                "pages": 1,
                "elapsed_ms": 900,
                "image_set_id": None if failed else set_id,
                "excluded": False,
                "body_sha256": None if failed else hashlib.sha256(data).hexdigest(),
            }
            link = loghash.link(
                link,
                loghash.entry(
                    series=name,
                    started_at=row["started_at"],
                    finished_at=row["finished_at"],
                    status=row["status"],
                    reason=row["reason"],
                    http_status=200,
                    image_count=row["image_count"],
                    reported_total=None,
                    domain_count=row["domain_count"],
                    image_set=None if failed else digest,
                    body_sha256=row["body_sha256"],
                ),
            )
            row.update(log_seq=seq, log_hash=link)
            rows.append(row)
            if (sid, n) in kept and not failed:
                raws.append((seq, data))
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Snapshot), rows[start : start + 5000])
        conn.execute(
            insert(RawResponse),
            [
                {
                    "snapshot_id": s,
                    "created_at": START,
                    "sha256": hashlib.sha256(d).hexdigest(),
                    "content_type": "text/html",
                    "size": len(d),
                    "body_gz": gzip.compress(d, 6),
                    "reason": "healthy",
                }
                for s, d in raws
            ],
        )
        conn.execute(update(LogHead).values(seq=seq, head=link, updated_at=START))
    engine.dispose()


def append_cost(path: Path, rounds: int) -> float:
    """Median seconds of ``append`` for a round of 100 new snapshots (rolled back)."""
    engine = create_db_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    times = []
    for _ in range(rounds):
        with sessions() as session, session.begin():
            snaps = [
                record_snapshot(
                    session,
                    series_id=sid,
                    observation=Observation(Status.OK, items=[]),
                    started_at=START,
                    finished_at=START,
                )
                for sid in range(1, 101)
            ]
            started = time.perf_counter()
            append(session, snaps, START)
            session.flush()
            times.append(time.perf_counter() - started)
            session.rollback()
    engine.dispose()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.db"
        started = time.perf_counter()
        build(path, args.snapshots)
        print(
            f"built {args.snapshots:,} snapshots in {time.perf_counter() - started:.1f} s "
            f"({path.stat().st_size / 2**20:.1f} MiB)"
        )
        cli, inner = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "--database",
                    f"sqlite:///{path}",
                    "db",
                    "verify",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            cli.append(time.perf_counter() - started)
            if done.returncode != 0:
                sys.exit(f"db verify failed: {done.stderr.strip()}")
            engine = create_db_engine(f"sqlite:///{path}")
            with Session(engine) as session:
                started = time.perf_counter()
                check = verify(session)
                inner.append(time.perf_counter() - started)
            engine.dispose()
            assert (
                check.ok
                and check.entries == args.snapshots // (SOURCES * PEOPLE) * SOURCES * PEOPLE
            )
        print(f"db verify (CLI process), median of {args.runs}: {statistics.median(cli):.2f} s")
        print(
            f"verification alone, median of {args.runs}: {statistics.median(inner):.2f} s "
            f"({check.entries:,} entries, {check.bodies} kept bodies)"
        )
        print(
            f"snapshot_log.append, a round of 100 snapshots, median of 5: "
            f"{append_cost(path, 5) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
