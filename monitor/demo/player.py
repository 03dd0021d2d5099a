"""Replays the script against a built ``App``: rounds, early re-checks, deliveries.

``Player.play()`` walks ``script.timeline()``. For each round it sets the simulated time
and every engine's behaviour and calls the daemon's own step functions (``Daemon.round_step``
for every source at once, ``Daemon.recheck_step`` at the simulated time of each early
re-check the detector asked for, the dispatcher after each): the daemon's code path, with
the simulated clock taking the place of APScheduler's timer. It prints one line per round
and a short block per delivered message, with what the SMTP sink and the webhook sink
received.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor.alerts import render
from monitor.alerts.payload import Message
from monitor.alerts.schema import AlertPayload
from monitor.app import App
from monitor.core.clock import FakeClock
from monitor.daemon.service import Daemon
from monitor.demo import console, script
from monitor.demo.engines import Engines
from monitor.demo.sinks import SmtpSink, WebhookSink
from monitor.store.catalog import SeriesRef
from monitor.store.outbox import Batch
from monitor.store.rounds import rechecks_between

MAX_RECHECKS = 4  # re-check rounds between two scheduled rounds (the detector asks for 1)


@dataclass
class Peers:
    """The local servers the monitor talks to."""

    engines: Engines
    smtp: SmtpSink
    webhook: WebhookSink


class Player:
    """Drives ``app`` (whose clock is ``clock``) through the script; ``say`` prints a line."""

    def __init__(
        self, app: App, clock: FakeClock, peers: Peers, say: Callable[[str], None], pause: float
    ) -> None:
        self.app = app
        self.clock = clock
        self.peers = peers
        self.say = say
        self.pause = pause
        self.by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        self._delivered: list[tuple[Batch, str, str | None]] = []
        app.dispatcher.on_delivered.append(
            lambda batch, state, error: self._delivered.append((batch, state, error))
        )

    async def play(self) -> None:
        daemon = Daemon(self.app)
        daemon.refs = await asyncio.to_thread(self.app.series)
        for ref in daemon.refs:
            self.by_source[ref.source].append(ref)
        async with self.app.fetcher() as fetcher:
            daemon.rounds = self.app.rounds(fetcher)
            for slot in script.timeline():
                started = time.monotonic()
                self.clock.now = slot.at
                for name, behaviour in slot.behaviours.items():
                    self.peers.engines[name].behave(behaviour)
                if slot.note:
                    self.say(f"{'':18}▶ {slot.note}")
                names = list(self.by_source)
                done = await asyncio.gather(*(daemon.round_step(n, spread=False) for n in names))
                self.say(console.round_line(slot.at, dict(zip(names, done, strict=True))))
                await self.deliver()
                await self.rechecks(daemon, slot.at + script.ROUND)
                left = self.pause - (time.monotonic() - started)
                if left > 0:
                    await asyncio.sleep(left)

    async def rechecks(self, daemon: Daemon, next_round: datetime) -> None:
        """Early re-checks due before ``next_round``, run by the daemon's recheck step at
        their own simulated time."""
        for _ in range(MAX_RECHECKS):
            due = await asyncio.to_thread(_due, self.app, self.clock.now, next_round)
            if not due:
                return
            self.clock.now = min(due.values())
            rows = await daemon.recheck_step()
            self.say(console.round_line(self.clock.now, rows, recheck=True))
            await self.deliver()

    async def deliver(self) -> None:
        """Run the dispatcher until nothing is due; print each message it delivered."""
        await self.app.dispatcher.drain()
        receipts: dict[tuple[int, ...], list[str]] = defaultdict(list)
        messages: dict[tuple[int, ...], Message] = {}
        for batch, state, error in self._delivered:
            alerts: list[AlertPayload] = [dict(p) for p in batch.payloads]  # type: ignore[misc]
            key = tuple(int(a["alert_id"]) for a in alerts)
            messages[key] = Message(batch.delivery_uuid, alerts, batch.channel)
            receipts[key].append(self._receipt(batch, state, error))
        self._delivered.clear()
        for key, message in messages.items():
            subject = render.subject(message)
            for line in console.alert_block(message.alerts, subject, receipts[key]):
                self.say(line)

    def _receipt(self, batch: Batch, state: str, error: str | None) -> str:
        """Where a message went and whether the sink on the other end has it."""
        if state != "delivered":
            return f"{batch.channel} {state}: {error} ✗"
        if batch.channel == "email":
            mails = [m for m in self.peers.smtp.mails if m.delivery_id == batch.delivery_uuid]
            if not mails:
                return "SMTP sink: no such mail ✗"
            return f"SMTP sink ({len(mails)} mail to {', '.join(mails[0].recipients)}) ✓"
        posts = [p for p in self.peers.webhook.posts if p.delivery_id == batch.delivery_uuid]
        if not posts:
            return "webhook sink: no such POST ✗"
        return f"webhook sink ({len(posts)} POST, signature verified) ✓"


def _due(app: App, after: datetime, before: datetime) -> dict[int, datetime]:
    """Series whose early re-check falls after ``after`` and before the next round.

    ``after`` excludes a re-check time already served: a series keeps its last
    ``next_check_at`` until its next round settles it.
    """
    with app.sessions() as session:
        return rechecks_between(session, after, before)
