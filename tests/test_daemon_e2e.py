"""The real daemon process against engines and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.testing import LocalServer, Reply, Request

FIX = Path(__file__).parent / "fixtures" / "sources"
pytestmark = pytest.mark.e2e


class Engines:
    """Bing-style engine: Dong's images vanish once ``erased`` is set; answers take ``delay``."""

    def __init__(self) -> None:
        self.erased = False
        self.delay = 0.0
        self.hooks: list[Request] = []
        self.lock = threading.Lock()
        self.page = (FIX / "bing_images/search-results-stripped.html").read_bytes()
        self.empty = (FIX / "bing_images/no-results-constructed.html").read_bytes()

    def __call__(self, req: Request) -> Reply:
        if req.path == "/hook":
            with self.lock:
                self.hooks.append(req)
            return Reply(200, "ok", "text/plain")
        time.sleep(self.delay)
        term = (req.query.get("q") or [""])[0]
        if term == "Dong Jingwei" and self.erased:
            return Reply(200, self.empty)
        return Reply(200, self.page)


@pytest.fixture
def engines() -> Iterator[tuple[Engines, LocalServer]]:
    e = Engines()
    with LocalServer(e) as server:
        yield e, server


def write_config(tmp: Path, url: str, every: str = "1s") -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp / "m.db"}"}}
people: [{{name: Dong Jingwei}}, {{name: Chen Yixin}}, {{name: Li Qiang}}]
sources:
  bing:
    kind: bing_images
    base_url: {url}
    every: {every}
    rate: 100/1s
    concurrency: 8
    controls: [giant panda]
detection: {{min_history: 4, tiny_baseline: 2, tiny_min_baseline: 1}}
alerts:
  webhooks: [{{url: "{url}/hook", name: receiver}}]
  dispatch_every: 1s
""",
        encoding="utf-8",
    )
    return cfg


def start(cfg: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ABSENCE_MONITOR_SHUTDOWN_GRACE": "5"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(cfg), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    """Signal the daemon, wait for it, and return its output (closing the pipe)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    return out


Start = Callable[[Path], subprocess.Popen[str]]


@pytest.fixture
def daemon() -> Iterator[Start]:
    """Starts daemons like ``start``; one still running when the test ends, passed or failed
    (an assertion, a ``stop`` that timed out), is killed and reaped, its pipe closed."""
    procs: list[subprocess.Popen[str]] = []

    def start_one(cfg: Path) -> subprocess.Popen[str]:
        procs.append(start(cfg))
        return procs[-1]

    yield start_one
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def db_rows(tmp: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp / "m.db") as conn:
        return conn.execute(sql).fetchall()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except sqlite3.OperationalError:
            pass  # schema not created yet
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def rounds_are_whole(tmp: Path) -> bool:
    """Every round has a snapshot for each of its 4 series: nothing half-written."""
    rows = db_rows(tmp, "select round_id, count(*) from snapshots group by round_id")
    kinds = dict(db_rows(tmp, "select id, kind from rounds"))
    return all(n == 4 or kinds.get(r) == "recheck" for r, n in rows)


def test_daemon_checks_on_schedule_and_stops_cleanly_on_sigterm(
    engines: tuple[Engines, LocalServer], daemon: Start, tmp_path: Path
) -> None:
    e, server = engines
    proc = daemon(write_config(tmp_path, server.url))
    try:
        wait_for(lambda: len(db_rows(tmp_path, "select id from rounds")) >= 2)
        e.delay = 0.3  # the next round is in flight when SIGTERM arrives
        time.sleep(1.2)
        out = stop(proc)
    finally:
        stop(proc, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert "shutting down" in out
    assert rounds_are_whole(tmp_path)
    beats = db_rows(tmp_path, "select info from heartbeats")
    assert json.loads(str(beats[-1][0]))["stopped"] is True


def test_second_daemon_on_the_same_database_refuses(
    engines: tuple[Engines, LocalServer], daemon: Start, tmp_path: Path
) -> None:
    _, server = engines
    cfg = write_config(tmp_path, server.url)
    first = daemon(cfg)
    try:
        wait_for(lambda: len(db_rows(tmp_path, "select id from heartbeats")) >= 1)
        second = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(cfg), "run"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert second.returncode == 1
        assert "another absence-monitor daemon is running" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        stop(first)


def test_restart_does_not_recheck_everything_at_once(
    engines: tuple[Engines, LocalServer], daemon: Start, tmp_path: Path
) -> None:
    _, server = engines
    cfg = write_config(tmp_path, server.url, every="1h")
    # A round just happened (as if the daemon had run it before a restart).
    subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(cfg), "check"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert len(db_rows(tmp_path, "select id from rounds")) == 1
    proc = daemon(cfg)
    try:
        wait_for(lambda: len(db_rows(tmp_path, "select id from heartbeats")) >= 1)
        time.sleep(2)
    finally:
        out = stop(proc)
    # The last round is less than an hour old: the next one is due an hour after it.
    assert len(db_rows(tmp_path, "select id from rounds")) == 1
    assert "source bing: every 1:00:00, next round at" in out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_stop_mid_round_then_restart_delivers_every_alert_once(
    engines: tuple[Engines, LocalServer], daemon: Start, tmp_path: Path, sig: int
) -> None:
    e, server = engines
    cfg = write_config(tmp_path, server.url)
    proc = daemon(cfg)
    try:
        wait_for(lambda: len(db_rows(tmp_path, "select id from rounds")) >= 5)
        e.erased = True
        wait_for(
            lambda: db_rows(tmp_path, "select count(*) from alerts where event='drop'")[0][0] >= 1,
            timeout=30,
        )
        e.delay = 0.3
        time.sleep(0.5)
    finally:
        stop(proc, sig)  # in the middle of a round
    e.delay = 0.0
    e.erased = False  # the images come back: a recovered alert follows
    proc = daemon(cfg)
    try:
        wait_for(
            lambda: (
                db_rows(tmp_path, "select count(*) from alerts where event='recovered'")[0][0] >= 1
            )
        )
        wait_for(
            lambda: (
                db_rows(tmp_path, "select count(*) from deliveries where state != 'delivered'")[0][
                    0
                ]
                == 0
            )
        )
    finally:
        stop(proc)
    assert rounds_are_whole(tmp_path)
    alerts = db_rows(tmp_path, "select id, event from alerts")
    delivered = [json.loads(r.body) for r in e.hooks]
    ids = [
        a["alert_id"]
        for body in delivered
        for a in (body["alerts"] if body["event"] == "batch" else [body])
    ]
    # Every alert reached the receiver, and none twice.
    assert sorted(ids) == sorted(a[0] for a in alerts)
    assert {"drop", "recovered"} <= {a[1] for a in alerts}


def snapshots_of(tmp: Path, person: str) -> int:
    [(n,)] = db_rows(
        tmp,
        "select count(*) from snapshots join series on series.id = snapshots.series_id "
        f"join people on people.id = series.person_id where people.name = '{person}'",
    )
    return int(n)


def test_sighup_applies_a_valid_config_at_the_next_round_and_refuses_an_invalid_one(
    engines: tuple[Engines, LocalServer], daemon: Start, tmp_path: Path
) -> None:
    _, server = engines
    cfg = write_config(tmp_path, server.url)
    good = cfg.read_text(encoding="utf-8")
    proc = daemon(cfg)
    try:
        wait_for(lambda: snapshots_of(tmp_path, "Dong Jingwei") >= 2)
        # An invalid config: refused with its one-line error, the old one keeps running.
        cfg.write_text(good.replace("every: 1s", "every: banana"), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        before = snapshots_of(tmp_path, "Dong Jingwei")
        wait_for(lambda: snapshots_of(tmp_path, "Dong Jingwei") >= before + 2)
        # A valid one: a new person is checked from the next round on, nothing is lost.
        cfg.write_text(
            good.replace("{name: Li Qiang}]", "{name: Li Qiang}, {name: Wang Yi}]"),
            encoding="utf-8",
        )
        kept = db_rows(tmp_path, "select id, detector_state from series order by id")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: snapshots_of(tmp_path, "Wang Yi") >= 2)
        assert snapshots_of(tmp_path, "Dong Jingwei") > before + 2  # still checked
        out = stop(proc)
    finally:
        stop(proc, signal.SIGKILL)
    assert proc.returncode == 0, out
    [refused] = [line for line in out.splitlines() if "reload refused" in line]
    assert "every" in refused and "banana" in refused
    assert "config reloaded: 5 series on 1 sources" in out
    after = dict(db_rows(tmp_path, "select id, detector_state from series"))
    assert all(after[series_id] is not None for series_id, _ in kept)  # states carried on
    assert rounds_are_whole_or_grew(tmp_path)


def rounds_are_whole_or_grew(tmp: Path) -> bool:
    """Every round has a snapshot of each series it checked: 4 before the reload, 5 after."""
    rows = db_rows(tmp, "select round_id, count(*) from snapshots group by round_id")
    kinds = dict(db_rows(tmp, "select id, kind from rounds"))
    return all(n in (4, 5) or kinds.get(r) == "recheck" for r, n in rows)
