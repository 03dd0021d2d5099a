"""Alerts delivered to real peers on 127.0.0.1, through the app as ``build()`` wires it.

- mail goes to an aiosmtpd server started here and is read back;
- webhooks go to a ``LocalServer`` that verifies the ``X-Absence-Signature`` HMAC;
- receivers that fail, servers that are down, and a process killed mid-delivery all end
  with exactly one successful delivery (plus, after a crash between "sent" and "recorded",
  the one documented duplicate carrying the same delivery id).

Time moves only by the ``FakeClock``: nothing here sleeps, except waiting for the child
process of the crash tests to die.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from monitor.alerts.schema import SCHEMA_VERSION
from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.delivery import (
    CRASH_EXIT,
    NOW,
    SECRET,
    SENDER,
    TO,
    Inbox,
    Receiver,
    add_alert,
    attempts,
    db_url,
    deliveries,
    new_db,
    run_child,
    signature,
    write_config,
)

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Smtp:
    """Starts aiosmtpd servers on demand and stops them at the end of the test."""

    def __init__(self) -> None:
        self.controllers: list[Controller] = []

    def start(self, port: int) -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        # Kept before start(): one that fails half-way (its thread up, the port not answering
        # in time) is stopped at the end of the test too.
        self.controllers.append(controller)
        controller.start()
        return inbox


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    servers = Smtp()
    yield servers
    with ExitStack() as stack:  # every server is stopped even if stopping one fails
        for controller in servers.controllers:
            stack.callback(controller.stop, no_assert=True)


class Current:
    """The handler of the module's one server: forwards to this test's ``Receiver``."""

    peer = Receiver()

    def __call__(self, req: Request) -> Reply:
        return self.peer(req)


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[tuple[Current, LocalServer]]:
    # One server per module: stopping a LocalServer waits out its 0.5 s poll interval.
    current = Current()
    with LocalServer(current) as server:
        yield current, server


@pytest.fixture
def receiver(webhook_server: tuple[Current, LocalServer]) -> tuple[Receiver, LocalServer]:
    """A fresh signature-checking receiver, and the server (its request log emptied)."""
    current, server = webhook_server
    current.peer = Receiver()
    server.requests.clear()
    return current.peer, server


def app_for(tmp_path: Path, clock: FakeClock, **channels: Any) -> App:
    db = tmp_path / "monitor.db"
    if not db.exists():
        new_db(tmp_path)
    config = load_config(write_config(tmp_path, **channels))
    return build(config, database_url=db_url(db), clock=clock)


def parts(mail: EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): str(p.get_content()) for p in mail.iter_parts()}


async def test_email_reaches_a_real_smtp_server_and_reads_back(tmp_path: Path, smtp: Smtp) -> None:
    port = free_port()
    inbox = smtp.start(port)
    app = app_for(tmp_path, FakeClock(NOW), smtp_port=port)
    add_alert(app.sessions, list(app.channels))
    [pending] = deliveries(app.sessions)
    assert (await app.dispatcher.step()).delivered == 1
    [mail] = inbox.mails
    assert mail["Subject"] == "[absence] 董经纬 on baidu_images: 12 images, −97% vs 14-day median"
    assert (mail["From"], mail["To"]) == (SENDER, ", ".join(TO))
    assert mail["X-Absence-Delivery"] == pending.delivery_uuid
    assert pending.delivery_uuid in mail["Message-ID"]
    assert mail["X-Absence-Event"] == "drop"
    body = parts(mail)
    assert "董经纬" in body["text/plain"] and "董经纬" in body["text/html"]
    [row] = deliveries(app.sessions)
    assert (row.channel, row.state, row.attempts) == ("email", "delivered", 1)


async def test_webhook_reaches_a_receiver_that_verifies_the_signature(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    app = app_for(tmp_path, FakeClock(NOW), webhook_url=f"{server.url}/hook")
    alert_id = add_alert(app.sessions, list(app.channels))
    [pending] = deliveries(app.sessions)
    assert (await app.dispatcher.step()).delivered == 1
    assert peer.bad_signatures == 0
    assert peer.answered == [(pending.delivery_uuid, 200)]
    [req] = server.requests
    assert req.path == "/hook"
    assert req.headers["x-absence-signature"] == signature(req.body)
    assert req.headers["x-absence-event"] == "drop"
    body = json.loads(req.body)
    assert (body["event"], body["alert_id"], body["person"]) == ("drop", alert_id, "董经纬")
    assert body["schema_version"] == SCHEMA_VERSION == 2


async def test_drops_of_one_round_reach_the_receiver_as_one_signed_batch(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    app = app_for(tmp_path, FakeClock(NOW), webhook_url=f"{server.url}/hook")
    for person in ("董经纬", "秦刚", "李尚福"):
        add_alert(app.sessions, list(app.channels), group_key="round:3:drop", person=person)
    assert (await app.dispatcher.step()).delivered == 1
    [req] = server.requests
    assert peer.bad_signatures == 0
    assert req.headers["x-absence-event"] == "batch"
    body = json.loads(req.body)
    assert body["delivery_id"] == req.headers["x-absence-delivery"]
    assert [a["person"] for a in body["alerts"]] == ["董经纬", "秦刚", "李尚福"]
    assert {d.state for d in deliveries(app.sessions)} == {"delivered"}


async def test_a_receiver_that_refuses_the_signature_during_a_rotation_gets_it_after_the_fix(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    # The receiver's check is real: a body signed under another secret is refused (401).
    # Before issue 14 item 3 that 401 failed the alert for good; now it is retried.
    peer, server = receiver
    peer.secret = "not-the-configured-secret"
    clock = FakeClock(NOW)
    app = app_for(tmp_path, clock, webhook_url=f"{server.url}/hook")
    add_alert(app.sessions, list(app.channels))
    assert (await app.dispatcher.step()).retrying == 1
    assert peer.bad_signatures == 1 and peer.answered == []
    [row] = deliveries(app.sessions)
    assert row.state == "pending" and "HTTP 401" in (row.last_error or "")
    peer.secret = SECRET  # the receiver's secret is put right
    clock.now = row.next_attempt_at
    assert (await app.dispatcher.step()).delivered == 1
    assert peer.delivered_ids() == [row.delivery_uuid]


async def test_a_receiver_answering_404_while_redeployed_gets_the_alert_once_it_is_back(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    peer.statuses = [404, 404, 404, 503]  # the route is missing, then the app starts
    clock = FakeClock(NOW)
    app = app_for(tmp_path, clock, webhook_url=f"{server.url}/hook")
    add_alert(app.sessions, list(app.channels))
    for _ in range(4):
        assert (await app.dispatcher.step()).retrying == 1
        clock.now = deliveries(app.sessions)[0].next_attempt_at
    assert (await app.dispatcher.step()).delivered == 1
    [row] = deliveries(app.sessions)
    assert [status for _, status in peer.answered] == [404, 404, 404, 503, 200]
    assert {uid for uid, _ in peer.answered} == {row.delivery_uuid}  # one id throughout
    assert (row.state, row.attempts) == ("delivered", 5)


async def test_a_receiver_that_fails_twice_then_succeeds_gets_exactly_one_delivery(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    peer.statuses = [500, 500]
    clock = FakeClock(NOW)
    app = app_for(tmp_path, clock, webhook_url=f"{server.url}/hook")
    add_alert(app.sessions, list(app.channels))
    [pending] = deliveries(app.sessions)
    for expected in ("retrying", "retrying", "delivered"):
        result = await app.dispatcher.step()
        assert getattr(result, expected) == 1
        [row] = deliveries(app.sessions)
        clock.now = max(clock.now, row.next_attempt_at)  # jump to the retry, no sleeping
    uid = pending.delivery_uuid
    assert peer.answered == [(uid, 500), (uid, 500), (uid, 200)]
    assert peer.delivered_ids() == [uid]
    clock.advance(timedelta(days=1))
    assert (await app.dispatcher.step()).handled == 0
    assert len(server.requests) == 3
    [row] = deliveries(app.sessions)
    assert (row.state, row.attempts) == ("delivered", 3)
    assert [a.ok for a in attempts(app.sessions)] == [False, False, True]
    assert "HTTP 500" in (attempts(app.sessions)[0].error or "")


async def test_an_smtp_server_down_for_one_round_gets_the_mail_in_a_later_round_once(
    tmp_path: Path, smtp: Smtp
) -> None:
    port = free_port()  # nothing listens there yet
    clock = FakeClock(NOW)
    app = app_for(tmp_path, clock, smtp_port=port)
    add_alert(app.sessions, list(app.channels))
    assert (await app.dispatcher.step()).retrying == 1
    [row] = deliveries(app.sessions)
    assert row.state == "pending"
    assert "cannot reach the server" in (row.last_error or "")
    inbox = smtp.start(port)  # the server is back
    clock.now = row.next_attempt_at
    assert (await app.dispatcher.step()).delivered == 1
    for _ in range(3):
        clock.advance(timedelta(hours=6))
        assert (await app.dispatcher.step()).handled == 0
    assert len(inbox.mails) == 1
    assert inbox.mails[0]["X-Absence-Delivery"] == row.delivery_uuid
    [row] = deliveries(app.sessions)
    assert (row.state, row.attempts) == ("delivered", 2)


@pytest.mark.parametrize("mode", ["after-commit", "after-claim"])
def test_a_process_killed_before_sending_delivers_the_alert_once_after_restart(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer], mode: str
) -> None:
    peer, server = receiver
    db, _, sessions = new_db(tmp_path)
    config = write_config(tmp_path, webhook_url=f"{server.url}/hook")
    child = run_child(db, config, mode)
    assert child.returncode == CRASH_EXIT, child.stderr
    child_pid = json.loads(child.stdout.splitlines()[0])["pid"]
    [row] = deliveries(sessions)
    assert server.requests == []  # it died before a byte left
    if mode == "after-claim":
        assert row.state == "sending"
        assert row.claimed_by is not None and row.claimed_by.split(":")[1] == str(child_pid)
    else:
        assert row.state == "pending"
    # The restart runs at the same moment: the claim's lease has not run out, only its
    # process is gone.
    clock = FakeClock(NOW)
    app = build(load_config(config), database_url=db_url(db), clock=clock)
    assert asyncio.run(app.dispatcher.step()).delivered == 1
    clock.advance(timedelta(days=1))
    assert asyncio.run(app.dispatcher.step()).handled == 0
    assert peer.answered == [(row.delivery_uuid, 200)]
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == ("delivered", 1)


def test_a_process_killed_after_sending_resends_once_with_the_same_delivery_id(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    db, _, sessions = new_db(tmp_path)
    config = write_config(tmp_path, webhook_url=f"{server.url}/hook")
    child = run_child(db, config, "after-send")
    assert child.returncode == CRASH_EXIT, child.stderr
    child_pid = json.loads(child.stdout.splitlines()[0])["pid"]
    [row] = deliveries(sessions)
    # The receiver has the message; the database does not know it.
    assert peer.answered == [(row.delivery_uuid, 200)]
    assert row.state == "sending" and row.attempts == 0
    assert row.claimed_by is not None and row.claimed_by.split(":")[1] == str(child_pid)
    assert attempts(sessions) == []
    clock = FakeClock(NOW)
    app = build(load_config(config), database_url=db_url(db), clock=clock)
    assert asyncio.run(app.dispatcher.step()).delivered == 1
    for _ in range(3):
        clock.advance(timedelta(hours=6))
        assert asyncio.run(app.dispatcher.step()).handled == 0
    # The one duplicate the README documents: same delivery id, same signed body.
    assert peer.answered == [(row.delivery_uuid, 200), (row.delivery_uuid, 200)]
    first, resent = server.requests
    assert first.body == resent.body
    assert first.headers["x-absence-signature"] == resent.headers["x-absence-signature"]
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == ("delivered", 1)


def test_alerts_test_sends_both_shapes_and_reports_each_channel_with_the_error_text(
    tmp_path: Path, receiver: tuple[Receiver, LocalServer]
) -> None:
    peer, server = receiver
    closed = free_port()
    new_db(tmp_path)
    config = write_config(tmp_path, webhook_url=f"{server.url}/hook", smtp_port=closed)
    out = CliRunner().invoke(
        cli,
        ["--config", str(config), "--database", db_url(tmp_path / "monitor.db"), "alerts", "test"],
    )
    assert out.exit_code == 1, out.output  # one channel failed
    lines = out.output.splitlines()
    assert "webhook:ops (single): ok" in lines
    assert "webhook:ops (batch): ok" in lines
    email_lines = [line for line in lines if line.startswith("email (")]
    assert len(email_lines) == 2  # the single alert and the batch, each refused
    for email_line in email_lines:
        assert email_line.startswith(("email (single): FAILED: ", "email (batch): FAILED: "))
        assert f"127.0.0.1:{closed}" in email_line
        assert "cannot reach the server" in email_line and "Connection refused" in email_line
        assert email_line.endswith("(transient)")
    single, batch = server.requests
    assert single.headers["x-absence-event"] == "test"
    assert peer.bad_signatures == 0 and len(peer.answered) == 2
    assert json.loads(single.body)["event"] == "test"
    # Real drops arrive batched: the test sends that shape too, so a receiver sees both.
    assert batch.headers["x-absence-event"] == "batch"
    envelope = json.loads(batch.body)
    assert (
        envelope["event"] == "batch"
        and envelope["delivery_id"] == batch.headers["x-absence-delivery"]
    )
    assert [a["event"] for a in envelope["alerts"]] == ["test", "test"]
