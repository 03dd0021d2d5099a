"""End to end: `absence-monitor check` against a Baidu on 127.0.0.1 whose session cookies
wear out. A round of many checks stays ``ok`` (the monitor renews the session when told
``antiFlag``); an engine that never hands out a cookie ends ``blocked`` after one renewal,
and the requests it received are counted: no loop.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from monitor.testing import LocalServer, Reply, Request

FIX = Path(__file__).parent / "fixtures" / "sources" / "baidu_images"
PEOPLE = [f"person {n}" for n in range(12)]
pytestmark = pytest.mark.e2e


class WearingBaidu:
    """``/`` hands out ``BAIDUID=s<n>``; ``acjson`` answers results for a session used at
    most ``uses`` times and ``antiFlag`` for an older, unknown or missing one."""

    def __init__(self, uses: int, *, gives_cookies: bool = True) -> None:
        self.uses = uses
        self.gives_cookies = gives_cookies
        self.used: Counter[str] = Counter()
        self.antiflags = 0
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        with self._lock:
            if req.path == "/":
                if not self.gives_cookies:
                    return Reply(200, "<html>home</html>")
                session = f"s{len(self.used) + 1}"
                self.used[session] = 0
                return Reply(200, "<html>home</html>", headers={"Set-Cookie": f"BAIDUID={session}"})
            if req.path != "/search/acjson":
                return Reply(404, "not found", "text/plain")
            session = req.headers.get("cookie", "").removeprefix("BAIDUID=")
            if session in self.used and self.used[session] < self.uses:
                self.used[session] += 1
                return Reply(200, (FIX / "acjson-results.json").read_bytes(), "text/plain")
            self.antiflags += 1
            return Reply(200, (FIX / "acjson-antiflag-1.json").read_bytes(), "text/plain")


def check_round(server: LocalServer, tmp_path: Path) -> list[tuple[str, str]]:
    """Run ``check`` over every person once; each check's (status, reason)."""
    db = tmp_path / "m.db"
    config = tmp_path / "config.yaml"
    people = "\n".join(f"  - name: {p}" for p in PEOPLE)
    config.write_text(
        f"""
database: {{url: "sqlite:///{db}"}}
people:
{people}
sources:
  baidu: {{kind: baidu_images, base_url: "{server.url}", rate: 50/1s, retries: 0}}
""",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as conn:
        return conn.execute("select status, coalesce(reason, '') from snapshots").fetchall()


def test_round_stays_ok_while_sessions_wear_out(tmp_path: Path) -> None:
    engine = WearingBaidu(uses=3)
    with LocalServer(engine) as server:
        checks = check_round(server, tmp_path)
    assert len(checks) == len(PEOPLE)
    assert [status for status, _ in checks] == ["ok"] * len(PEOPLE)
    homes = sum(1 for r in server.requests if r.path == "/")
    # 12 answers from sessions good for 3: the first warm-up and a renewal only when the
    # current session is worn out, never one per refused check.
    assert homes == 4
    # The round starts every check at once, so requests queued behind a renewal still
    # carry the worn session and are asked again: bounded, and each one accounted for.
    assert engine.antiflags < 2 * len(PEOPLE)
    assert len(server.requests) == homes + len(PEOPLE) + engine.antiflags


def test_engine_that_never_gives_a_cookie_ends_blocked_not_in_a_loop(tmp_path: Path) -> None:
    engine = WearingBaidu(uses=3, gives_cookies=False)
    with LocalServer(engine) as server:
        checks = check_round(server, tmp_path)
    assert [status for status, _ in checks] == ["blocked"] * len(PEOPLE)
    assert all(reason.startswith("antiFlag=1") for _, reason in checks)
    paths = Counter(r.path for r in server.requests)
    # One warm-up, one renewal (the first check's), then each check asks once.
    assert paths == {"/": 2, "/search/acjson": len(PEOPLE) + 1}
