"""The outbox on a real (migrated) SQLite file: rows written by ``enqueue``, the conditional
``claim`` between two dispatchers, and claims left behind by processes that died.

Each "dispatcher" here is its own engine on the shared file, as two processes would be;
interleavings are played out step by step, in the order the test names.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from monitor.store import outbox
from monitor.store.models import Delivery
from tests.helpers.delivery import (
    NOW,
    add_alert,
    alerts,
    attempts,
    dead_pid,
    deliveries,
    new_db,
    open_sessions,
)


def hold(sessions: sessionmaker[Session], owner: str, until_offset: timedelta) -> None:
    """Leave every delivery 'sending' under ``owner``, as a dispatcher mid-send would."""
    with sessions() as session, session.begin():
        session.execute(
            update(Delivery).values(
                state="sending", claimed_by=owner, claimed_until=NOW + until_offset
            )
        )


def due(sessions: sessionmaker[Session], now: datetime = NOW) -> list[outbox.Batch]:
    # A fresh session that is closed right away, as Dispatcher.step does.
    with sessions() as session:
        return outbox.due_batches(session, now)


def claim(
    sessions: sessionmaker[Session], batch: outbox.Batch, owner: str, now: datetime = NOW
) -> bool:
    with sessions() as session, session.begin():
        won = outbox.claim(session, batch, owner, now)
        if not won:
            session.rollback()
        return won


def test_enqueue_writes_one_pending_delivery_per_channel(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    alert_id = add_alert(sessions, ["email", "webhook:ops", "webhook:pager"])
    rows = deliveries(sessions)
    assert sorted(d.channel for d in rows) == ["email", "webhook:ops", "webhook:pager"]
    assert all(d.alert_id == alert_id for d in rows)
    assert all(d.state == "pending" and d.attempts == 0 for d in rows)
    assert all(d.next_attempt_at == NOW for d in rows)
    assert len({d.delivery_uuid for d in rows}) == 3  # one message id per channel
    [alert] = alerts(sessions)
    assert alert.payload["alert_id"] == alert_id  # receivers see the stored id
    assert attempts(sessions) == []


def test_enqueue_with_no_channels_stores_the_alert_alone(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, [])
    assert len(alerts(sessions)) == 1
    assert deliveries(sessions) == []


def test_alerts_of_one_group_share_one_delivery_id_per_channel(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    for person in ("董经纬", "秦刚", "李尚福"):
        add_alert(sessions, ["email", "webhook:ops"], group_key="round:7:drop", person=person)
    add_alert(sessions, ["email", "webhook:ops"], person="王毅")  # not grouped
    by_channel: dict[str, set[str]] = {}
    for d in deliveries(sessions)[:6]:
        by_channel.setdefault(d.channel, set()).add(d.delivery_uuid)
    assert all(len(ids) == 1 for ids in by_channel.values())
    assert by_channel["email"] != by_channel["webhook:ops"]
    loner = {d.delivery_uuid for d in deliveries(sessions)[6:]}
    assert len(loner) == 2 and not loner & (by_channel["email"] | by_channel["webhook:ops"])


def test_due_batches_group_the_alerts_of_one_group_into_one_batch_per_channel(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    for person in ("董经纬", "秦刚", "李尚福"):
        add_alert(sessions, ["email", "webhook:ops"], group_key="round:7:drop", person=person)
    batches = due(sessions)
    assert sorted(b.channel for b in batches) == ["email", "webhook:ops"]
    for b in batches:
        assert len(b.delivery_ids) == 3
        assert [p["person"] for p in b.payloads] == ["董经纬", "秦刚", "李尚福"]


def test_a_retry_that_is_not_yet_due_is_not_in_the_due_batches(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["email"])
    with sessions() as session, session.begin():
        session.execute(update(Delivery).values(next_attempt_at=NOW + timedelta(minutes=1)))
    assert due(sessions) == []
    assert len(due(sessions, NOW + timedelta(minutes=1))) == 1


def test_second_claim_fails_when_another_dispatcher_is_sending(tmp_path: Path) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    add_alert(sessions_a, ["email"])
    [seen_by_a] = due(sessions_a)  # A computes its due batches...
    [seen_by_b] = due(sessions_b)
    assert claim(sessions_b, seen_by_b, "host-b:1:bbbb")  # ...B claims first...
    assert not claim(sessions_a, seen_by_a, "host-a:1:aaaa")  # ...so A's claim changes nothing
    [row] = deliveries(sessions_a)
    assert (row.state, row.claimed_by) == ("sending", "host-b:1:bbbb")


def test_second_claim_fails_when_another_dispatcher_has_delivered(tmp_path: Path) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    add_alert(sessions_a, ["email"])
    [seen_by_a] = due(sessions_a)
    [seen_by_b] = due(sessions_b)
    assert claim(sessions_b, seen_by_b, "host-b:1:bbbb")
    with sessions_b() as session, session.begin():
        state = outbox.record_attempt(
            session,
            seen_by_b,
            started=NOW,
            finished=NOW,
            error=None,
            permanent=False,
            next_attempt_at=None,
        )
    assert state == "delivered"
    assert not claim(sessions_a, seen_by_a, "host-a:1:aaaa")
    [row] = deliveries(sessions_a)
    assert row.state == "delivered" and row.attempts == 1
    assert len(attempts(sessions_a)) == 1


def test_second_claim_fails_when_another_dispatcher_has_scheduled_a_retry(
    tmp_path: Path,
) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    add_alert(sessions_a, ["email"])
    [seen_by_a] = due(sessions_a)
    [seen_by_b] = due(sessions_b)
    assert claim(sessions_b, seen_by_b, "host-b:1:bbbb")
    with sessions_b() as session, session.begin():
        outbox.record_attempt(
            session,
            seen_by_b,
            started=NOW,
            finished=NOW,
            error="HTTP 503",
            permanent=False,
            next_attempt_at=NOW + timedelta(seconds=30),
        )
    # A's batch is stale: the message was tried and is not due again for 30 s.
    assert not claim(sessions_a, seen_by_a, "host-a:1:aaaa")


def test_a_group_is_claimed_whole_or_not_at_all(tmp_path: Path) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    for person in ("董经纬", "秦刚"):
        add_alert(sessions_a, ["email"], group_key="round:1:drop", person=person)
    [seen_by_a] = due(sessions_a)
    # B took one row of the group (e.g. a batch cut short by due_batches' limit)
    first = deliveries(sessions_b)[0]
    with sessions_b() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id == first.id)
            .values(state="sending", claimed_by="host-b:1:bbbb", claimed_until=NOW + outbox.LEASE)
        )
    assert not claim(sessions_a, seen_by_a, "host-a:1:aaaa")
    # claim() reports the failure; the caller's rollback leaves the other row untouched
    assert [d.state for d in deliveries(sessions_a)] == ["sending", "pending"]


def test_claim_left_by_a_dead_pid_is_reclaimed_with_the_same_delivery_id(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    [before] = deliveries(sessions)
    dead = f"{socket.gethostname()}:{dead_pid()}:deadbeef"
    hold(sessions, dead, outbox.LEASE)  # the lease still runs: only the pid says it is gone
    [batch] = due(sessions)
    assert batch.delivery_uuid == before.delivery_uuid
    assert batch.dead_owners == (dead,)
    assert claim(sessions, batch, "host-a:1:aaaa")
    [row] = deliveries(sessions)
    assert (row.state, row.claimed_by) == ("sending", "host-a:1:aaaa")
    assert row.delivery_uuid == before.delivery_uuid


def test_two_dispatchers_reclaiming_one_dead_claim_do_not_both_win(tmp_path: Path) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    add_alert(sessions_a, ["webhook:ops"])
    hold(sessions_a, f"{socket.gethostname()}:{dead_pid()}:deadbeef", outbox.LEASE)
    [seen_by_a] = due(sessions_a)
    [seen_by_b] = due(sessions_b)
    assert claim(sessions_b, seen_by_b, "host-b:1:bbbb")
    assert not claim(sessions_a, seen_by_a, "host-a:1:aaaa")


def test_claim_held_by_a_live_other_process_within_its_lease_is_not_taken(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    live = f"{socket.gethostname()}:{os.getppid()}:cafe0001"  # our parent: alive, not us
    hold(sessions, live, outbox.LEASE)
    assert due(sessions) == []
    # Even a dispatcher that claims blindly (a stale batch) cannot take it.
    [row] = deliveries(sessions)
    stale = outbox.Batch(row.channel, row.delivery_uuid, (row.id,), ({},), 0)
    assert not claim(sessions, stale, "host-a:1:aaaa")
    assert deliveries(sessions)[0].claimed_by == live


def test_claim_held_by_another_host_waits_for_its_lease(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    hold(sessions, "some-other-host:1:cafe0002", outbox.LEASE)
    assert due(sessions) == []  # its pid cannot be checked from here
    assert due(sessions, NOW + outbox.LEASE - timedelta(seconds=1)) == []
    after = NOW + outbox.LEASE + timedelta(seconds=1)
    [batch] = due(sessions, after)
    with sessions() as session, session.begin():
        assert outbox.claim(session, batch, "host-a:1:aaaa", after)


def test_claim_with_an_expired_lease_is_reclaimed_even_from_a_live_process(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["webhook:ops"])
    live = f"{socket.gethostname()}:{os.getppid()}:cafe0003"
    hold(sessions, live, -timedelta(seconds=1))  # lease ran out a second ago
    [batch] = due(sessions)
    assert claim(sessions, batch, "host-a:1:aaaa")


def test_record_attempt_sets_each_outcome_and_writes_one_attempt_per_row(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    for person in ("董经纬", "秦刚"):
        add_alert(sessions, ["email"], group_key="round:1:drop", person=person)
    later = NOW + timedelta(minutes=2)
    outcomes = [
        ("boom", False, later, "pending"),
        ("boom again", False, None, "failed"),  # no retry time: the policy gave up
    ]
    for error, perm, retry_at, expected in outcomes:
        [batch] = due(sessions, later)
        assert claim(sessions, batch, "host-a:1:aaaa", later)
        with sessions() as session, session.begin():
            state = outbox.record_attempt(
                session,
                batch,
                started=later,
                finished=later,
                error=error,
                permanent=perm,
                next_attempt_at=retry_at,
                owner="host-a:1:aaaa",
            )
        assert state == expected
        rows = deliveries(sessions)
        assert {(d.state, d.attempts, d.last_error, d.claimed_by) for d in rows} == {
            (expected, outcomes.index((error, perm, retry_at, expected)) + 1, error, None)
        }
    assert len(attempts(sessions)) == 4  # two attempts, two rows each
    assert all(not a.ok for a in attempts(sessions))


def test_due_batches_never_split_a_group_at_the_limit(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    add_alert(sessions, ["email"], person="王毅")
    add_alert(sessions, ["email"], person="陈一新")
    for person in ("董经纬", "秦刚"):  # rows 3 and 4: the limit falls inside the group
        add_alert(sessions, ["email"], group_key="round:5:drop", person=person)
    with sessions() as session:
        batches = outbox.due_batches(session, NOW, limit=3)
    sizes = {b.delivery_uuid: len(b.delivery_ids) for b in batches}
    group_uuid = deliveries(sessions)[2].delivery_uuid
    # The group comes whole, or waits for the next pass: never a part of it.
    assert sizes.get(group_uuid, 2) == 2


def test_the_same_group_in_two_databases_gets_different_delivery_ids(tmp_path: Path) -> None:
    first = tmp_path / "vantage-cn"
    second = tmp_path / "vantage-us"
    first.mkdir()
    second.mkdir()
    ids = []
    for folder, person in ((first, "董经纬"), (second, "秦刚")):
        _, _, sessions = new_db(folder)
        add_alert(sessions, ["webhook:ops"], group_key="round:1:drop", person=person)
        [row] = deliveries(sessions)
        ids.append(row.delivery_uuid)
    assert ids[0] != ids[1]
