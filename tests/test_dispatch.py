"""The dispatcher over a real SQLite outbox with fake channels and a fake clock: delivered,
retried with bounded backoff, given up (``delivery_failed``), never sent twice by two
dispatchers, and never lost to a channel's bug or a dead process's claim."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from monitor.app import build
from monitor.channels.dispatch import Dispatcher, RetryPolicy
from monitor.cli.alerts import list_alerts
from monitor.cli.main import cli
from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.store.models import Delivery
from monitor.store.outbox import LEASE
from tests.helpers.delivery import (
    NOW,
    FakeChannel,
    add_alert,
    attempts,
    db_url,
    dead_pid,
    deliveries,
    new_db,
    open_sessions,
    permanent,
    transient,
    write_config,
)


class Extremes(random.Random):
    """An rng whose ``uniform`` returns the low or the high end of the range, in turn."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def dispatcher(sessions: Any, *channels: FakeChannel, clock: FakeClock, **policy: Any) -> Any:
    policy.setdefault("rng", random.Random(4))
    return Dispatcher(
        sessions, {c.name: c for c in channels}, clock=clock, policy=RetryPolicy(**policy)
    )


async def test_successful_send_is_delivered_with_one_attempt_row(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock, hook = FakeClock(NOW), FakeChannel("webhook:ops")
    add_alert(sessions, [hook.name])
    [pending] = deliveries(sessions)
    result = await dispatcher(sessions, hook, clock=clock).step()
    assert (result.delivered, result.retrying, result.failed, result.skipped) == (1, 0, 0, 0)
    [message] = hook.sent
    assert message.delivery_id == pending.delivery_uuid and message.channel == hook.name
    [row] = deliveries(sessions)
    assert (row.state, row.attempts, row.delivered_at, row.claimed_by) == (
        "delivered",
        1,
        NOW,
        None,
    )
    [attempt] = attempts(sessions)
    assert attempt.ok and attempt.error is None and attempt.delivery_id == row.id
    clock.advance(timedelta(days=1))
    assert (await dispatcher(sessions, hook, clock=clock).step()).handled == 0
    assert len(hook.sent) == 1


async def test_each_channel_gets_the_alert_once(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    mail, hook = FakeChannel("email"), FakeChannel("webhook:ops")
    add_alert(sessions, [mail.name, hook.name])
    result = await dispatcher(sessions, mail, hook, clock=clock).drain()
    assert result.delivered == 2
    assert len(mail.sent) == 1 and len(hook.sent) == 1
    assert mail.sent[0].delivery_id != hook.sent[0].delivery_id


async def test_a_group_goes_out_as_one_message_per_channel_with_one_stable_id(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    mail, hook = FakeChannel("email"), FakeChannel("webhook:ops", [transient()])
    for person in ("董经纬", "秦刚", "李尚福"):
        add_alert(sessions, [mail.name, hook.name], group_key="round:9:drop", person=person)
    d = dispatcher(sessions, mail, hook, clock=clock)
    result = await d.step()
    assert (result.delivered, result.retrying) == (1, 1)
    [mailed] = mail.sent
    assert mailed.is_batch and [a["person"] for a in mailed.alerts] == ["董经纬", "秦刚", "李尚福"]
    clock.advance(timedelta(hours=1))
    assert (await d.step()).delivered == 1
    first, retried = hook.sent
    assert first.delivery_id == retried.delivery_id  # stable across the retry
    assert len(retried.alerts) == 3
    rows = deliveries(sessions)
    assert {(r.channel, r.state, r.attempts) for r in rows} == {
        ("email", "delivered", 1),
        ("webhook:ops", "delivered", 2),
    }
    assert len(rows) == 6
    assert len(attempts(sessions)) == 3 + 3 * 2  # one attempt row per alert and try


async def test_transient_error_is_retried_when_the_clock_passes_the_backoff(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient("HTTP 503 Service Unavailable")])
    add_alert(sessions, [hook.name])
    d = dispatcher(sessions, hook, clock=clock, base=timedelta(seconds=30))
    result = await d.step()
    assert (result.delivered, result.retrying) == (0, 1)
    [row] = deliveries(sessions)
    assert (row.state, row.attempts, row.last_error) == (
        "pending",
        1,
        "HTTP 503 Service Unavailable",
    )
    delay = row.next_attempt_at - NOW
    assert timedelta(seconds=24) <= delay <= timedelta(seconds=36)  # 30 s ± 20%
    clock.advance(delay - timedelta(seconds=1))
    assert (await d.step()).handled == 0  # not before it is due
    assert len(hook.sent) == 1
    clock.advance(timedelta(seconds=1))
    assert (await d.step()).delivered == 1
    assert len(hook.sent) == 2
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == ("delivered", 2)
    assert [a.ok for a in attempts(sessions)] == [False, True]


def test_backoff_doubles_from_base_and_is_capped_within_the_jitter_bounds() -> None:
    base, cap = timedelta(seconds=30), timedelta(minutes=10)
    for high, factor in ((False, 0.8), (True, 1.2)):
        policy = RetryPolicy(max_attempts=100, base=base, cap=cap, rng=Extremes(high))
        delays = [policy.next_attempt(n, NOW) - NOW for n in range(1, 9)]  # type: ignore[operator]
        nominal = [30, 60, 120, 240, 480, 600, 600, 600]
        assert [d.total_seconds() for d in delays] == pytest.approx([s * factor for s in nominal])


def test_backoff_jitter_stays_within_twenty_percent_and_varies() -> None:
    policy = RetryPolicy(
        max_attempts=100,
        base=timedelta(seconds=30),
        cap=timedelta(hours=1),
        rng=random.Random(1),
    )
    for n in range(1, 20):
        nominal = min(3600.0, 30.0 * 2 ** (n - 1))
        seen = {(policy.next_attempt(n, NOW) - NOW).total_seconds() for _ in range(50)}  # type: ignore[operator]
        assert all(0.8 * nominal <= s <= 1.2 * nominal for s in seen)
        assert len(seen) > 1  # jittered: retries of many alerts do not fire in step


def test_backoff_gives_up_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_attempt(2, NOW) is not None
    assert policy.next_attempt(3, NOW) is None


async def test_retries_follow_the_growing_backoff_up_to_the_cap(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient()] * 7)
    add_alert(sessions, [hook.name])
    d = dispatcher(
        sessions,
        hook,
        clock=clock,
        base=timedelta(seconds=10),
        cap=timedelta(seconds=100),
        max_attempts=20,
    )
    gaps = []
    for _ in range(7):
        assert (await d.step()).retrying == 1
        [row] = deliveries(sessions)
        gaps.append((row.next_attempt_at - clock()).total_seconds())
        clock.now = row.next_attempt_at
    nominal = [10, 20, 40, 80, 100, 100, 100]
    assert all(0.8 * n <= g <= 1.2 * n for g, n in zip(gaps, nominal, strict=True)), gaps
    assert (await d.step()).delivered == 1
    assert len(hook.sent) == 8


async def test_permanent_error_fails_after_one_attempt(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [permanent("HTTP 410 Gone: no such hook")])
    add_alert(sessions, [hook.name])
    d = dispatcher(sessions, hook, clock=clock)
    assert (await d.step()).failed == 1
    [row] = deliveries(sessions)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "HTTP 410 Gone: no such hook")
    [attempt] = attempts(sessions)
    assert attempt.permanent and not attempt.ok
    clock.advance(timedelta(days=2))
    assert (await d.step()).handled == 0
    assert len(hook.sent) == 1


async def test_a_channel_no_longer_configured_leaves_its_delivery_pending_until_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 14 item 3: a renamed or removed channel used to fail its pending deliveries.
    _, _, sessions = new_db(tmp_path)
    clock, other = FakeClock(NOW), FakeChannel("webhook:ops")
    add_alert(sessions, ["webhook:renamed"])
    d = dispatcher(sessions, other, clock=clock)
    for _ in range(3):
        result = await d.step()
        assert (result.handled, result.waiting) == (0, 1)
        clock.advance(timedelta(hours=1))
    [row] = deliveries(sessions)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, None)
    assert attempts(sessions) == [] and other.sent == []
    warned = [r.getMessage() for r in caplog.records if "webhook:renamed" in r.getMessage()]
    assert len(warned) == 1 and "not in the config" in warned[0]  # logged once, not per pass
    back = FakeChannel("webhook:renamed")  # the config names it again (e.g. after SIGHUP)
    assert (await dispatcher(sessions, other, back, clock=clock).step()).delivered == 1
    assert [m.delivery_id for m in back.sent] == [row.delivery_uuid]


async def test_an_unexpected_exception_in_a_channel_does_not_lose_the_alert(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [KeyError("schema_version")])
    add_alert(sessions, [hook.name])
    d = dispatcher(sessions, hook, clock=clock)
    assert (await d.step()).retrying == 1
    [row] = deliveries(sessions)
    assert row.state == "pending" and row.next_attempt_at > NOW
    assert row.last_error == "KeyError: 'schema_version'"
    clock.advance(timedelta(hours=2))
    assert (await d.step()).delivered == 1
    assert deliveries(sessions)[0].state == "delivered"


async def test_max_attempts_gives_delivery_failed_in_list_alerts_and_alerts_list(
    tmp_path: Path,
) -> None:
    db, _, sessions = new_db(tmp_path)
    config_path = write_config(tmp_path, max_attempts=3)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient("HTTP 502 Bad Gateway")] * 5)
    app = build(load_config(config_path), database_url=db_url(db), clock=clock, channels=[hook])
    add_alert(app.sessions, [hook.name])
    states = []
    for _ in range(5):
        r = await app.dispatcher.step()
        states.append((r.retrying, r.failed))
        clock.advance(timedelta(hours=1))
    assert states == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    assert len(hook.sent) == 3
    [(alert, [delivery])] = list_alerts(app, 10)
    assert alert.event == "drop"
    assert (delivery.channel, delivery.state, delivery.attempts) == ("webhook:ops", "failed", 3)
    assert delivery.last_error == "HTTP 502 Bad Gateway"
    assert len(attempts(sessions)) == 3
    out = CliRunner().invoke(
        cli, ["--config", str(config_path), "--database", db_url(db), "alerts", "list"]
    )
    assert out.exit_code == 0, out.output
    assert "webhook:ops: delivery_failed (3 attempts) HTTP 502 Bad Gateway" in out.output


async def test_two_dispatchers_on_one_database_never_send_the_same_message_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from monitor.store import outbox

    both_read = threading.Barrier(2, timeout=5)
    read = outbox.due_batches

    def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        batches = read(*args, **kwargs)
        both_read.wait()  # the reads run in threads: make both read before either claims
        return batches

    monkeypatch.setattr(outbox, "due_batches", read_then_wait)
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    clock = FakeClock(NOW)
    hook_a, hook_b = FakeChannel("webhook:ops"), FakeChannel("webhook:ops")
    for n in range(5):
        add_alert(sessions_a, [hook_a.name], person=f"person {n}")
    a = dispatcher(sessions_a, hook_a, clock=clock)
    b = dispatcher(sessions_b, hook_b, clock=clock)
    # Both compute their due batches before either claims.
    ra, rb = await asyncio.gather(a.step(), b.step())
    assert ra.delivered + rb.delivered == 5
    assert ra.skipped + rb.skipped == 5  # each message was seen by both, claimed by one
    sent = [m.delivery_id for m in hook_a.sent + hook_b.sent]
    assert len(sent) == 5 and len(set(sent)) == 5
    assert len(attempts(sessions_a)) == 5


async def test_a_claim_left_by_a_dead_process_is_resent_with_the_same_delivery_id(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops")
    add_alert(sessions, [hook.name])
    dead = f"{socket.gethostname()}:{dead_pid()}:0badc0de"
    with sessions() as session, session.begin():
        session.execute(
            update(Delivery).values(state="sending", claimed_by=dead, claimed_until=NOW + LEASE)
        )
    [held] = deliveries(sessions)
    assert (await dispatcher(sessions, hook, clock=clock).step()).delivered == 1
    [message] = hook.sent
    assert message.delivery_id == held.delivery_uuid
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == ("delivered", 1)


async def test_a_claim_held_by_a_live_process_within_its_lease_is_left_alone(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops")
    add_alert(sessions, [hook.name])
    live = f"{socket.gethostname()}:{os.getppid()}:0badc0de"
    with sessions() as session, session.begin():
        session.execute(
            update(Delivery).values(state="sending", claimed_by=live, claimed_until=NOW + LEASE)
        )
    d = dispatcher(sessions, hook, clock=clock)
    assert (await d.step()).handled == 0
    clock.advance(LEASE - timedelta(seconds=1))
    assert (await d.step()).handled == 0
    assert hook.sent == []
    clock.advance(timedelta(seconds=2))  # the lease ran out: the holder is presumed stuck
    assert (await d.step()).delivered == 1


async def test_drain_stops_when_nothing_is_due(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient()])
    add_alert(sessions, [hook.name])
    add_alert(sessions, [hook.name])
    result = await dispatcher(sessions, hook, clock=clock).drain()
    # one delivered, one waiting for its backoff; the clock does not move, so drain stops
    assert (result.delivered, result.retrying) == (1, 1)
    assert len(hook.sent) == 2


async def test_concurrency_limits_the_sends_in_flight(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    hook = FakeChannel("webhook:ops")
    for n in range(4):
        add_alert(sessions, [hook.name], person=f"person {n}")
    d = Dispatcher(sessions, {hook.name: hook}, clock=FakeClock(NOW), concurrency=1)
    assert (await d.step()).delivered == 4
    assert hook.max_in_flight == 1


class Stalled(FakeChannel):
    """A channel whose send waits for ``gate`` and then fails transiently (a slow receiver)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def send(self, message: Any) -> None:
        self.sent.append(message)
        self.started.set()
        await self.gate.wait()
        raise transient("timed out after 15s")


async def test_a_late_failure_from_an_expired_claim_does_not_undo_a_delivery(
    tmp_path: Path,
) -> None:
    path, _, sessions_a = new_db(tmp_path)
    _, sessions_b = open_sessions(path)
    clock = FakeClock(NOW)
    slow, hook_b = Stalled("webhook:ops"), FakeChannel("webhook:ops")
    add_alert(sessions_a, [slow.name])
    a = dispatcher(sessions_a, slow, clock=clock)
    b = dispatcher(sessions_b, hook_b, clock=clock)
    stuck = asyncio.create_task(a.step())
    await slow.started.wait()  # A has claimed and is sending
    clock.advance(LEASE + timedelta(seconds=1))  # A's lease runs out while it is stuck
    assert (await b.step()).delivered == 1  # B takes over: the one documented duplicate
    slow.gate.set()
    await stuck  # A's send finally fails
    [row] = deliveries(sessions_a)
    assert row.state == "delivered"
    clock.advance(timedelta(hours=2))
    await b.step()
    assert len(hook_b.sent) == 1  # no third copy
