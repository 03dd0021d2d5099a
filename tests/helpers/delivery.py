"""Shared helpers for the outbox, dispatcher and delivery end-to-end tests.

- ``new_db`` gives a migrated SQLite file in a test's ``tmp_path``; ``open_sessions`` opens
  another engine on the same file (what a second process would do).
- ``FakeChannel`` implements ``monitor.channels.base.Channel`` with scripted outcomes and
  records every message it was asked to send.
- ``Receiver`` is a webhook peer for ``monitor.testing.LocalServer``: it checks the
  ``X-Absence-Signature`` HMAC of every request and answers with scripted statuses.
- ``Inbox`` is an aiosmtpd handler keeping every mail it accepted.
- ``dead_pid`` is the pid of a process that has exited and been reaped.

Run as ``python -m tests.helpers.delivery DB CONFIG NOW MODE`` it is the child process of
the crash tests: it builds the app on the shared database, enqueues one alert and dies hard
(``os._exit(CRASH_EXIT)``) at the point ``MODE`` names, before any success is recorded.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.payload import Message, build_payload
from monitor.alerts.schema import AlertPayload
from monitor.channels.base import Channel
from monitor.core.clock import FakeClock
from monitor.core.errors import ChannelError
from monitor.store import migrate, outbox
from monitor.store.db import create_db_engine, session_factory
from monitor.store.models import Alert, Delivery, DeliveryAttempt
from monitor.testing import Reply, Request

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec-test-0123456789"
SENDER, TO = "monitor@example.org", ["ana@example.org"]
CRASH_EXIT = 17
MODES = ("after-commit", "after-claim", "after-send")
ROOT = Path(__file__).resolve().parents[2]


# --- database ---------------------------------------------------------------------------


def db_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_sessions(path: Path) -> tuple[Engine, sessionmaker[Session]]:
    """A new engine on ``path`` (as another process would open it); short busy timeout so
    that a lock held by mistake fails the test quickly instead of hanging it."""
    engine = create_db_engine(db_url(path), busy_timeout_s=2.0)
    return engine, session_factory(engine)


def new_db(tmp_path: Path) -> tuple[Path, Engine, sessionmaker[Session]]:
    """A fresh SQLite file in ``tmp_path`` migrated to head."""
    path = tmp_path / "monitor.db"
    engine, sessions = open_sessions(path)
    migrate.upgrade(engine)
    return path, engine, sessions


def alert_payload(person: str = "董经纬", event: str = "drop", observed: int = 12) -> AlertPayload:
    return build_payload(
        event=event,  # type: ignore[arg-type]
        alert_id=0,
        checked_at=NOW,
        person=person,
        term=person,
        source="baidu_images",
        vantage="default",
        observed=observed,
        baseline=400,
        baseline_window_days=14,
        reason="test alert",
    )


def add_alert(
    sessions: sessionmaker[Session],
    channels: Iterable[str],
    *,
    now: datetime = NOW,
    group_key: str | None = None,
    person: str = "董经纬",
) -> int:
    """Enqueue one alert in its own committed transaction; returns the alert id."""
    with sessions() as session, session.begin():
        alert = outbox.enqueue(
            session,
            payload=dict(alert_payload(person)),
            channels=list(channels),
            now=now,
            group_key=group_key,
        )
        return alert.id


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def attempts(sessions: sessionmaker[Session]) -> list[DeliveryAttempt]:
    with sessions() as session:
        return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def alerts(sessions: sessionmaker[Session]) -> list[Alert]:
    with sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


# --- fake channel -----------------------------------------------------------------------


class FakeChannel(Channel):
    """A channel whose outcomes are scripted: each ``send`` takes the next item of
    ``outcomes`` (``None`` = accepted, an exception = raised); once the script is used up
    every send is accepted. ``sent`` keeps every message it was asked to send."""

    kind = "fake"

    def __init__(self, name: str = "fake", outcomes: Sequence[BaseException | None] = ()) -> None:
        super().__init__(name)
        self.outcomes = list(outcomes)
        self.sent: list[Message] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Yield once, as a real network send would: concurrent sends overlap here.
            await asyncio.sleep(0)
            outcome = self.outcomes.pop(0) if self.outcomes else None
            if outcome is not None:
                raise outcome
        finally:
            self.in_flight -= 1


def transient(text: str = "receiver busy") -> ChannelError:
    return ChannelError(text, permanent=False)


def permanent(text: str = "HTTP 410 Gone") -> ChannelError:
    return ChannelError(text, permanent=True)


# --- processes ----------------------------------------------------------------------------


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped (nothing runs under it now)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- real peers ---------------------------------------------------------------------------


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Receiver:
    """A webhook receiver: verifies each request's HMAC signature (401 when it is wrong),
    then answers with the next scripted status (200 once the script is used up)."""

    statuses: list[int] = field(default_factory=list)
    secret: str = SECRET
    answered: list[tuple[str, int]] = field(default_factory=list)  # (delivery id, status)
    bad_signatures: int = 0

    def __call__(self, req: Request) -> Reply:
        expected = signature(req.body, self.secret)
        if not hmac.compare_digest(req.headers.get("x-absence-signature", ""), expected):
            self.bad_signatures += 1
            return Reply(401, "bad signature", "text/plain")
        status = self.statuses.pop(0) if self.statuses else 200
        self.answered.append((req.headers.get("x-absence-delivery", ""), status))
        return Reply(status, "ok" if status < 300 else "server error", "text/plain")

    def delivered_ids(self) -> list[str]:
        return [d for d, s in self.answered if 200 <= s < 300]


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every mail it accepted."""

    mails: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"


def write_config(
    tmp_path: Path,
    *,
    webhook_url: str | None = None,
    smtp_port: int | None = None,
    max_attempts: int = 12,
) -> Path:
    """A config with one person and one source (never fetched here) and the given channels."""
    text = (
        "people:\n  - name: Dong Jingwei\n"
        "sources:\n  baidu:\n    kind: baidu_images\n"
        f"alerts:\n  max_attempts: {max_attempts}\n  backoff: 30s\n  max_backoff: 10m\n"
    )
    if webhook_url:
        text += f"  webhooks:\n    - url: {webhook_url}\n      secret: {SECRET}\n      name: ops\n"
        text += "      timeout: 5s\n"
    if smtp_port:
        text += (
            f"  email:\n    host: 127.0.0.1\n    port: {smtp_port}\n    security: none\n"
            f"    from: {SENDER}\n    to: [{', '.join(TO)}]\n    timeout: 5s\n"
        )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_child(db: Path, config: Path, mode: str) -> subprocess.CompletedProcess[str]:
    """Run the crash child (``main`` below) and wait for it to die."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.helpers.delivery",
            str(db),
            str(config),
            NOW.isoformat(),
            mode,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


# --- the crash child ----------------------------------------------------------------------


def _die(*_args: Any, **_kwargs: Any) -> Any:
    sys.stdout.flush()
    os._exit(CRASH_EXIT)  # no cleanup, no rollback, no flush of anything: a hard death


def main(argv: Sequence[str]) -> None:
    """Build the app on the shared database, enqueue one alert and die at ``mode``:

    - ``after-commit``: the alert and its deliveries are committed; nothing was claimed.
    - ``after-claim``: the dispatcher claimed the delivery (state ``sending``) and dies
      as the channel is called, before a byte leaves.
    - ``after-send``: the channel delivered the message; the process dies as the
      dispatcher is about to record the attempt.
    """
    from monitor.app import build
    from monitor.config import load_config

    db, config_path, now_text, mode = argv
    app = build(
        load_config(config_path),
        database_url=db_url(Path(db)),
        clock=FakeClock(datetime.fromisoformat(now_text)),
    )
    with app.sessions() as session, session.begin():
        alert = outbox.enqueue(
            session, payload=dict(alert_payload()), channels=list(app.channels), now=app.clock()
        )
    print(json.dumps({"pid": os.getpid(), "alert_id": alert.id}), flush=True)
    if mode == "after-commit":
        _die()
    if mode == "after-claim":
        for channel in app.channels.values():
            channel.send = _die  # type: ignore[method-assign]
    elif mode == "after-send":
        outbox.record_attempt = _die  # dispatch.py calls it through the module
    else:
        raise SystemExit(f"unknown mode {mode!r}; expected one of {MODES}")
    asyncio.run(app.dispatcher.step())
    raise SystemExit("the child was meant to die before this line")


if __name__ == "__main__":
    main(sys.argv[1:])
