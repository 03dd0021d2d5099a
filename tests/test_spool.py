"""The node's local spool and the staged form of a check: what goes in comes back the same,
forwarded oldest first, and a batch leaves the spool only after it was sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.errors import DatabaseError
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked
from monitor.rounds.staging import checked_of, new_check_id, staged_row
from monitor.store.bodies import RawBody
from monitor.store.catalog import SeriesRef
from monitor.store.spool import Spool, StagedRow

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
REF = SeriesRef("bing", "Dong Jingwei", "Dong Jingwei", "cn-beijing", "watch", 7, 3, 2, "en")


def observed(n: int = 2, raw: bytes | None = b"<html>page</html>") -> Observation:
    items = [
        ImageItem(
            f"https://img.example/{i}.jpg",
            f"https://t.example/{i}",
            "https://p.example/a",
            "t",
            None,
        )
        for i in range(n)
    ]
    return Observation(
        Status.OK,
        items=items,
        reported_total=1200,
        http_status=200,
        pages=1,
        elapsed_ms=321,
        raw=raw,
        raw_content_type="text/html",
        raw_url="https://engine.example/search?q=x",
        raw_request='{"method": "GET"}',
    )


def checked(obs: Observation, kept: str | None = None, *, compress: bool = True) -> Checked:
    body = RawBody.ready(obs, kept, compress=compress)
    return Checked(REF, obs, T0, T0 + timedelta(seconds=1), body)


def row(c: Checked, slot: int = 100) -> StagedRow:
    return staged_row(
        c, check_id=new_check_id(), slot=slot, node="n1", kind="scheduled", staged_at=T0
    )


def test_staged_check_comes_back_as_the_same_checked() -> None:
    c = checked(observed())
    back = checked_of(row(c), REF)
    assert back.observation == c.observation
    assert (back.started_at, back.finished_at, back.ref) == (c.started_at, c.finished_at, REF)
    assert back.raw is not None and c.raw is not None
    assert back.raw.body_gz == c.raw.body_gz
    assert (back.raw.sha256, back.raw.size, back.raw.final_url, back.raw.request) == (
        c.raw.sha256,
        c.raw.size,
        c.raw.final_url,
        c.raw.request,
    )


def test_staged_unchanged_body_stays_a_digest_only() -> None:
    digest = RawBody.of(observed()).sha256  # type: ignore[union-attr]
    r = row(checked(observed(), kept=digest))
    assert r["body"] is None and r["body_sha256"] == digest
    back = checked_of(r, REF)
    assert back.raw is not None and back.raw.unchanged and back.raw.sha256 == digest


def test_staged_failed_check_has_no_body_and_no_items() -> None:
    obs = Observation(Status.BLOCKED, reason="captcha", http_status=200, pages=1, raw=b"x")
    r = row(checked(obs))
    assert (r["body"], r["body_sha256"]) == (None, None)
    back = checked_of(r, REF)
    assert back.raw is None
    assert back.observation.status is Status.BLOCKED and back.observation.image_count is None


def test_spool_gives_back_rows_as_put(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    r = row(checked(observed()))
    assert spool.put([r]) == 1
    assert spool.depth() == 1
    (back,) = spool.oldest(10)
    assert back == r
    assert checked_of(back, REF).observation == checked_of(r, REF).observation


def test_spool_keeps_a_check_id_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    r = row(checked(observed()))
    spool.put([r])
    spool.put([r])
    assert spool.depth() == 1


def test_spool_forwards_oldest_first_in_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    rows = [row(checked(observed(1)), slot=s) for s in range(5)]
    for r in rows:
        spool.put([r])
    sent: list[list[int]] = []
    assert spool.forward(lambda batch: sent.append([r["slot"] for r in batch]), batch=2) == 5
    assert sent == [[0, 1], [2, 3], [4]]
    assert spool.depth() == 0


def test_spool_keeps_a_batch_whose_send_failed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    spool.put([row(checked(observed(1)), slot=s) for s in range(3)])
    calls = 0

    def send(batch: list[StagedRow]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("postgres went away")

    with pytest.raises(ConnectionError):
        spool.forward(send, batch=2)
    assert [r["slot"] for r in spool.oldest(10)] == [2]


def test_spool_survives_the_process(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    first = Spool(path)
    first.put([row(checked(observed()))])
    first.close()
    assert Spool(path).depth() == 1


def test_spool_in_a_missing_directory_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"cluster\.spool: directory .*nope does not exist"):
        Spool(tmp_path / "nope" / "spool.sqlite")
