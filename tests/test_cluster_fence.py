"""Every write of a cluster's leader is fenced (``App.led_by``, ``store.cluster.fenced_sessions``):
a node deposed (paused past its lease while another took over) delivers, prunes, archives
and time-stamps nothing, even when it was deposed in the middle of the step; a delivery it
sent but could not record goes out again under the same delivery id, never a new one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.alerts.payload import Message
from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.evidence.timestamps import Stamper
from monitor.store import catalog, outbox, snapshot_log
from monitor.store import cluster as leadership
from monitor.store.bodies import RawBody
from monitor.store.cluster import StaleEpoch
from monitor.store.evidence import keep_raw
from monitor.store.models import ArchiveCapture, LogTimestamp, RawResponse
from monitor.store.snapshots import record_snapshot
from monitor.testing import LocalServer
from tests.helpers.backends import fresh_postgres
from tests.helpers.cluster import ADMIN_URL, needs_postgres
from tests.helpers.delivery import FakeChannel, add_alert, attempts, deliveries
from tests.helpers.spn2 import KEY, SECRET, Archive

pytestmark = needs_postgres
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Epoch:
    """The epoch a node believes it leads under (None: it knows it does not lead)."""

    def __init__(self) -> None:
        self.value: int | None = None

    def __call__(self) -> int | None:
        return self.value


@dataclass
class World:
    app: App  # the node's app, its leader's work fenced under ``epoch``
    epoch: Epoch
    clock: FakeClock
    hook: FakeChannel
    archive: Archive
    server: LocalServer

    def take_over(self, node: str) -> int:
        with self.app.sessions() as session, session.begin():
            return leadership.take_over(session, node, timedelta(seconds=15))

    def lead(self) -> None:
        self.epoch.value = self.take_over("a")

    def count(self, model: type) -> int:
        with self.app.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def world() -> Iterator[World]:
    assert ADMIN_URL
    archive = Archive()
    server = archive.serve()
    with fresh_postgres(ADMIN_URL) as url:
        config = parse_config(
            f"""\
database: {{url: "{url}"}}
people: [{{name: Dong Jingwei}}]
sources: {{baidu: {{kind: baidu_images}}}}
evidence:
  raw_retention: 1s
  archive:
    wayback: {{enabled: true, access_key: "{KEY}", secret_key: "{SECRET}", url: "{server.url}"}}
cluster: {{enabled: true}}
""",
            "config.yaml",
            {},
        )
        clock, hook, epoch = FakeClock(T0), FakeChannel("webhook:ops"), Epoch()
        app = build(config, channels=[hook], clock=clock).led_by(epoch)
        try:
            app.migrate()
            yield World(app, epoch, clock, hook, archive, server)
        finally:
            server.stop()
            app.engine.dispose()


async def test_a_deposed_leader_delivers_nothing_and_writes_nothing(world: World) -> None:
    world.lead()
    add_alert(world.app.sessions, [world.hook.name], now=T0)
    world.take_over("b")  # while "a" was paused
    with pytest.raises(StaleEpoch):
        await world.app.dispatcher.step()
    assert world.hook.sent == []
    [row] = deliveries(world.app.sessions)
    assert (row.state, row.attempts, row.claimed_by) == ("pending", 0, None)


async def test_a_node_that_does_not_lead_delivers_nothing(world: World) -> None:
    add_alert(world.app.sessions, [world.hook.name], now=T0)
    with pytest.raises(StaleEpoch):
        await world.app.dispatcher.step()
    assert world.hook.sent == [] and attempts(world.app.sessions) == []


async def test_a_leader_deposed_during_its_send_records_nothing_and_is_resent_with_its_id(
    world: World,
) -> None:
    world.lead()
    add_alert(world.app.sessions, [world.hook.name], now=T0)

    class Deposing(FakeChannel):
        """Sends, then the sender is paused and "b" takes over before it records."""

        successor: int | None = None

        async def send(self, message: Message) -> None:
            await super().send(message)
            self.successor = world.take_over("b")

    first = Deposing(world.hook.name)
    world.app.dispatcher.channels = {first.name: first}
    with pytest.raises(StaleEpoch):
        await world.app.dispatcher.step()
    assert attempts(world.app.sessions) == []  # the attempt was refused with the epoch
    [row] = deliveries(world.app.sessions)
    assert row.state == "sending"
    # "b" leads: once the claim of the paused node runs out, it sends the same delivery.
    b = build(world.app.config, engine=world.app.engine, channels=[world.hook], clock=world.clock)
    b = b.led_by(lambda: first.successor)
    world.clock.advance(outbox.LEASE + timedelta(seconds=1))
    assert (await b.dispatcher.step()).delivered == 1
    [sent] = first.sent
    [again] = world.hook.sent
    assert again.delivery_id == sent.delivery_id == row.delivery_uuid
    [row] = deliveries(world.app.sessions)
    assert (row.state, row.attempts) == ("delivered", 1)


async def test_the_leader_sends_at_once_what_a_deposed_leader_elsewhere_claimed(
    world: World,
) -> None:
    world.lead()
    add_alert(world.app.sessions, [world.hook.name], now=T0)
    with world.app.sessions() as session, session.begin():
        [batch] = outbox.due_batches(session, T0)
        # Claimed by the leader before, on another machine, killed before its record:
        # nothing here can tell whether that process still runs.
        assert outbox.claim(session, batch, "elsewhere:4242:0badcafe", T0)
    single = build(world.app.config, engine=world.app.engine, channels=[world.hook])
    single.dispatcher.clock = world.clock
    assert (await single.dispatcher.step()).handled == 0  # one daemon waits for the lease
    # The leader is the only sender: the claim is a deposed leader's, taken over now.
    assert (await world.app.dispatcher.step()).delivered == 1
    [sent] = world.hook.sent
    assert sent.delivery_id == batch.delivery_uuid


async def test_a_leader_paused_between_its_claim_and_the_send_does_not_send(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.lead()
    add_alert(world.app.sessions, [world.hook.name], now=T0)
    claim = outbox.claim

    def claimed_then_paused(*args: Any, **kwargs: Any) -> bool:
        done = claim(*args, **kwargs)
        world.epoch.value = None  # woken past its lease: the election says it does not lead
        return done

    monkeypatch.setattr(outbox, "claim", claimed_then_paused)
    result = await world.app.dispatcher.step()
    assert (result.delivered, result.skipped) == (0, 1)
    assert world.hook.sent == []


def test_a_deposed_leader_prunes_nothing(world: World) -> None:
    with world.app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, world.app.config) if r.role == "watch"]
        for n in range(3):
            obs = Observation(Status.OK, items=[], raw=f"answer {n}".encode())
            snap = record_snapshot(
                session, series_id=ref.series_id, observation=obs, started_at=T0, finished_at=T0
            )
            keep_raw(session, snap, RawBody.of(obs), "suspect")
    world.clock.advance(timedelta(days=400))
    world.lead()
    world.take_over("b")
    with pytest.raises(StaleEpoch):
        world.app.prune()
    assert world.count(RawResponse) == 3
    world.lead()  # leading again, under a new epoch: now it prunes
    assert world.app.prune().removed == 3


async def test_a_deposed_leader_archives_nothing(world: World) -> None:
    world.lead()
    archiver = world.app.archiver()
    assert archiver is not None
    await archiver.step()  # the first step only sets the cursors
    with world.app.sessions() as session, session.begin():
        watch = [r for r in catalog.sync(session, world.app.config) if r.role == "watch"]
        items = [ImageItem("https://img.test/1.jpg", None, "https://news.test/a", "t")]
        record_snapshot(
            session,
            series_id=watch[0].series_id,
            observation=Observation(Status.OK, items=items),
            started_at=T0,
            finished_at=T0,
        )
    world.take_over("b")
    with pytest.raises(StaleEpoch):
        await archiver.step()
    assert world.count(ArchiveCapture) == 0 and world.archive.submitted == []
    world.lead()
    await archiver.step()
    assert world.archive.submitted == ["https://news.test/a"]
    await archiver.aclose()


async def test_a_leader_deposed_while_it_asked_for_a_time_stamp_keeps_no_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.app.sessions() as session, session.begin():
        [ref] = [r for r in catalog.sync(session, world.app.config) if r.role == "watch"]
        snap = record_snapshot(
            session,
            series_id=ref.series_id,
            observation=Observation(Status.OK, items=[]),
            started_at=T0,
            finished_at=T0,
        )
        snapshot_log.append(session, [snap], T0)
    world.lead()
    stamper = Stamper(world.app.leader_sessions, "http://127.0.0.1:9/tsa", clock=world.clock)

    async def ask(self: Stamper, digest: bytes) -> tuple[bytes, datetime]:
        world.take_over("b")  # the answer came after the node was deposed
        return b"token", T0

    monkeypatch.setattr(Stamper, "_ask", ask)
    with pytest.raises(StaleEpoch):
        await stamper.step()
    assert world.count(LogTimestamp) == 0


def test_every_transaction_of_the_leader_s_sessions_opens_with_the_fence(world: World) -> None:
    world.lead()
    with world.app.leader_sessions() as session:
        assert leadership.leader_state(session).node == "a"  # leading: it reads and writes
    world.take_over("b")
    with pytest.raises(StaleEpoch), world.app.leader_sessions() as session:
        session.execute(select(1))  # even a read: the fence comes first
