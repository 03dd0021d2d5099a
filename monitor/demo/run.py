"""``absence-monitor demo``: the whole story in well under a minute, on 127.0.0.1 only.

``Demo.run()`` starts the simulated engines (``engines.py``), an SMTP sink and a
signature-checking webhook sink (``sinks.py``), builds the real application from a config
(``script.config_text``) with a temporary SQLite database and a ``FakeClock``, and replays
``script.timeline()``: for each round it sets every engine's behaviour, runs one round per
source through the real pipeline (fetcher, parsers, store, detector, outbox), all sources at
once as the daemon does, runs the early re-checks the detector asks for, and lets the real
dispatcher deliver through the real email and webhook channels. It prints each round and
each delivered alert, writes the report when that feature is available, and checks the
alerts against the script (``verdict.py``): exit 0 when they match, 1 when they do not.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from monitor import render
from monitor.app import App, build
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.demo import console, script
from monitor.demo.engines import Engines
from monitor.demo.sinks import SmtpSink, WebhookSink
from monitor.demo.verdict import Produced, Verdict, judge
from monitor.errors import MonitorError
from monitor.outbox import Batch
from monitor.payload import AlertPayload, Message
from monitor.pipeline import CheckRow, Pipeline
from monitor.store.catalog import SeriesRef
from monitor.store.models import Alert, Delivery, Series

ROUND_SECONDS = 0.5  # wall time per six-hour round at speed 1: a simulated day in 2 s
MAX_RECHECKS = 4  # re-check rounds between two scheduled rounds (the detector asks for 1)


@dataclass
class DemoResult:
    """What a run produced: its exit code, the stored alerts, the sinks, the verdict."""

    exit_code: int
    alerts: list[Produced]
    smtp: SmtpSink
    webhook: WebhookSink
    verdict: Verdict
    report: Path | None = None
    workdir: Path | None = None


@dataclass
class _Delivered:
    batches: list[tuple[Batch, str, str | None]] = field(default_factory=list)

    def __call__(self, batch: Batch, state: str, error: str | None) -> None:
        self.batches.append((batch, state, error))


class Demo:
    """One run of the demo; ``pause`` is the wall time per round (0: as fast as possible)."""

    def __init__(self, *, out: TextIO, pause: float = ROUND_SECONDS, keep: str | None = None):
        self.out = out
        self.pause = pause
        self.keep = Path(keep) if keep else None

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    async def run(self) -> DemoResult:
        workdir = self.keep or Path(tempfile.mkdtemp(prefix="absence-monitor-demo-"))
        workdir.mkdir(parents=True, exist_ok=True)
        database = workdir / "demo.db"
        if database.exists():
            raise MonitorError(f"{database} exists already: remove it or choose another --keep")
        secret = secrets.token_hex(16)
        smtp = await SmtpSink().start()
        try:
            with (
                Engines({n: s[1] for n, s in script.SOURCES.items()}, script.subject_of) as engines,
                WebhookSink(secret) as hook,
            ):
                urls = {name: engines[name].url for name in script.SOURCES}
                text = script.config_text(urls, smtp.port, hook.url)
                config = parse_config(text, "demo.yaml", {"DEMO_WEBHOOK_SECRET": secret})
                clock = FakeClock(script.START)
                app = build(config, database_url=f"sqlite:///{database}", clock=clock)
                try:
                    self._intro(urls, smtp, hook, database)
                    await asyncio.to_thread(app.migrate)
                    await self._play(app, clock, engines, smtp, hook)
                    produced = await asyncio.to_thread(_produced, app)
                    report = self._report(app, workdir)
                finally:
                    app.engine.dispose()
            verdict = judge(produced, smtp.alert_counts(), hook.alert_counts(), hook.rejected)
        finally:
            await smtp.stop()
        self._summary(verdict, report, database if self.keep else None)
        if self.keep is None:
            if report is None:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                for leftover in workdir.glob("demo.db*"):
                    leftover.unlink()
        code = 0 if not verdict.problems else 1
        return DemoResult(code, produced, smtp, hook, verdict, report, workdir)

    def _intro(self, urls: dict[str, str], smtp: SmtpSink, hook: WebhookSink, db: Path) -> None:
        self.say("image-absence-monitor demo: a scripted erasure, replayed on simulated engines")
        for name, url in urls.items():
            self.say(f"  engine {name:<8} {url}  (speaks {script.SOURCES[name][0]})")
        self.say(f"  SMTP sink      127.0.0.1:{smtp.port}    webhook sink  {hook.url}")
        self.say(f"  database       {db}")
        self.say(
            f"  watching       {', '.join(script.PEOPLE)}; a round every 6 simulated hours, "
            f"{script.ROUNDS} rounds from {script.START:%Y-%m-%d}"
        )
        self.say()

    async def _play(
        self, app: App, clock: FakeClock, engines: Engines, smtp: SmtpSink, hook: WebhookSink
    ) -> None:
        refs = await asyncio.to_thread(app.series)
        by_source: dict[str, list[SeriesRef]] = defaultdict(list)
        for ref in refs:
            by_source[ref.source].append(ref)
        delivered = _Delivered()
        app.dispatcher.on_delivered.append(delivered)
        async with app.fetcher() as fetcher:
            pipeline = app.pipeline(fetcher)
            for slot in script.timeline():
                started = time.monotonic()
                clock.now = slot.at
                for name, behaviour in slot.behaviours.items():
                    engines[name].behave(behaviour)
                if slot.note:
                    self.say(f"{'':18}▶ {slot.note}")
                rows = await _rounds(pipeline, by_source, "scheduled")
                self.say(console.round_line(slot.at, rows))
                await self._deliver(app, delivered, smtp, hook)
                await self._rechecks(app, clock, pipeline, by_source, delivered, smtp, hook)
                left = self.pause - (time.monotonic() - started)
                if left > 0:
                    await asyncio.sleep(left)

    async def _rechecks(
        self,
        app: App,
        clock: FakeClock,
        pipeline: Pipeline,
        by_source: dict[str, list[SeriesRef]],
        delivered: _Delivered,
        smtp: SmtpSink,
        hook: WebhookSink,
    ) -> None:
        """Early re-checks due before the next round, each with its source's controls."""
        next_round = clock.now + script.ROUND
        for _ in range(MAX_RECHECKS):
            due = await asyncio.to_thread(_due, app, clock.now, next_round)
            if not due:
                return
            clock.now = min(due.values())
            wanted = {sid for sid, at in due.items() if at <= clock.now}
            batch = {
                source: [r for r in refs if r.series_id in wanted or r.role == "control"]
                for source, refs in by_source.items()
                if any(r.series_id in wanted for r in refs)
            }
            rows = await _rounds(pipeline, batch, "recheck")
            self.say(console.round_line(clock.now, rows, recheck=True))
            await self._deliver(app, delivered, smtp, hook)

    async def _deliver(
        self, app: App, delivered: _Delivered, smtp: SmtpSink, hook: WebhookSink
    ) -> None:
        await app.dispatcher.drain()
        messages: dict[tuple[int, ...], list[str]] = defaultdict(list)
        payloads: dict[tuple[int, ...], list[AlertPayload]] = {}
        subjects: dict[tuple[int, ...], str] = {}
        for batch, state, error in delivered.batches:
            alerts = [dict(p) for p in batch.payloads]
            key = tuple(int(a["alert_id"]) for a in alerts)
            payloads[key] = alerts  # type: ignore[assignment]
            subjects[key] = render.subject(
                Message(batch.delivery_uuid, payloads[key], batch.channel)
            )
            messages[key].append(_receipt(batch, state, error, smtp, hook))
        delivered.batches.clear()
        for key, receipts in messages.items():
            for line in console.alert_block(payloads[key], subjects[key], receipts):
                self.say(line)

    def _report(self, app: App, workdir: Path) -> Path | None:
        try:
            from monitor.report import write_report

            return write_report(app, list(script.PEOPLE), workdir / "report.html")
        except MonitorError as exc:
            self.say(f"\nreport: not written ({exc})")
            return None

    def _summary(self, verdict: Verdict, report: Path | None, database: Path | None) -> None:
        self.say()
        for line in verdict.lines:
            self.say(line)
        if report is not None:
            self.say(f"\nreport written to {report}")
        if database is not None:
            self.say(f"database kept at {database}")
        if verdict.problems:
            self.say(f"\nThe demo did not go as scripted ({len(verdict.problems)} problem(s)).")
        else:
            self.say("\nEverything happened as scripted.")


def _receipt(batch: Batch, state: str, error: str | None, smtp: SmtpSink, hook: WebhookSink) -> str:
    """Where a message went and whether the sink on the other end has it."""
    if state != "delivered":
        return f"{batch.channel} {state}: {error}"
    if batch.channel == "email":
        mails = [m for m in smtp.mails if m.delivery_id == batch.delivery_uuid]
        return (
            f"SMTP sink ({len(mails)} mail to {', '.join(mails[0].recipients)}) ✓"
            if mails
            else "SMTP sink: missing ✗"
        )
    posts = [p for p in hook.posts if p.delivery_id == batch.delivery_uuid]
    return (
        f"webhook sink ({len(posts)} POST, signature verified) ✓"
        if posts
        else "webhook sink: missing ✗"
    )


async def _rounds(
    pipeline: Pipeline, by_source: dict[str, list[SeriesRef]], kind: str
) -> dict[str, list[CheckRow]]:
    """One round per source, all sources at once (each engine keeps its own pace)."""
    names = list(by_source)
    done = await asyncio.gather(*(pipeline.run_round(n, by_source[n], kind=kind) for n in names))
    return dict(zip(names, done, strict=True))


def _due(app: App, after: Any, before: Any) -> dict[int, Any]:
    """Series whose early re-check falls between two scheduled rounds."""
    with app.sessions() as session:
        rows = session.execute(
            select(Series.id, Series.next_check_at).where(
                Series.next_check_at > after, Series.next_check_at < before
            )
        )
        return {row.id: row.next_check_at for row in rows}


def _produced(app: App) -> list[Produced]:
    with app.sessions() as session:
        out = []
        for alert in session.scalars(select(Alert).order_by(Alert.id)):
            states = {
                d.channel: d.state
                for d in session.scalars(select(Delivery).where(Delivery.alert_id == alert.id))
            }
            at = alert.created_at
            out.append(Produced(script.round_at(at), dict(alert.payload), states))
        return out


def run_demo(*, speed: float = 1.0, keep: str | None = None) -> int:
    """Run the demo at ``speed`` (2 = twice as fast); returns the exit code."""
    if not speed > 0:
        raise MonitorError("--speed must be a positive number")
    quiet = not logging.getLogger().isEnabledFor(logging.INFO)
    monitor_logger = logging.getLogger("monitor")
    level = monitor_logger.level
    if quiet:  # the demo prints each alert itself; -v shows the daemon's own log lines
        monitor_logger.setLevel(logging.ERROR)
    try:
        demo = Demo(out=sys.stdout, pause=ROUND_SECONDS / speed, keep=keep)
        return asyncio.run(demo.run()).exit_code
    finally:
        monitor_logger.setLevel(level)
