"""The outbox's operator queries (``store.outbox_admin``) on SQLite and on PostgreSQL:
deliveries waiting for a channel, the backlog ``/healthz`` shows, and ``resend``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from monitor.channels.dispatch import Dispatcher
from monitor.core.clock import FakeClock
from monitor.store import migrate, outbox_admin
from monitor.store.db import create_db_engine, session_factory
from monitor.store.models import Delivery
from tests.helpers.delivery import NOW, FakeChannel, add_alert, deliveries, permanent


async def test_waiting_backlog_and_resend_agree_on_both_backends(db_url: str) -> None:
    engine = create_db_engine(db_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [permanent("HTTP 410 Gone")])
    failed = add_alert(sessions, [hook.name], person="a")
    add_alert(sessions, ["webhook:gone"], person="b")
    d = Dispatcher(sessions, {hook.name: hook}, clock=clock)
    assert (await d.step()).failed == 1
    clock.advance(timedelta(minutes=10))
    with sessions() as session:
        assert outbox_admin.waiting_for_channel(session, [hook.name]) == {"webhook:gone": 1}
        facts = outbox_admin.backlog(session, clock())
    assert (facts.depth, facts.oldest, facts.failed, facts.overdue) == (1, NOW, 1, 1)
    with sessions() as session, session.begin():
        done = outbox_admin.resend(session, clock(), alert_ids=[failed], failed=True)
        assert outbox_admin.missing_alerts(session, [failed, 999]) == [999]
    assert [a for a, _, _ in done.rearmed] == [failed]
    assert (await d.step()).delivered == 1
    with sessions() as session, session.begin():
        session.execute(update(Delivery).values(state="delivered"))
        renewed = outbox_admin.resend(session, clock(), alert_ids=[failed]).renewed
    assert len(renewed) == 1 and renewed[0][2] != hook.sent[0].delivery_id
    assert {r.state for r in deliveries(sessions)} == {"pending", "delivered"}
    engine.dispose()
