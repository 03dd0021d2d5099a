"""Real daemon processes as one cluster on a real PostgreSQL, with engines and a webhook
receiver on 127.0.0.1: two vantages whose engines answer differently, one leader that
closes the rounds and delivers once, a leader killed mid-round and replaced."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from monitor.testing import LocalServer, Reply, Request
from tests.helpers.backends import fresh_postgres
from tests.helpers.cluster import ADMIN_URL, needs_postgres
from tests.helpers.own_postgres import own_postgres

FIX = Path(__file__).parent / "fixtures" / "sources" / "bing_images"
pytestmark = [pytest.mark.e2e, *needs_postgres]


class Engine_:
    """A Bing-style engine at one vantage: Dong's images vanish once ``erased`` is set."""

    def __init__(self) -> None:
        self.erased = False
        self.page = (FIX / "search-results-stripped.html").read_bytes()
        self.empty = (FIX / "no-results-constructed.html").read_bytes()

    def __call__(self, req: Request) -> Reply:
        term = (req.query.get("q") or [""])[0]
        return Reply(200, self.empty if term == "Dong Jingwei" and self.erased else self.page)


class Receiver:
    """The webhook receiver: every delivery it got, with its delivery id. With ``hold``
    set, it keeps the first request open until ``release`` is set (``arrived`` says when
    it came): its sender is then in the middle of a send."""

    def __init__(self) -> None:
        self.hooks: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.hold = False
        self.arrived, self.release = threading.Event(), threading.Event()

    def __call__(self, req: Request) -> Reply:
        body = json.loads(req.body)
        with self.lock:  # a group of alerts comes as one ``batch`` envelope
            self.hooks.extend(body["alerts"] if body.get("event") == "batch" else [body])
            self.ids.append(req.headers.get("x-absence-delivery", ""))
            first = len(self.ids) == 1
        if self.hold and first:
            self.arrived.set()
            self.release.wait(60)
        return Reply(200, "ok", "text/plain")

    def drops(self) -> list[dict[str, Any]]:
        with self.lock:
            return [h for h in self.hooks if h.get("event") == "drop"]


def write_config(tmp: Path, name: str, vantage: str, db: str, engine: str, hook: str) -> Path:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(
        f"""
database: {{url: "{db}"}}
vantage: {vantage}
people: [{{name: Dong Jingwei}}, {{name: Chen Yixin}}, {{name: Li Qiang}}]
sources:
  bing:
    kind: bing_images
    base_url: {engine}
    every: 2s
    rate: 100/1s
    concurrency: 8
    controls: [giant panda]
detection: {{min_history: 4, tiny_baseline: 2, tiny_min_baseline: 1}}
alerts:
  webhooks: [{{url: "{hook}/hook", name: receiver}}]
  dispatch_every: 1s
cluster:
  enabled: true
  node: {name}
  claim_lease: 3s
  leader_lease: 3s
  batch: 2
  spool: {tmp / f"spool-{name}.sqlite"}
""",
        encoding="utf-8",
    )
    return cfg


class Cluster:
    """The test's database, engines, receiver and daemons (killed at the end)."""

    def __init__(self, tmp: Path, db: str) -> None:
        self.tmp, self.db = tmp, db
        self.engines = {"cn-beijing": Engine_(), "de": Engine_()}
        self.receiver = Receiver()
        self.servers = [LocalServer(e) for e in self.engines.values()]
        self.hook = LocalServer(self.receiver)
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.outs: dict[str, str] = {}
        self.sql: Engine = create_engine(db)

    def __enter__(self) -> Cluster:
        for s in [*self.servers, self.hook]:
            s.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)
        for s in [*self.servers, self.hook]:
            s.__exit__(None, None, None)
        self.sql.dispose()

    def start(self, name: str, vantage: str) -> subprocess.Popen[str]:
        url = self.servers[list(self.engines).index(vantage)].url
        cfg = write_config(self.tmp, name, vantage, self.db, url, self.hook.url)
        env = {**os.environ, "ABSENCE_MONITOR_SHUTDOWN_GRACE": "5"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(cfg), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM) -> str:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        self.outs[name] = out
        return out

    def rows(self, sql: str) -> list[Any]:
        with self.sql.connect() as conn:
            return list(conn.execute(text(sql)).all())

    def leader(self) -> str | None:
        rows = self.rows("select node from leadership where lease_until > now()")
        return rows[0][0] if rows else None


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    """Wait until ``predicate()`` holds; seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except Exception:
            pass  # the schema is not there yet
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    assert ADMIN_URL
    with fresh_postgres(ADMIN_URL) as db, Cluster(tmp_path, db) as c:
        yield c


def rounds_at(c: Cluster, vantage: str) -> int:
    return int(c.rows(f"select count(*) from rounds where vantage = '{vantage}'")[0][0])


def start_three(c: Cluster) -> None:
    """cn1 at cn-beijing, de1 and de2 at de, started together on an empty database."""
    c.start("cn1", "cn-beijing")
    c.start("de1", "de")
    c.start("de2", "de")
    wait_for(lambda: len(c.rows("select name from nodes")) == 3)


def test_three_nodes_two_vantages_one_vantage_specific_alert_delivered_once(
    cluster: Cluster,
) -> None:
    c = cluster
    start_three(c)
    wait_for(lambda: rounds_at(c, "cn-beijing") >= 5 and rounds_at(c, "de") >= 5)
    c.engines["cn-beijing"].erased = True
    wait_for(lambda: len(c.receiver.drops()) >= 1)
    time.sleep(4)  # two more rounds: nothing is told twice
    drops = c.receiver.drops()
    assert len(drops) == 1, drops
    drop = drops[0]
    assert (drop["person"], drop["vantage"]) == ("Dong Jingwei", "cn-beijing")
    # The other vantage still sees the images: the drop is this vantage's alone.
    assert drop["vantage_scope"] == "vantage_specific"
    [other] = drop["vantages"]
    assert (other["vantage"], other["sees_drop"]) == ("de", False)
    assert (other["terms"][0]["observed"] or 0) > 0  # "de: 35" beside "cn-beijing: 0"
    # Both nodes of "de" shared its checks (each made some), and no series was stored
    # twice in one round.
    for name in ("de1", "de2"):
        assert "check Dong Jingwei / Dong Jingwei @ bing" in c.stop(name), name
    twice = "select round_id, series_id from snapshots group by 1, 2 having count(*) > 1"
    assert c.rows(twice) == []


def test_leader_killed_mid_round_another_takes_over_and_alerts_are_delivered(
    cluster: Cluster,
) -> None:
    c = cluster
    start_three(c)
    wait_for(lambda: c.leader() is not None and rounds_at(c, "de") >= 5)
    old = c.leader()
    assert old is not None
    c.stop(old, signal.SIGKILL)
    took = wait_for(lambda: c.leader() not in (None, old), timeout=20)
    assert took < 10, f"took over after {took:.1f}s"
    c.engines["cn-beijing"].erased = True
    c.engines["de"].erased = True
    survivors = [n for n in c.procs]
    # The drops of every vantage with a live node are delivered, each once.
    vantages = {"cn-beijing" if n == "cn1" else "de" for n in survivors}
    wait_for(lambda: {d["vantage"] for d in c.receiver.drops()} >= vantages)
    time.sleep(4)
    seen = [d["vantage"] for d in c.receiver.drops()]
    assert sorted(seen) == sorted(vantages), seen


def spooled(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("select count(*) from spooled_checks").fetchone()[0])


def test_database_stopped_for_some_rounds_nodes_spool_then_forward_every_check_once(
    tmp_path: Path,
) -> None:
    with own_postgres() as pg, Cluster(tmp_path, pg.url) as c:
        c.start("cn1", "cn-beijing")
        wait_for(lambda: rounds_at(c, "cn-beijing") >= 3)
        pg.stop()
        spool = tmp_path / "spool-cn1.sqlite"
        wait_for(lambda: spooled(spool) >= 8, timeout=30)  # two rounds of 4 series
        pg.start()
        wait_for(lambda: spooled(spool) == 0, timeout=30)
        wait_for(lambda: c.rows("select count(*) from staged_checks")[0][0] == 0, timeout=30)
        out = c.stop("cn1")
        made = len(re.findall(r" check .+ @ bing: ", out))  # one log line per check made
        stored = c.rows("select count(*) from snapshots")[0][0]
        waiting = c.rows("select count(*) from staged_checks")[0][0] + spooled(spool)
        assert stored + waiting == made, out[-3000:]
        assert "into the spool" in out
        # The outage is told in lines naming it, not in tracebacks.
        assert "Traceback" not in out, out[-3000:]


def test_leader_paused_past_its_lease_writes_nothing_when_it_wakes(cluster: Cluster) -> None:
    c = cluster
    c.receiver.hold = True
    start_three(c)
    wait_for(lambda: c.leader() is not None and rounds_at(c, "cn-beijing") >= 5)
    c.engines["cn-beijing"].erased = True
    assert c.receiver.arrived.wait(60), "no alert was sent"
    old = c.leader()  # it is in the middle of sending the alert
    assert old is not None
    c.procs[old].send_signal(signal.SIGSTOP)
    took = wait_for(lambda: c.leader() not in (None, old), timeout=30)
    new = c.leader()
    c.receiver.release.set()  # the answer waits in the paused sender's socket
    woke = datetime.now()
    c.procs[old].send_signal(signal.SIGCONT)
    rounds_before = rounds_at(c, "de") + rounds_at(c, "cn-beijing")
    wait_for(lambda: rounds_at(c, "de") + rounds_at(c, "cn-beijing") >= rounds_before + 4)
    assert c.leader() == new  # the woken node did not take the role back
    # The new leader, the only sender, took the paused one's claim over and sent the alert
    # again under the same delivery id (the one duplicate allowed); the woken node's record
    # of its own send was refused with its stale epoch: one attempt recorded, not two.
    attempts = "select count(*) from delivery_attempts"
    wait_for(lambda: c.rows(attempts)[0][0] >= 1, timeout=30)
    out = c.stop(old)
    assert c.rows(attempts)[0][0] == 1
    assert len(c.receiver.ids) == 2 and len(set(c.receiver.ids)) == 1, c.receiver.ids
    # Every round it closed, it closed before it was paused: none after it woke.
    late = [
        line
        for line in out.splitlines()
        if " closed: " in line and datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S") >= woke
    ]
    assert late == [], late
    # Refused by the fence: its epoch is stale, or its election noticed first that it had
    # lost the role (then it does not even send the fence's query).
    assert "not going on to deliver: " in out, out[-3000:]
    assert took < 15, f"took over after {took:.1f}s"
