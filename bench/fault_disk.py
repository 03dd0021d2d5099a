"""Fault campaign, full-disk part: the real daemon's database can no longer grow, then can.

    python -m bench.fault_disk --full 6

The daemon runs against the campaign's engine (``bench.faults.World``), a round a second.
After a few rounds its file size limit (``RLIMIT_FSIZE``, set from outside with
``prlimit``: what a full disk looks like to SQLite, a write that fails) drops to 4 KiB for
``--full`` seconds, then goes back to unlimited: the space returns, the daemon is not
restarted. Its log is read through a pipe (a log file would be refused too).

Printed: the daemon's error line, rounds stored while full (each one whole or none:
``PRAGMA integrity_check`` and every round with a snapshot for each of its series), whether
the daemon kept running, and how long after the space returned the next round was stored.
"""

from __future__ import annotations

import argparse
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.faults import World, count, integrity, rows, wait_for, wait_started, write_config
from monitor.testing import LocalServer

FULL = 4096  # bytes: not one WAL frame fits


class Daemon:
    """The daemon process, its log lines collected by a thread."""

    def __init__(self, cfg: Path, log: Path) -> None:
        env = {"ABSENCE_MONITOR_SHUTDOWN_GRACE": "5"}
        cmd = [sys.executable, "-m", "monitor", "--config", str(cfg), "run"]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**_environ(), **env},
        )
        self.lines: list[str] = []
        self._log = log.open("a", encoding="utf-8")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._log.write(line)

    def limit(self, size: int) -> None:
        _, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (size, hard))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        self._log.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def whole(db: Path, series: int) -> bool:
    """Every round has a snapshot for each of its series (re-check rounds check fewer)."""
    kinds = dict(rows(db, "select id, kind from rounds"))
    found = rows(db, "select round_id, count(*) from snapshots group by round_id")
    return all(n == series or kinds.get(r) == "recheck" for r, n in found)


def campaign(tmp: Path, full_s: float) -> dict[str, Any]:
    """Run the full-disk part in ``tmp``; returns its figures."""
    figures: dict[str, Any] = {}
    db = tmp / "m.db"
    world = World(period=1e9)
    with LocalServer(world) as server:
        daemon = Daemon(write_config(tmp, server.url), tmp / "daemon.log")
        try:
            wait_started(daemon.proc, lambda: "\n".join(daemon.lines))
            figures["rounds before"] = wait_for(lambda: count(db, "rounds") >= 3, 60) and count(
                db, "rounds"
            )
            daemon.limit(FULL)
            full_at = count(db, "rounds")
            time.sleep(full_s)
            errors = [ln for ln in daemon.lines if "refused the write" in ln]
            figures["error line"] = errors[0][errors[0].find("job") :] if errors else None
            figures["error lines with a traceback"] = sum("Traceback" in ln for ln in daemon.lines)
            figures["rounds stored while full"] = count(db, "rounds") - full_at
            figures["integrity while full"] = integrity(db)
            figures["rounds whole"] = whole(db, 4)
            figures["running while full"] = daemon.proc.poll() is None
            daemon.limit(resource.RLIM_INFINITY)
            back, before = time.monotonic(), count(db, "rounds")
            recovered = wait_for(lambda: count(db, "rounds") > before, 60)
            figures["next round stored after space returned (s)"] = (
                round(time.monotonic() - back, 1) if recovered else None
            )
        finally:
            figures["daemon exit code"] = daemon.stop()
    figures["integrity at the end"] = integrity(db)
    figures["rounds whole at the end"] = whole(db, 4)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", type=float, default=6.0, help="seconds the disk is full")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fault-disk-"))
    for name, value in campaign(tmp, args.full).items():
        print(f"{name:44} {value}")
    print(f"(logs in {tmp})")


if __name__ == "__main__":
    main()
