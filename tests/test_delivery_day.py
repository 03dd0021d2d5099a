"""Delivery keeps trying for a day (issue 14, item 3): the default schedule, its config,
``alerts resend`` and the failed and overdue deliveries in ``/healthz`` and ``/metrics``.

A fake clock moves time; receivers are real HTTP servers on 127.0.0.1 where it matters.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from monitor.app import build
from monitor.channels.dispatch import Dispatcher, RetryPolicy
from monitor.cli.main import cli
from monitor.config import DEFAULT_RETRY_SCHEDULE, load_config, parse_config
from monitor.core.clock import FakeClock
from monitor.core.errors import ConfigError
from monitor.core.metrics import Metrics
from monitor.daemon.server import StatusServer
from monitor.store import outbox_admin
from monitor.store.models import Delivery, Heartbeat
from monitor.testing import LocalServer
from tests.helpers.delivery import (
    NOW,
    FakeChannel,
    Receiver,
    add_alert,
    attempts,
    db_url,
    deliveries,
    new_db,
    permanent,
    transient,
    write_config,
)

DAY = timedelta(hours=24)


class Low(random.Random):
    """An rng at the low end of every jitter range: the shortest the schedule can be."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_the_default_schedule_keeps_trying_for_over_a_day_even_at_the_lowest_jitter() -> None:
    policy = RetryPolicy(rng=Low())
    waits, now = [], NOW
    for done in range(1, 20):
        later = policy.next_attempt(done, now)
        if later is None:
            break
        waits.append(later - now)
        now = later
    assert policy.max_attempts == len(waits) + 1 == 9
    assert sum(waits, timedelta()) >= DAY
    assert [w / 0.8 for w in waits] == list(DEFAULT_RETRY_SCHEDULE)


async def test_a_receiver_down_for_a_day_still_gets_the_alert(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient("HTTP 503 Service Unavailable")] * 8)
    add_alert(sessions, [hook.name])
    d = Dispatcher(sessions, {hook.name: hook}, clock=clock, policy=RetryPolicy(rng=Low()))
    for _ in range(8):
        assert (await d.step()).retrying == 1
        clock.now = deliveries(sessions)[0].next_attempt_at
    assert clock.now - NOW >= DAY  # the ninth attempt comes more than a day later
    assert (await d.step()).delivered == 1
    assert len({m.delivery_id for m in hook.sent}) == 1 and len(hook.sent) == 9


async def test_after_the_last_attempt_the_delivery_is_failed(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [transient()] * 9)
    add_alert(sessions, [hook.name])
    d = Dispatcher(sessions, {hook.name: hook}, clock=clock)
    results = []
    for _ in range(9):
        r = await d.step()
        results.append((r.retrying, r.failed))
        clock.now = deliveries(sessions)[0].next_attempt_at
    assert results == [(1, 0)] * 8 + [(0, 1)]
    assert deliveries(sessions)[0].state == "failed"


def config_text(alerts: str) -> str:
    return (
        "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n"
        f"alerts:\n{alerts}"
    )


def test_retry_schedule_comes_from_the_config() -> None:
    config = parse_config(config_text("  retry_schedule: [10s, 1m, 2h]\n"), "c.yaml", {})
    app = build(config, database_url="sqlite://", channels=[])
    assert app.dispatcher.policy.schedule == (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(hours=2),
    )
    assert app.dispatcher.policy.max_attempts == 4


def test_config_check_says_how_long_delivery_keeps_trying() -> None:
    from monitor.config.summary import config_summary

    summary = config_summary(parse_config(config_text("  dispatch_every: 5s\n"), "c.yaml", {}))
    assert "delivery: 9 attempts over 31.6 h, then failed" in summary.splitlines()


def test_the_older_doubling_keys_still_give_a_capped_schedule() -> None:
    alerts = "  max_attempts: 100\n  backoff: 1s\n  max_backoff: 2s\n"
    config = parse_config(config_text(alerts), "c.yaml", {})
    waits = config.alerts.retry_delays()
    assert len(waits) == 99 and waits[:3] == (timedelta(seconds=1), *[timedelta(seconds=2)] * 2)
    assert max(waits) == timedelta(seconds=2)  # doubling 99 times must not overflow


def test_retry_schedule_and_the_older_keys_together_are_one_line_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config_text("  retry_schedule: [10s]\n  max_attempts: 3\n"), "c.yaml", {})
    assert "retry_schedule" in str(err.value) and "not both" in str(err.value)
    assert "\n" not in str(err.value)


# --- resend ------------------------------------------------------------------------------


async def test_resend_rearms_a_failed_delivery_under_its_id_with_a_fresh_schedule(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [permanent("HTTP 422 Unprocessable Entity")])
    add_alert(sessions, [hook.name], group_key="round:1:drop", person="a")
    add_alert(sessions, [hook.name], group_key="round:1:drop", person="b")
    d = Dispatcher(sessions, {hook.name: hook}, clock=clock)
    assert (await d.step()).failed == 1
    clock.advance(timedelta(days=3))
    with sessions() as session, session.begin():
        done = outbox_admin.resend(session, clock(), failed=True)
    assert len(done.rearmed) == 2 and done.renewed == []
    rows = deliveries(sessions)
    assert {(r.state, r.attempts, r.next_attempt_at) for r in rows} == {("pending", 0, clock())}
    assert (await d.step()).delivered == 1
    first, again = hook.sent
    assert again.delivery_id == first.delivery_id and len(again.alerts) == 2
    assert len(attempts(sessions)) == 4  # the failed attempts are kept beside the new ones


async def test_resend_of_one_alert_of_a_failed_group_rearms_the_whole_message(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook = FakeChannel("webhook:ops", [permanent()])
    first = add_alert(sessions, [hook.name], group_key="round:1:drop", person="a")
    add_alert(sessions, [hook.name], group_key="round:1:drop", person="b")
    d = Dispatcher(sessions, {hook.name: hook}, clock=clock)
    await d.step()
    with sessions() as session, session.begin():
        done = outbox_admin.resend(session, clock(), alert_ids=[first])
    assert sorted(a for a, _, _ in done.rearmed) == [first, first + 1]
    assert (await d.step()).delivered == 1
    assert len(hook.sent[-1].alerts) == 2


async def test_resend_of_a_delivered_alert_is_a_new_delivery_id_sent_alone(
    tmp_path: Path,
) -> None:
    _, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    hook, mail = FakeChannel("webhook:ops"), FakeChannel("email")
    first = add_alert(sessions, [hook.name, mail.name], group_key="round:1:drop", person="a")
    add_alert(sessions, [hook.name, mail.name], group_key="round:1:drop", person="b")
    d = Dispatcher(sessions, {hook.name: hook, mail.name: mail}, clock=clock)
    assert (await d.step()).delivered == 2
    with sessions() as session, session.begin():
        done = outbox_admin.resend(session, clock(), alert_ids=[first], channel=hook.name)
    [(alert_id, channel, new_id)] = done.renewed
    assert (alert_id, channel) == (first, hook.name)
    assert (await d.step()).delivered == 1
    original, resent = hook.sent
    assert resent.delivery_id == new_id != original.delivery_id
    assert [a["person"] for a in resent.alerts] == ["a"]
    assert len(mail.sent) == 1  # another channel is not touched


def test_resend_leaves_a_pending_delivery_on_its_way(tmp_path: Path) -> None:
    _, _, sessions = new_db(tmp_path)
    alert_id = add_alert(sessions, ["webhook:ops"])
    with sessions() as session, session.begin():
        done = outbox_admin.resend(session, NOW, alert_ids=[alert_id])
    assert (done.rearmed, done.renewed) == ([], [])
    assert done.untouched == [(alert_id, "webhook:ops", "pending")]


def test_alerts_resend_without_ids_or_failed_is_a_usage_error(tmp_path: Path) -> None:
    db, _, _ = new_db(tmp_path)
    config = write_config(tmp_path)
    out = CliRunner().invoke(
        cli, ["--config", str(config), "--database", db_url(db), "alerts", "resend"]
    )
    assert out.exit_code == 2
    assert "give alert IDs" in out.output


def test_alerts_resend_of_an_unknown_alert_is_a_one_line_error(tmp_path: Path) -> None:
    db, _, _ = new_db(tmp_path)
    config = write_config(tmp_path)
    out = CliRunner().invoke(
        cli, ["--config", str(config), "--database", db_url(db), "alerts", "resend", "42"]
    )
    assert out.exit_code == 2
    assert out.output.strip() == "error: no alert 42 (see alerts list)"


@pytest.mark.e2e
def test_alerts_resend_failed_sends_to_the_fixed_receiver_under_the_same_id(
    tmp_path: Path,
) -> None:
    peer = Receiver(statuses=[422])  # the receiver refuses the payload: failed at once
    with LocalServer(peer) as server:
        db, _, _ = new_db(tmp_path)
        config = write_config(tmp_path, webhook_url=f"{server.url}/hook")
        clock = FakeClock(NOW)
        app = build(load_config(config), database_url=db_url(db), clock=clock)
        add_alert(app.sessions, list(app.channels))
        assert asyncio.run(app.dispatcher.step()).failed == 1
        out = CliRunner().invoke(
            cli, ["--config", str(config), "--database", db_url(db), "alerts", "resend", "--failed"]
        )
        assert out.exit_code == 0, out.output
        [row] = deliveries(app.sessions)
        assert f"via webhook:ops: re-armed, same delivery id {row.delivery_uuid}" in out.output
        assert "sent: 1 delivered, 0 to retry, 0 failed" in out.output
    assert peer.answered == [(row.delivery_uuid, 422), (row.delivery_uuid, 200)]
    assert (row.state, row.attempts) == ("delivered", 1)


# --- /healthz and /metrics ---------------------------------------------------------------


@pytest.mark.e2e
def test_healthz_and_metrics_show_failed_and_overdue_deliveries(tmp_path: Path) -> None:
    db, _, sessions = new_db(tmp_path)
    clock = FakeClock(NOW)
    app = build(load_config(write_config(tmp_path)), database_url=db_url(db), clock=clock)
    failed = add_alert(sessions, ["webhook:ops"], person="a")
    add_alert(sessions, ["webhook:gone"], person="b")  # due now, and nobody sends it
    with sessions() as session, session.begin():
        session.execute(update(Delivery).where(Delivery.alert_id == failed).values(state="failed"))
    clock.advance(timedelta(minutes=10))
    with sessions() as session, session.begin():
        session.add(Heartbeat(instance="t", pid=1, host="h", started_at=NOW, beat_at=clock()))
    metrics = Metrics()
    with sessions() as session:
        metrics.observe_outbox(outbox_admin.backlog(session, clock()), clock())
    server = StatusServer(app, metrics, "127.0.0.1", 0)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        health = httpx.get(f"{base}/healthz", trust_env=False)
        text = httpx.get(f"{base}/metrics", trust_env=False).text
    finally:
        server.stop()
    facts = json.loads(health.text)
    assert health.status_code == 200  # degraded: the daemon runs; a restart would not help
    assert (facts["status"], facts["ok"]) == ("degraded", True)
    assert (facts["deliveries_failed"], facts["deliveries_overdue"]) == (1, 1)
    assert facts["warnings"][0].startswith("1 delivery(ies) failed")
    assert "absence_deliveries_failed 1.0" in text
    assert "absence_deliveries_overdue 1.0" in text


def test_the_documented_retry_schedule_example_is_valid_and_as_described() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "retry_schedule" in b]
    indented = "".join(f"  {line}\n" for line in example.splitlines()[1:])
    config = parse_config(config_text(indented), "c.yaml", {})
    waits = config.alerts.retry_delays()
    assert len(waits) + 1 == 7 and timedelta(hours=31) <= sum(waits, timedelta())


def test_alerts_list_says_a_delivery_waits_for_a_channel_not_in_the_config(
    tmp_path: Path,
) -> None:
    db, _, sessions = new_db(tmp_path)
    config = write_config(tmp_path)  # no channels at all
    add_alert(sessions, ["webhook:renamed"])
    out = CliRunner().invoke(
        cli, ["--config", str(config), "--database", db_url(db), "alerts", "list"]
    )
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.split())
    assert "webhook:renamed: pending (0 attempts), waiting: channel not in the config" in flat


@pytest.mark.e2e
def test_a_renamed_webhook_keeps_its_alerts_pending_across_reloads_until_it_returns(
    tmp_path: Path,
) -> None:
    peer = Receiver()
    with LocalServer(peer) as server:
        db, _, _ = new_db(tmp_path)
        path = write_config(tmp_path, webhook_url=f"{server.url}/hook")
        app = build(load_config(path), database_url=db_url(db), clock=FakeClock(NOW))
        add_alert(app.sessions, list(app.channels))  # for webhook:ops
        path.write_text(path.read_text().replace("name: ops", "name: alerts"))
        renamed = app.reloaded(load_config(path))  # what SIGHUP does
        assert list(renamed.channels) == ["webhook:alerts"]
        result = asyncio.run(renamed.dispatcher.step())
        assert (result.handled, result.waiting) == (0, 1)
        assert server.requests == []
        path.write_text(path.read_text().replace("name: alerts", "name: ops"))
        back = renamed.reloaded(load_config(path))
        assert asyncio.run(back.dispatcher.step()).delivered == 1
    [row] = deliveries(app.sessions)
    assert peer.delivered_ids() == [row.delivery_uuid]
    assert (row.state, row.attempts) == ("delivered", 1)
