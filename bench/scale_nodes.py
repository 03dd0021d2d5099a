"""Real node processes as one cluster: checks per second over 1, 2 and 4 nodes per vantage,
and the detection lag from a round's last check to its alerts in the outbox.

Used by ``bench.scale`` (``--nodes 1,2,4``). For each node count ``k`` the same PostgreSQL
database (history seeded once, below) gets ``k`` daemons per vantage: ``python -m monitor
--config NODE.yaml run`` with ``cluster.enabled``, as ``tests/test_cluster_e2e.py`` starts
them, two vantages (``cn-beijing``, ``de``), each vantage's nodes pointed at that vantage's
own Bing-format engine on 127.0.0.1 (``monitor.testing.LocalServer`` in this process, the
stripped real page of ``tests/fixtures/sources/bing_images``). Each node keeps its own
per-host limit, ``rate`` checks per second: one node is one egress address. The rate is
chosen low enough (default 10/s) that one node per vantage is bound by it and not by this
machine's CPU (two cores shared with other work; a node alone makes a check in a few
milliseconds of CPU); whether the machine stayed below saturation is printed for each run
(the busy cores while the round ran, from ``/proc/stat``), so a figure bound by CPU shows.

One round of every series at each vantage is measured per node count. The daemons tick at
their source's period boundary (``every`` is picked so the next boundary falls shortly
after they have started; a node that misses it joins through its sweep within seconds):

- **checks per second** of a vantage: its round's snapshots divided by the span from its
  first check's start to its last check's end (``snapshots.started_at``/``finished_at``);
  the two vantages' rates added. The ideal is ``2 x k x rate``.
- **detection lag**: a fraction of the people (``--erased``, a different set each run) get
  the engine's "no results" page at both vantages, so the round closes with drop alerts;
  the lag of a round is from its last check's end to the moment all its drop alerts are
  visible in the ``alerts`` table (polled every 0.1 s by this process): the last batch's
  staging, the leader's close step (every second), and the transaction that stores the
  round (snapshots, detector, alerts). Two rounds per node count (one per vantage).

History: the detector needs ``min_history`` valid checks before it judges a series, so
two earlier rounds of every series at each vantage are written first through the leader's
own path (``RoundCommit``) with what the engine's page parses to, so the measured round
is an unchanged round for all but the erased people.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.machine import cpu_jiffies, tree_cpu, wait_for
from monitor import sources
from monitor.app import build
from monitor.config import Config, parse_config
from monitor.core.observation import Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog
from monitor.testing import LocalServer, Reply, Request

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sources" / "bing_images"
VANTAGES = ("cn-beijing", "de")
Closed = dict[str, tuple[int, float, float, list[int]]]
# The drop of a 5-image series to "no results" alerts at its first check (the page has
# 5 images: below the default tiny baseline, where only repeated "no results" would).
DETECTION = (
    "detection: {min_history: 2, confirm_checks: 1, tiny_baseline: 2, tiny_min_baseline: 1}\n"
)


class Engine:
    """A Bing-format engine of one vantage: the people in ``erased`` get "no results"."""

    def __init__(self) -> None:
        self.erased: frozenset[str] = frozenset()
        self.page = (FIX / "search-results-stripped.html").read_bytes()
        self.empty = (FIX / "no-results-constructed.html").read_bytes()

    def __call__(self, req: Request) -> Reply:
        term = (req.query.get("q") or [""])[0]
        return Reply(200, self.empty if term in self.erased else self.page)


def person(i: int) -> str:
    return f"Person {i:05d}"


@dataclass
class Run:
    """One node count's measured round, per vantage."""

    nodes: int
    checks: dict[str, int] = field(default_factory=dict)
    span: dict[str, float] = field(default_factory=dict)  # first check's start to last's end
    lag: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    busy: float = 0.0  # the machine's busy cores while the rounds ran
    node_cpu: float = 0.0  # CPU seconds of the node processes (and their parse workers)

    def rate(self) -> float:
        """Checks per second, the vantages' rates added."""
        return sum(self.checks[v] / self.span[v] for v in self.checks if self.span[v] > 0)


class Bench:
    """The engines, the database and the node processes of the benchmark."""

    def __init__(self, url: str, tmp: Path, series: int, rate: float, erased: float) -> None:
        self.url, self.tmp, self.series, self.rate = url, tmp, series, rate
        self.erased_every = max(1, round(1 / erased)) if erased > 0 else 0
        self.engines = {v: Engine() for v in VANTAGES}
        self.servers = {v: LocalServer(e) for v, e in self.engines.items()}
        for server in self.servers.values():
            # A node that stops resets its kept-alive connections: not worth a traceback.
            server.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.sql = create_engine(url)
        self.people = "".join(f"  - {{name: {person(i)}}}\n" for i in range(series))
        # (time, the machine's busy jiffies, all its jiffies, the nodes' CPU seconds)
        self.samples: list[tuple[float, int, int, float]] = []
        self.seen: dict[int, float] = {}  # alert id -> when this process first saw it

    def __enter__(self) -> Bench:
        for s in self.servers.values():
            s.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.servers.values():
            s.stop()
        self.sql.dispose()

    def config_text(self, vantage: str, every: int, node: str | None) -> str:
        spool = self.tmp / f"spool-{node}.sqlite"
        cluster = f"cluster: {{enabled: true, node: {node}, spool: '{spool}'}}\n" if node else ""
        return (
            f"database: {{url: '{self.url}'}}\nvantage: {vantage}\npeople:\n{self.people}"
            f"sources:\n  bing:\n    kind: bing_images\n    base_url: {self.servers[vantage].url}\n"
            f"    every: {every}s\n    rate: {self.rate:g}/1s\n    concurrency: 4\n"
            # The fixture's thumbnails are on the internet: a benchmark stays on 127.0.0.1.
            f"{DETECTION}evidence: {{keep_thumbnails: false}}\n{cluster}"
        )

    def seed(self, rounds: int = 2) -> None:
        """``rounds`` earlier rounds of every series at each vantage, unchanged results,
        written through ``RoundCommit`` (the leader's path)."""
        now = datetime.now(UTC)
        for vantage in VANTAGES:
            config = parse_config(self.config_text(vantage, 3600, None), "seed.yaml", {})
            observation = parsed(config)
            app = build(config, channels=[])
            app.migrate()
            with app.sessions() as session, session.begin():
                refs = [r for r in catalog.sync(session, config) if r.role == "watch"]
            commit = RoundCommit(app.sessions, config, {"bing": "bing"}, [])
            for n in range(rounds, 0, -1):
                at = now - n * timedelta(hours=1)
                commit("bing", [Checked(r, observation, at, at) for r in refs], at, "scheduled")
            app.engine.dispose()

    def measure(self, k: int, lead: float) -> Run:
        """One round at each vantage made by ``k`` nodes per vantage (see the module
        docstring); the nodes are stopped before it returns."""
        run, mark = Run(k), self.erased_mark(k)
        for engine in self.engines.values():
            engine.erased = frozenset(
                person(i)
                for i in range(self.series)
                if self.erased_every and i % self.erased_every == mark
            )
        expected = len(self.engines[VANTAGES[0]].erased)
        every = pick_every(time.time(), self.series / (k * self.rate), lead)
        since = datetime.now(UTC)
        procs = [self.start(f"{v}-k{k}-{i}", v, every) for v in VANTAGES for i in range(k)]
        stop = threading.Event()
        pids = [p.pid for p in procs]
        poller = threading.Thread(target=self.poll, args=(since, pids, stop), daemon=True)
        poller.start()
        try:
            bound = lead + 60 + 3 * self.series / (k * self.rate) + 300
            done = wait_for(lambda: self.closed(since, expected), bound, procs)
            time.sleep(0.3)  # the poller's last look
        finally:
            stop.set()
            poller.join()
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for vantage, (count, first, last, alert_ids) in done.items():
            run.checks[vantage] = count
            run.span[vantage] = last - first
            run.alerts[vantage] = len(alert_ids)
            if alert_ids:
                run.lag[vantage] = max(self.seen[a] for a in alert_ids) - last
        firsts = [first for _, first, _, _ in done.values()]
        lasts = [last for _, _, last, _ in done.values()]
        run.busy, run.node_cpu = self.cpu_between(min(firsts), max(lasts))
        return run

    def erased_mark(self, k: int) -> int:
        """Which residue of ``erased_every`` run ``k`` erases: a different set per run."""
        return {1: 1, 2: 2, 4: 3}.get(k, k) % max(self.erased_every, 1)

    def start(self, name: str, vantage: str, every: int) -> subprocess.Popen[bytes]:
        cfg = self.tmp / f"{name}.yaml"
        cfg.write_text(self.config_text(vantage, every, name), encoding="utf-8")
        log = (self.tmp / f"{name}.log").open("wb")
        env = {**os.environ, "ABSENCE_MONITOR_SHUTDOWN_GRACE": "10"}
        cmd = [sys.executable, "-m", "monitor", "--config", str(cfg), "run"]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def closed(self, since: datetime, expected: int) -> Closed | None:
        """Per vantage, the round closed since ``since`` (snapshots, first start and last
        end as epoch seconds, its drop alerts) once both are in with their alerts; else None."""
        with self.sql.connect() as conn:
            rounds = conn.execute(
                text(
                    "SELECT r.id, r.vantage, count(s.id), min(s.started_at), max(s.finished_at) "
                    "FROM rounds r JOIN snapshots s ON s.round_id = r.id "
                    "WHERE r.started_at >= :since AND r.kind = 'scheduled' GROUP BY r.id, r.vantage"
                ),
                {"since": since},
            ).all()
            out = {}
            for rid, vantage, count, first, last in rounds:
                ids = conn.scalars(
                    text(
                        "SELECT a.id FROM alerts a JOIN snapshots s ON a.snapshot_id = s.id "
                        "WHERE s.round_id = :r AND a.event = 'drop'"
                    ),
                    {"r": rid},
                ).all()
                out[vantage] = (int(count), _epoch(first), _epoch(last), list(ids))
        complete = all(
            v in out and out[v][0] >= self.series and len(out[v][3]) >= expected for v in VANTAGES
        )
        return out if complete and all(a in self.seen for v in out for a in out[v][3]) else None

    def poll(self, since: datetime, pids: list[int], stop: threading.Event) -> None:
        """Every 0.1 s: note new alerts with the time first seen; every second the CPU
        used so far by the machine and by the nodes."""
        n = 0
        while not stop.wait(0.1):
            if n % 10 == 0:
                self.samples.append((time.time(), *cpu_jiffies(), tree_cpu(pids)))
            n += 1
            with self.sql.connect() as conn:
                ids = conn.scalars(
                    text("SELECT id FROM alerts WHERE created_at >= :since"), {"since": since}
                ).all()
            now = time.time()
            for a in ids:
                self.seen.setdefault(a, now)

    def cpu_between(self, start: float, end: float) -> tuple[float, float]:
        """Between two epoch times: the machine's busy cores (of ``os.cpu_count()``), and
        the CPU seconds the nodes used."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan")
        (_, b0, a0, n0), (_, b1, a1, n1) = inside[0], inside[-1]
        return (b1 - b0) / max(a1 - a0, 1) * (os.cpu_count() or 1), n1 - n0


def parsed(config: Config) -> Observation:
    """What the bing source makes of the engine's page: the seeded rounds' result."""
    source = sources.load("bing_images")("bing", config.sources["bing"])
    request = source.build_request(person(0), 0)
    page = (FIX / "search-results-stripped.html").read_bytes()
    response = httpx.Response(
        200, content=page, headers={"content-type": "text/html; charset=utf-8"}, request=request
    )
    return Observation(Status.OK, items=list(source.parse(response, 0).items))


def pick_every(now: float, round_s: float, lead: float) -> int:
    """A source period, in whole seconds, of at least three times the round's expected
    length plus ten minutes, whose next boundary falls ``lead`` to ``lead + 20`` seconds
    from ``now``: a node's first tick is at its source's next period boundary. The margin
    is for the leader's storing of the round (minutes for 10,000 checks on a loaded
    machine): a second tick before the nodes are stopped would leave claims that the next
    node count's nodes take up first."""
    e = int(3 * round_s + 600)
    while not lead <= (-now) % e <= lead + 20:
        e += 1
    return e


def _epoch(value: datetime | str) -> float:
    if isinstance(value, str):  # a driver that returns text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
