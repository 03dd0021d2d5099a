"""Fault campaign: the real daemon against a local engine and webhook receiver, disturbed.

    python -m bench.faults --kills 20 --down 20

Parts that run (each prints its figures):

- ``kill -9`` at random moments, ``--kills`` times, the daemon restarted each time; the
  engine answers slowly and the receiver too, so kills land mid-fetch, mid-write and
  mid-send (each kill is classified by what was in flight; every fourth kill, and one when
  the receiver is back, waits for an alert's POST and lands while the receiver holds it);
  ``PRAGMA integrity_check`` after every kill;
- the webhook receiver down (503) while a drop is found and for ``--down`` seconds more,
  with a second ``absence-monitor check`` process running alongside the daemon; then the
  images come back (a recovery alert);
- SIGSTOP / SIGCONT of the daemon for ``--stop`` seconds;
- then a final run until the outbox is empty, and the tally: alerts created, delivered,
  lost (must be 0), delivered twice under the same delivery id (allowed only after a kill
  mid-send) and under different ids (must be 0), checks stored as ``network_error`` (the
  engine never fails, so each would be the monitor's own stall: must be 0).

The other parts run on their own: ``python -m bench.fault_delivery`` (the webhook receiver
down for 10 simulated minutes, the SMTP server down for a round), ``python -m
bench.fault_disk`` (a full disk), ``python -m bench.fault_engines`` (a 429 storm, hostile
engines).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.testing import LocalServer, Reply, Request

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sources" / "bing_images"


@dataclass
class World:
    """The engine (Dong's images come and go every ``period`` s) and the receiver."""

    period: float = 4.0
    engine_delay: float = 0.15
    receiver_delay: float = 0.2
    receiver_up: bool = True
    erased: bool | None = None  # set: Dong's images gone (True) or back (False) for good
    fetching: int = 0
    sending: int = 0
    hold_next: bool = False  # hold the next POST until ``release`` (a kill lands mid-send)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    received: list[tuple[str, list[int]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    page: bytes = (FIX / "search-results-stripped.html").read_bytes()
    empty: bytes = (FIX / "no-results-constructed.html").read_bytes()

    def __call__(self, req: Request) -> Reply:
        if req.path == "/hook":
            return self.hook(req)
        with self.lock:
            self.fetching += 1
        try:
            time.sleep(self.engine_delay)
            term = (req.query.get("q") or [""])[0]
            erased = self.erased
            if erased is None:
                erased = int((time.monotonic() - self.started) / self.period) % 2 == 1
            return Reply(200, self.empty if term == "Dong Jingwei" and erased else self.page)
        finally:
            with self.lock:
                self.fetching -= 1

    def hook(self, req: Request) -> Reply:
        if not self.receiver_up:
            return Reply(503, "down for maintenance", "text/plain")
        with self.lock:
            self.sending += 1
            held, self.hold_next = self.hold_next, False
        try:
            headers = {k.lower(): v for k, v in req.headers.items()}
            body = json.loads(req.body)
            alerts = body["alerts"] if body.get("event") == "batch" else [body]
            if held:
                # Received and processed; the answer waits until the sender has been killed.
                self._record(headers, alerts)
                self.holding.set()
                self.release.wait(60)
                return Reply(200, "ok", "text/plain")
            time.sleep(self.receiver_delay)
            self._record(headers, alerts)
            return Reply(200, "ok", "text/plain")
        finally:
            with self.lock:
                self.sending -= 1

    def _record(self, headers: dict[str, str], alerts: list[dict[str, Any]]) -> None:
        with self.lock:
            self.received.append(
                (headers["x-absence-delivery"], [int(a["alert_id"]) for a in alerts])
            )

    def kill_mid_send(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """Hold the next POST and kill ``proc`` while it waits for the answer; False (and
        no kill) when no POST came within ``timeout``."""
        self.holding.clear()
        self.release.clear()
        self.hold_next = True
        held = self.holding.wait(timeout)
        self.hold_next = False
        if held:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.release.set()
        return held


def write_config(tmp: Path, url: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp / "m.db"}"}}
people: [{{name: Dong Jingwei}}, {{name: Chen Yixin}}, {{name: Li Qiang}}]
sources:
  bing:
    kind: bing_images
    base_url: {url}
    every: 1s
    rate: 100/1s
    concurrency: 8
    timeout: 5s
    controls: [giant panda]
detection: {{min_history: 3, tiny_baseline: 2, tiny_min_baseline: 1}}
evidence: {{keep_thumbnails: false}}  # the fixture's thumbnails are on the internet
alerts:
  webhooks: [{{url: "{url}/hook", name: receiver}}]
  dispatch_every: 1s
  backoff: 1s
  max_backoff: 2s
  max_attempts: 100
""",
        encoding="utf-8",
    )
    return cfg


def start(cfg: Path, log: Any, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ABSENCE_MONITOR_SHUTDOWN_GRACE": "5"}
    cmd = [sys.executable, "-m", "monitor", "--config", str(cfg), *(args or ("run",))]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def integrity(db: Path) -> str:
    if not db.exists():
        return "ok"
    return str(rows(db, "PRAGMA integrity_check")[0][0])


def count(db: Path, what: str) -> int:
    """``select count(*) from what``; 0 while the schema is not there yet."""
    if not db.exists():
        return 0
    try:
        return int(rows(db, f"select count(*) from {what}")[0][0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


def wait_started(proc: subprocess.Popen[Any], text: Any, timeout: float = 60) -> None:
    """Return once daemon ``proc`` logs "daemon started" in ``text()`` (its schema upgraded,
    in a child process since 444fd39, a heartbeat written, its jobs scheduled): a case's
    clock starts there. RuntimeError naming the reason if it exits first or times out."""
    deadline = time.monotonic() + timeout
    while "daemon started" not in text():
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}) before it started")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not start within {timeout:.0f}s")
        time.sleep(0.1)


def log_after(log: Path) -> Any:
    """``text()`` for :func:`wait_started`: what ``log`` gained after now."""
    since = log.stat().st_size if log.exists() else 0
    return lambda: log.read_bytes()[since:].decode("utf-8", "replace")


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except sqlite3.OperationalError:
            pass  # schema not there yet
        time.sleep(0.1)
    return False


def campaign(
    kills: int, down: float, stop_s: float, seed: int, tmp: Path, period: float = 4.0
) -> dict[str, Any]:
    """Run the campaign in ``tmp``; returns its figures. ``period``: how often Dong's
    images come and go during the kills (a short campaign keeps them for a clean history)."""
    rng = random.Random(seed)
    world = World(period=period)
    db = tmp / "m.db"
    log_path = tmp / "daemon.log"
    log = log_path.open("ab")
    figures: dict[str, Any] = defaultdict(int)
    with LocalServer(world) as server:
        cfg = write_config(tmp, server.url)
        for i in range(kills):
            text = log_after(log_path)
            proc = start(cfg, log)
            # Every fourth kill waits for an alert's POST and lands while it is in flight.
            if i % 4 == 3 and period < 60 and world.kill_mid_send(proc, 3 * period):
                moment = "mid-send"
            else:
                if i % 5:  # four kills in five after the start (migrations), one any time
                    wait_started(proc, text)
                time.sleep(rng.uniform(0.5, 3.0))  # then fetches, writes, sends
                moment = "mid-send" if world.sending else "mid-fetch" if world.fetching else "other"
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            figures[f"kills {moment}"] += 1
            figures["kills"] += 1
            figures["integrity ok"] += integrity(db) == "ok"
        drops = count(db, "alerts where event = 'drop'")
        recovered = count(db, "alerts where event = 'recovered'")
        # The receiver down while a drop is found (the images gone for good), a second
        # `check` alongside; then SIGSTOP/SIGCONT; then the images come back.
        text = log_after(log_path)
        proc = start(cfg, log)
        wait_started(proc, text)
        world.erased = False  # first a normal history to drop from
        dong = (
            "snapshots join series on series.id = snapshots.series_id join people on "
            "people.id = series.person_id where people.name = 'Dong Jingwei' and status = 'ok'"
        )
        base = count(db, dong)
        wait_for(lambda: count(db, dong) >= base + 6, timeout=60)
        world.receiver_up, world.erased = False, True
        checker = start(cfg, log, "check")
        figures["second check exit code"] = checker.wait(timeout=120)
        figures["drop found while the receiver was down"] = wait_for(
            lambda: count(db, "alerts where event = 'drop'") > drops, timeout=60
        )
        time.sleep(down)
        # The receiver is back; the drop's POST is in flight when the daemon is killed.
        world.receiver_up = True
        if world.kill_mid_send(proc, timeout=30):
            figures["kills mid-send"] += 1
            figures["kills"] += 1
            figures["integrity ok"] += integrity(db) == "ok"
            text = log_after(log_path)
            proc = start(cfg, log)
            wait_started(proc, text)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(stop_s)
        proc.send_signal(signal.SIGCONT)
        figures["running after SIGSTOP/SIGCONT"] = proc.poll() is None
        world.erased = False
        figures["recovered"] = figures["drop found while the receiver was down"] and wait_for(
            lambda: count(db, "alerts where event = 'recovered'") > recovered, timeout=60
        )
        figures["drained"] = wait_for(
            lambda: count(db, "deliveries where state != 'delivered'") == 0, timeout=60
        )
        proc.send_signal(signal.SIGTERM)
        figures["final daemon exit code"] = proc.wait(timeout=60)
    log.close()
    alerts = {a for (a,) in rows(db, "select id from alerts")}
    by_alert: dict[int, set[str]] = defaultdict(set)
    seen: dict[str, int] = defaultdict(int)
    for delivery, alert_ids in world.received:
        seen[delivery] += 1
        for a in alert_ids:
            by_alert[a].add(delivery)
    figures["alerts created"] = len(alerts)
    figures["alerts delivered"] = len(alerts & set(by_alert))
    figures["lost"] = len(alerts - set(by_alert))
    figures["twice, same delivery id"] = sum(n - 1 for n in seen.values() if n > 1)
    figures["twice, different ids"] = sum(1 for ids in by_alert.values() if len(ids) > 1)
    figures["network_error checks"] = rows(
        db, "select count(*) from snapshots where status = 'network_error'"
    )[0][0]
    figures["integrity at the end"] = integrity(db)
    return dict(figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--down", type=float, default=20.0, help="seconds the receiver is down")
    ap.add_argument("--stop", type=float, default=3.0, help="seconds the daemon is stopped")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    started = time.monotonic()
    figures = campaign(args.kills, args.down, args.stop, args.seed, tmp)
    for name, value in figures.items():
        print(f"{name:32} {value}")
    print(f"{'campaign seconds':32} {time.monotonic() - started:.0f}  (logs in {tmp})")
    ok = (
        figures["lost"] == 0
        and figures["twice, different ids"] == 0
        and figures["integrity ok"] == figures["kills"]
        and figures["twice, same delivery id"] <= figures.get("kills mid-send", 0)
        and figures["network_error checks"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
