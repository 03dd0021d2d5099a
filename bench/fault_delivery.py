"""Fault campaign, delivery part: a channel down, on simulated time, and everything still
delivered once.

    python -m bench.fault_delivery

The daemon's own steps (``round_step``, ``recheck_step``, ``dispatch_step``) on a fake clock,
with the real pipeline in between: a Bing-format engine, the webhook receiver (the
campaign's ``World``) and an SMTP server (``monitor.demo.sinks.SmtpSink``) on 127.0.0.1, a
SQLite file, the default retry schedule. Rounds every hour build a history; then Dong
Jingwei's images vanish and a drop is found, re-checked and alerted on while

- the webhook receiver answers 503 for ``--down-minutes`` (10) of simulated time, the
  dispatcher stepping every ``alerts.dispatch_every`` (5 s, the default) of it; then it is
  back;
- the SMTP server is down (nothing listens on its port) for a whole round (1 h); then it
  is back on the same port.

Then the images come back (a recovery, both channels up). Printed: alerts created, per
channel delivered, lost, doubled (the same alert under two delivery ids, or one delivery id
received twice), the dispatcher's tries while the receiver was down, and how long after
each channel came back (simulated) the alerts made while it was down arrived.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.faults import World
from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.daemon.service import Daemon
from monitor.demo.sinks import SmtpSink
from monitor.testing import LocalServer

START = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)


def make_app(tmp: Path, url: str, smtp_port: int, clock: FakeClock, dispatch_every: str) -> App:
    config = parse_config(
        f"""
database: {{url: "sqlite:///{tmp / "d.db"}"}}
people: [{{name: Dong Jingwei}}, {{name: Chen Yixin}}, {{name: Li Qiang}}]
sources:
  bing: {{kind: bing_images, base_url: "{url}", every: 1h, rate: 100/1s,
          controls: [giant panda]}}
detection: {{min_history: 3, tiny_baseline: 2, tiny_min_baseline: 1}}
evidence: {{keep_thumbnails: false}}
alerts:
  dispatch_every: {dispatch_every}
  webhooks: [{{url: "{url}/hook", name: receiver}}]
  email: {{host: 127.0.0.1, port: {smtp_port}, security: none, from: m@example.org,
           to: [ops@example.org], timeout: 5s}}
""",
        "fault-delivery.yaml",
        {},
    )
    app = build(config, clock=clock)
    app.migrate()
    return app


class Sim:
    """The daemon's jobs on the fake clock: the dispatcher every ``dispatch_every``, the
    re-checks every minute, a round every hour; and when each message arrived."""

    def __init__(self, daemon: Daemon, clock: FakeClock, world: World, smtp: SmtpSink) -> None:
        self.daemon, self.clock, self.world, self.smtp = daemon, clock, world, smtp
        self.next_round = self.next_recheck = clock.now
        self.hook_times: dict[int, datetime] = {}  # alert id -> first arrival
        self.mail_times: dict[int, datetime] = {}
        self.busy = 0  # dispatcher steps that sent (or tried to send) something

    async def until(self, end: datetime) -> None:
        every = self.daemon.app.config.alerts.dispatch_every
        while self.clock.now < end:
            now = self.clock.now
            if now >= self.next_round:
                await self.daemon.round_step("bing", spread=False)
                self.next_round += HOUR
            if now >= self.next_recheck:
                await self.daemon.recheck_step()
                self.next_recheck += timedelta(minutes=1)
            hooks, mails = len(self.world.received), len(self.smtp.mails)
            self.busy += bool(await self.daemon.dispatch_step())
            for _, ids in self.world.received[hooks:]:
                for a in ids:
                    self.hook_times.setdefault(a, now)
            for mail in self.smtp.mails[mails:]:
                for a in mail.alert_ids:
                    self.mail_times.setdefault(a, now)
            self.clock.advance(every)


async def run(tmp: Path, down_minutes: float, dispatch_every: str = "5s") -> dict[str, Any]:
    """The delivery faults in ``tmp`` (see module docstring); returns the figures."""
    figures: dict[str, Any] = {}
    clock = FakeClock(START)
    world = World(engine_delay=0.0, receiver_delay=0.0)
    world.erased = False
    smtp = await SmtpSink().start()
    port = smtp.port
    with LocalServer(world) as server:
        app = make_app(tmp, server.url, port, clock, dispatch_every)
        daemon = Daemon(app)
        daemon.refs = await asyncio.to_thread(app.series)
        async with app.fetcher() as fetcher:
            daemon.rounds = app.rounds(fetcher)
            sim = Sim(daemon, clock, world, smtp)
            await sim.until(START + 5 * HOUR)  # a history to drop from, all of it delivered
            before = await asyncio.to_thread(_alert_ids, tmp)
            # Both channels go down; Dong's images vanish; the drop is confirmed by a
            # re-check 45 minutes after the round that saw it first.
            world.receiver_up, world.erased = False, True
            await smtp.stop()
            while await asyncio.to_thread(_alert_ids, tmp) == before:
                if clock.now > START + 9 * HOUR:
                    raise SystemExit("no drop was found: the campaign's setup is broken")
                await sim.until(clock.now + timedelta(minutes=1))
            found, sim.busy = clock.now, 0
            await sim.until(found + timedelta(minutes=down_minutes))
            world.receiver_up, webhook_back = True, clock.now
            figures["dispatcher steps that tried, webhook down"] = sim.busy
            await sim.until(found + HOUR)  # the SMTP server is down for a round
            sim.smtp = smtp = await SmtpSink(mails=list(smtp.mails)).start(port)
            mail_back = clock.now
            down = await asyncio.to_thread(_alert_ids, tmp) - before
            await sim.until(clock.now + HOUR)
            world.erased = False  # and the images come back: a recovery, both channels up
            await sim.until(clock.now + 2 * HOUR)
            # Then until everything arrived on both channels (the retry schedule's later
            # steps are hours apart), for at most a simulated day.
            end = clock.now + 24 * HOUR
            while clock.now < end and not _all_arrived(
                sim, await asyncio.to_thread(_alert_ids, tmp)
            ):
                await sim.until(clock.now + timedelta(minutes=10))
        alerts = await asyncio.to_thread(_alert_ids, tmp)
        app.engine.dispose()
    await smtp.stop()
    figures["alerts created while down"] = len(down)
    figures["webhook: arrived after it came back (s)"] = _after(sim.hook_times, down, webhook_back)
    figures["email: arrived after it came back (s)"] = _after(sim.mail_times, down, mail_back)
    hooks = Counter(a for _, ids in world.received for a in ids)
    mails = smtp.alert_counts()
    ids_per_alert: dict[int, set[str]] = {}
    for delivery, ids in world.received:
        for a in ids:
            ids_per_alert.setdefault(a, set()).add(delivery)
    figures["alerts created"] = len(alerts)
    figures["webhook delivered"] = len(alerts & set(hooks))
    figures["email delivered"] = len(alerts & set(mails))
    figures["lost"] = len(alerts - set(hooks)) + len(alerts - set(mails))
    figures["twice, same delivery id"] = sum(
        n - 1 for n in Counter(d for d, _ in world.received).values() if n > 1
    )
    figures["twice, different ids"] = sum(1 for ids in ids_per_alert.values() if len(ids) > 1)
    figures["mails twice"] = sum(n - 1 for n in mails.values() if n > 1)
    return figures


def _after(arrivals: dict[int, datetime], alerts: set[int], back: datetime) -> float | None:
    """Seconds (simulated) from ``back`` until the last of ``alerts`` arrived (None: one
    never did)."""
    if not alerts or any(a not in arrivals for a in alerts):
        return None
    return max((arrivals[a] - back).total_seconds() for a in alerts)


def _all_arrived(sim: Sim, alerts: set[int]) -> bool:
    return alerts <= sim.hook_times.keys() and alerts <= sim.mail_times.keys()


def _alert_ids(tmp: Path) -> set[int]:
    with sqlite3.connect(tmp / "d.db") as conn:
        return {a for (a,) in conn.execute("select id from alerts")}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--down-minutes", type=float, default=10.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fault-delivery-"))
    logging.basicConfig(filename=tmp / "log", level=logging.INFO)
    for name, value in asyncio.run(run(tmp, args.down_minutes)).items():
        print(f"{name:44} {value}")


if __name__ == "__main__":
    main()
