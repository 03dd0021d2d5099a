"""``absence-monitor demo``: the whole story in well under a minute, on 127.0.0.1 only.

``Demo.run()`` starts the simulated engines (``engines.py``), an SMTP sink and a
signature-checking webhook sink (``sinks.py``), builds the real application from a config
(``script.config_text``) with a temporary SQLite database and a ``FakeClock``, replays the
script through the real pipeline, dispatcher and channels (``player.py``), writes the
report, and checks the alerts against the script (``verdict.py``): exit 0 when they match,
1 when they do not. ``keep`` keeps the database and the report in a directory of your
choice; otherwise the database is deleted and only the report is left in a temporary
directory (printed at the end).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.errors import MonitorError
from monitor.demo import script
from monitor.demo.engines import Engines
from monitor.demo.player import Peers, Player
from monitor.demo.sinks import SmtpSink, WebhookSink
from monitor.demo.verdict import DemoVerdict, Produced, judge
from monitor.store.outbox import alerts_with_deliveries

ROUND_SECONDS = 0.5  # wall time per six-hour round at speed 1: a simulated day in 2 s


@dataclass
class DemoResult:
    """What a run produced: its exit code, the stored alerts, the sinks, the verdict."""

    exit_code: int
    alerts: list[Produced]
    smtp: SmtpSink
    webhook: WebhookSink
    verdict: DemoVerdict
    report: Path | None
    workdir: Path


class Demo:
    """One run of the demo; ``pause`` is the wall time per round (0: as fast as possible)."""

    def __init__(
        self, *, out: TextIO, pause: float = ROUND_SECONDS, keep: str | None = None
    ) -> None:
        self.out = out
        self.pause = pause
        self.keep = Path(keep) if keep else None

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    async def run(self) -> DemoResult:
        if self.keep is not None and (self.keep / "demo.db").exists():
            raise MonitorError(
                f"{self.keep / 'demo.db'} exists already: remove it or choose another --keep"
            )
        workdir = self.keep or Path(tempfile.mkdtemp(prefix="absence-monitor-demo-"))
        workdir.mkdir(parents=True, exist_ok=True)
        report: Path | None = None
        try:
            produced, smtp, hook, report = await self._run(workdir)
        finally:
            if self.keep is None:  # the report, if any, outlives the temporary database
                for leftover in workdir.glob("demo.db*"):
                    leftover.unlink()
                # The kept thumbnails are embedded in the report: the files can go too.
                shutil.rmtree(workdir / "demo-thumbnails", ignore_errors=True)
                if report is None:
                    shutil.rmtree(workdir, ignore_errors=True)
        verdict = judge(produced, smtp.alert_counts(), hook.alert_counts(), hook.rejected)
        self._summary(verdict, report, workdir / "demo.db" if self.keep else None)
        code = 1 if verdict.problems else 0
        return DemoResult(code, produced, smtp, hook, verdict, report, workdir)

    async def _run(
        self, workdir: Path
    ) -> tuple[list[Produced], SmtpSink, WebhookSink, Path | None]:
        database = workdir / "demo.db"
        # Standard Webhooks' secret form; reaches the config through ${DEMO_WEBHOOK_SECRET}.
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        smtp = await SmtpSink().start()
        engine_kinds = {name: spec[1] for name, spec in script.SOURCES.items()}
        try:
            with Engines(engine_kinds, script.subject_of) as engines, WebhookSink(secret) as hook:
                urls = {name: engines[name].url for name in script.SOURCES}
                text = script.config_text(urls, smtp.port, hook.url)
                config = parse_config(text, "demo.yaml", {"DEMO_WEBHOOK_SECRET": secret})
                clock = FakeClock(script.START)
                app = build(config, database_url=f"sqlite:///{database}", clock=clock)
                try:
                    self._intro(urls, smtp, hook, database)
                    await asyncio.to_thread(app.migrate)
                    peers = Peers(engines, smtp, hook)
                    await Player(app, clock, peers, self.say, self.pause).play()
                    produced = await asyncio.to_thread(_produced, app)
                    report = await asyncio.to_thread(self._report, app, workdir)
                finally:
                    app.engine.dispose()
        finally:
            await smtp.stop()
        return produced, smtp, hook, report

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

    def _report(self, app: App, workdir: Path) -> Path | None:
        try:
            from monitor.web.document import write_report

            return write_report(
                app.sessions,
                app.config,
                list(script.PEOPLE),
                workdir / "report.html",
                thumbnail_dir=app.thumbnail_dir,
                now=app.clock(),
            )
        except MonitorError as exc:
            self.say(f"\nreport: not written ({exc})")
            return None

    def _summary(self, verdict: DemoVerdict, report: Path | None, database: Path | None) -> None:
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


def _produced(app: App) -> list[Produced]:
    """Every alert in the outbox, with its round and its delivery states by channel."""
    with app.sessions() as session:
        every = alerts_with_deliveries(session, limit=None)
        return [
            Produced(
                script.round_at(alert.created_at),
                dict(alert.payload),
                {d.channel: d.state for d in deliveries},
            )
            for alert, deliveries in reversed(every)
        ]


def run_demo(*, speed: float = 1.0, keep: str | None = None) -> int:
    """Run the demo at ``speed`` (2 = twice as fast); returns the exit code."""
    if not speed > 0:
        raise MonitorError("--speed must be a positive number")
    monitor_logger = logging.getLogger("monitor")
    level = monitor_logger.level
    # The demo prints each alert itself; with -v the daemon's own log lines show too.
    if not logging.getLogger().isEnabledFor(logging.INFO):
        monitor_logger.setLevel(logging.ERROR)
    try:
        demo = Demo(out=sys.stdout, pause=ROUND_SECONDS / speed, keep=keep)
        return asyncio.run(demo.run()).exit_code
    finally:
        monitor_logger.setLevel(level)
