"""The scenario that matters, end to end, twice: through ``check`` run as cron runs it (one
CLI process per check) and through the daemon's own steps (in process, on a fake clock).
A baseline, a drop confirmed by two checks, a recovery; then the drop's bundle holds the
pre-drop, both confirming and the recovery responses, matched by SHA-256 to what the engine
sent; ``evidence verify`` passes; one flipped byte in any file of the bundle, or an edited
count in SQLite, makes ``evidence verify`` / ``db verify`` fail naming it; ``db prune`` with a
1-second retention keeps all of it.

Deterministic: the engine is scripted (it changes only between checks, by the test's hand),
the daemon's clock is fake, every CLI process runs to its end before the next step, and
nothing waits on time.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from monitor.app import build
from monitor.cli.main import cli
from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.daemon.service import Daemon
from monitor.testing import LocalServer, Reply, Request

pytestmark = pytest.mark.e2e
FIX = Path(__file__).parent / "fixtures" / "sources" / "bing_images"
DONG = "Dong Jingwei"
START = datetime(2021, 5, 20, tzinfo=UTC)


class Engine:
    """Bing from its real answers; Dong Jingwei's images are gone while ``erased``. Every
    answer ends with its serial, so no two bodies are alike, and the SHA-256 of each body
    sent is recorded per query, in order."""

    def __init__(self) -> None:
        self.erased = False
        self.sent: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()
        self.full = (FIX / "search-results-stripped.html").read_bytes()
        self.empty = (FIX / "no-results-constructed.html").read_bytes()

    def __call__(self, req: Request) -> Reply:
        term = (req.query.get("q") or [""])[0]
        page = self.empty if term == DONG and self.erased else self.full
        with self.lock:
            body = page + f"\n<!-- answer {sum(map(len, self.sent.values()))} -->\n".encode()
            self.sent[term].append(hashlib.sha256(body).hexdigest())
        return Reply(200, body)


@pytest.fixture
def engine() -> Iterator[tuple[Engine, LocalServer]]:
    e = Engine()
    with LocalServer(e) as server:
        yield e, server


def write_config(tmp: Path, url: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp / "m.db"}"}}
people: [{{name: {DONG}}}, {{name: Chen Yixin}}]
sources:
  bing: {{kind: bing_images, base_url: "{url}", every: 6h, rate: 100/1s, concurrency: 4,
          controls: [giant panda]}}
detection: {{min_history: 4, tiny_baseline: 2, tiny_min_baseline: 1}}
evidence: {{raw_retention: 1s, keep_thumbnails: false}}
""",
        encoding="utf-8",
    )
    return cfg


def cli_process(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(cfg: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(cfg.parent / "m.db") as conn:
        return conn.execute(sql).fetchall()


def events(cfg: Path) -> list[object]:
    return [e for (e,) in rows(cfg, "select event from alerts order by id")]


def expected(engine: Engine, baseline: int) -> list[tuple[str, str]]:
    """What the drop's bundle must hold: the last answer before the erasure, the two
    erased ones that confirmed it, and the first answer after it."""
    sent = engine.sent[DONG]
    return [
        ("pre_drop", sent[baseline - 1]),
        ("confirming", sent[baseline]),
        ("confirming", sent[baseline + 1]),
        ("recovery", sent[baseline + 2]),
    ]


def run_by_cron(cfg: Path, engine: Engine) -> list[tuple[str, str]]:
    """`absence-monitor check`, one process per check, as a crontab runs it."""

    def check() -> None:
        done = cli_process(cfg, "check")
        assert done.returncode == 0, done.stderr

    for _ in range(5):
        check()
    engine.erased = True
    check()
    assert events(cfg) == []  # one low check is a sign, not a drop
    check()
    assert events(cfg) == ["drop"]  # confirmed by the second
    engine.erased = False
    for _ in range(4):
        check()
        if "recovered" in events(cfg):
            break
    assert events(cfg) == ["drop", "recovered"]
    return expected(engine, 5)


async def run_by_daemon(cfg: Path, engine: Engine) -> list[tuple[str, str]]:
    """The daemon's round and re-check steps on a fake clock: rounds 6 h apart, early
    re-checks at the time the detector asked for them."""
    clock = FakeClock(START)
    app = build(load_config(str(cfg)), clock=clock)
    app.migrate()
    daemon = Daemon(app)
    daemon.refs = app.series()
    rechecks = "select min(next_check_at) from series where next_check_at is not null"

    async def step() -> None:
        """The next thing the daemon would do: a due re-check, else the next round."""
        [(due,)] = rows(cfg, rechecks)
        if due is not None:
            clock.now = datetime.fromisoformat(str(due)).replace(tzinfo=UTC)
            await daemon.recheck_step()
        else:
            clock.advance(timedelta(hours=6))
            await daemon.round_step("bing", spread=False)

    async with app.fetcher() as fetcher:
        daemon.rounds = app.rounds(fetcher)
        for _ in range(5):
            await step()
        engine.erased = True
        await step()
        assert events(cfg) == [] and rows(cfg, rechecks) != [(None,)]
        await step()  # the early re-check, 45 minutes later, confirms it
        assert events(cfg) == ["drop"]
        engine.erased = False
        for _ in range(6):
            await step()
            if "recovered" in events(cfg):
                break
    app.engine.dispose()
    assert events(cfg) == ["drop", "recovered"]
    return expected(engine, 5)


def held(bundle: Path) -> list[tuple[str, str]]:
    """The responses in a bundle's WARC, by role, with the SHA-256 of each body."""
    roles = {}
    with zipfile.ZipFile(bundle) as z:
        for record in ArchiveIterator(io.BytesIO(z.read("evidence.warc.gz"))):
            if record.rec_type == "response":
                body = record.content_stream().read()
                snapshot = int(record.rec_headers.get_header("X-Absence-Snapshot"))
                roles[snapshot] = (
                    record.rec_headers.get_header("X-Absence-Role"),
                    hashlib.sha256(body).hexdigest(),
                )
        manifest = json.loads(z.read("manifest.json"))
    order = [r["snapshot_id"] for r in manifest["responses"]]
    return [roles[s] for s in order]


def verify(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["evidence", "verify", str(path)])
    return result.exit_code, result.output


def flip(src: Path, name: str, dst: Path) -> None:
    """``src`` with one byte of ``name`` changed, in its middle."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = bytearray(zin.read(info.filename))
            if info.filename == name:
                data[len(data) // 2] ^= 0x20
            zout.writestr(info, bytes(data))


def check_the_evidence(cfg: Path, wanted: list[tuple[str, str]]) -> None:
    [(drop,)] = rows(cfg, "select id from alerts where event = 'drop'")
    bundle = cfg.parent / "drop.zip"
    done = cli_process(cfg, "evidence", "export", str(drop), "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    assert held(bundle) == wanted
    done = cli_process(cfg, "evidence", "verify", str(bundle))
    assert done.returncode == 0, done.stderr
    # One flipped byte in any file of the bundle is named.
    names = zipfile.ZipFile(bundle).namelist()
    assert len(names) == 7
    for name in names:
        flip(bundle, name, cfg.parent / "flipped.zip")
        code, output = verify(cfg.parent / "flipped.zip")
        assert code == 1 and f"evidence verify: {name}: " in output, (name, output)
    # Retention of 1 s keeps every held response: the bundle is the same afterwards.
    done = cli_process(cfg, "db", "prune")
    assert done.returncode == 0 and "kept as an alert's evidence" in done.stdout, done.stderr
    again = cfg.parent / "again.zip"
    assert cli_process(cfg, "evidence", "export", str(drop), "-o", str(again)).returncode == 0
    assert held(again) == wanted and verify(again)[0] == 0
    # The database's own log: intact, then an edited count is named.
    done = cli_process(cfg, "db", "verify")
    assert done.returncode == 0, done.stderr
    [(snapshot, seq)] = rows(
        cfg,
        "select s.id, s.log_seq from snapshots s join evidence_holds h on h.snapshot_id = s.id "
        f"where h.alert_id = {drop} and h.role = 'confirming' order by s.id limit 1",
    )
    with sqlite3.connect(cfg.parent / "m.db") as conn:
        conn.execute(f"update snapshots set image_count = 5 where id = {snapshot}")
    done = cli_process(cfg, "db", "verify")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: db verify: entry {seq}: snapshot {snapshot}, {DONG}")


def test_evidence_from_check_run_by_cron(
    engine: tuple[Engine, LocalServer], tmp_path: Path
) -> None:
    e, server = engine
    cfg = write_config(tmp_path, server.url)
    check_the_evidence(cfg, run_by_cron(cfg, e))


def test_evidence_from_the_daemon(engine: tuple[Engine, LocalServer], tmp_path: Path) -> None:
    e, server = engine
    cfg = write_config(tmp_path, server.url)
    check_the_evidence(cfg, asyncio.run(run_by_daemon(cfg, e)))
