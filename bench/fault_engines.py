"""Fault campaign, engine part: one engine misbehaves, another is fine; the real daemon.

    python -m bench.fault_engines --seconds 12

Each case runs the daemon afresh for ``--seconds`` with two Bing-format sources, a round
every 2 s each: ``good`` on a well-behaved local engine, ``bad`` on one that

- ``calm``: behaves too (the reference for the others' figures);
- ``429 storm``: answers every request 429 with ``Retry-After: 3``, and records when each
  request came (the source's rate is 1 per second);
- ``endless body``: streams a body that never ends;
- ``one byte per second``: sends its headers, then a byte a second (slowloris);
- ``100k headers``: sends 100,000 header lines;
- ``gzip bomb``: 1 GiB of zeros gzip-compressed to about 1 MB;
- ``nested divs``: 7.75 MB of ``<div>`` elements nested as deep as that allows (the page
  that took 160-233 s of CPU parsed inline, stalling every host);
- ``wide page``: 7.7 MB of shallow markup, ``<div>`` after ``<div>``: seconds of CPU to
  parse, cut at the bad source's ``parse_cpu: 2s``.

Printed per case: the daemon's peak RSS (``VmHWM``) and its largest parse worker's (a
worker replaced after a budget was hit is not counted: its budget bounds it), the bad
engine's checks (how many, their statuses, the slowest), and the good one's (how many, any
not ``ok``, the slowest, the slowest after its first round (whose checks wait for the parse
worker to start), and its rounds' longest lag behind their schedule: what the bad engine
cost the good one); for the storm,
requests sooner than the rate or than ``Retry-After`` allowed (both must be 0).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.faults import FIX, rows, wait_started
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.parsers import nested_divs, wide_page

PAGE = (FIX / "search-results-stripped.html").read_bytes()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
RETRY_AFTER = 3.0
RATE = 1.0  # seconds between two requests to the bad engine (rate: 1/1s)
NESTED = nested_divs(7_750_000)
WIDE = wide_page(7_700_000)


def gzip_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes as one gzip member of about a thousandth of that, made in a
    second: a 1 MiB block deflated after a full flush compresses to the same bytes every
    time, so the member is that piece repeated (and the CRC of the zeros)."""
    block = bytes(1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // len(block)):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = z.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + piece * (size // len(block)) + trailer


class Hostile(socketserver.ThreadingTCPServer):
    """A raw TCP engine on 127.0.0.1 answering every request the way ``mode`` says."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str, bomb: bytes = b"") -> None:
        self.mode, self.bomb, self.stop = mode, bomb, threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Hostile = self.server  # type: ignore[assignment]
        self.request.settimeout(30)
        try:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
            send, stop = self.request.sendall, server.stop
            if server.mode == "endless body":
                send(HEAD + b"\r\n" + PAGE[:2000])
                while not stop.is_set():
                    send(b"<div>" * 13107)  # 64 KiB of markup, forever
            elif server.mode == "one byte per second":
                send(HEAD + b"\r\n")
                for byte in PAGE:
                    if stop.wait(1.0):
                        return
                    send(bytes([byte]))
            elif server.mode == "100k headers":
                lines = b"".join(b"X-Filler-%d: %d\r\n" % (i, i) for i in range(100_000))
                send(HEAD + lines + b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE)
            elif server.mode == "gzip bomb":
                size = b"Content-Length: %d\r\n" % len(server.bomb)
                send(HEAD + b"Content-Encoding: gzip\r\n" + size + b"\r\n" + server.bomb)
        except OSError:
            pass  # the monitor hung up: what it should do


class Storm:
    """An engine answering 429 with ``Retry-After``, recording when each request came."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            self.times.append(time.monotonic())
        return Reply(429, "slow down", "text/plain", {"Retry-After": f"{RETRY_AFTER:g}"})

    def too_soon(self) -> tuple[int, int]:
        """Requests sooner than the rate allowed, and sooner than ``Retry-After`` did
        (each request after the first is answered 429, so each gap is one Retry-After)."""
        gaps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        return sum(g < RATE - 0.05 for g in gaps), sum(g < RETRY_AFTER - 0.05 for g in gaps)


def write_config(tmp: Path, good: str, bad: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
database: {{url: "sqlite:///{tmp / "m.db"}"}}
people: [{{name: Dong Jingwei}}, {{name: Chen Yixin}}, {{name: Li Qiang}}]
sources:
  good: {{kind: bing_images, base_url: "{good}", every: 2s, rate: 100/1s, timeout: 5s}}
  bad: {{kind: bing_images, base_url: "{bad}", every: 2s, rate: 1/1s, concurrency: 2,
         timeout: 5s, parse_cpu: 2s}}
evidence: {{keep_thumbnails: false}}  # the fixture's thumbnails are on the internet
""",
        encoding="utf-8",
    )
    return cfg


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (``VmHWM``) of process ``pid``, in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0.0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(found.group(1)) / 1024, 1) if found else 0.0


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the parse workers)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def one_case(tmp: Path, name: str, bad_url: str, seconds: float) -> dict[str, Any]:
    """Run the daemon for ``seconds`` against the good engine and ``bad_url``."""
    with LocalServer(lambda req: Reply(200, PAGE)) as good:
        cfg = write_config(tmp, good.url, bad_url)
        log = (tmp / "daemon.log").open("w", encoding="utf-8")
        env = {**os.environ, "ABSENCE_MONITOR_SHUTDOWN_GRACE": "2"}
        cmd = [sys.executable, "-m", "monitor", "--config", str(cfg), "run"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:  # the case's clock starts once the daemon has its schema and jobs
            wait_started(proc, lambda: (tmp / "daemon.log").read_text("utf-8", "replace"))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        time.sleep(seconds)
        rss = peak_rss_mib(proc.pid)
        workers = max((peak_rss_mib(c) for c in children(proc.pid)), default=0.0)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    db = tmp / "m.db"
    checks = "from snapshots join series on series.id = series_id join sources s on "
    checks += "s.id = series.source_id where s.name = "
    bad = rows(db, f"select status, elapsed_ms {checks}'bad'")
    good_rows = rows(db, f"select status, elapsed_ms {checks}'good'")
    # After the good source's first round: its checks wait for the parse worker's start.
    later = rows(
        db,
        f"select elapsed_ms {checks}'good' and round_id > "
        f"(select min(round_id) {checks}'good')",
    )
    lags = [
        float(m.group(1))
        for m in re.finditer(
            r"round:good started ([\d.]+)s after", (tmp / "daemon.log").read_text("utf-8")
        )
    ]
    return {
        "case": name,
        "peak RSS MiB": rss,
        "largest worker peak RSS MiB": workers,
        "bad checks": len(bad),
        "bad statuses": dict(Counter(s for s, _ in bad)),
        "bad slowest s": max((ms for _, ms in bad), default=0) / 1000,
        "good checks": len(good_rows),
        "good not ok": sum(s != "ok" for s, _ in good_rows),
        "good slowest s": max((ms for _, ms in good_rows), default=0) / 1000,
        "good slowest after its first round s": max((ms for (ms,) in later), default=0) / 1000,
        "good round lag max s": max(lags, default=0.0),
        "exit code": code,
    }


def campaign(tmp: Path, seconds: float, cases: list[str] | None = None) -> list[dict[str, Any]]:
    """Every case (or ``cases``), each in a directory of its own under ``tmp``."""
    out = []
    makers: dict[str, Callable[[], Any]] = {
        "calm": lambda: LocalServer(lambda req: Reply(200, PAGE)).start(),
        "429 storm": lambda: LocalServer(Storm()).start(),
        "endless body": lambda: Hostile("endless body"),
        "one byte per second": lambda: Hostile("one byte per second"),
        "100k headers": lambda: Hostile("100k headers"),
        "gzip bomb": lambda: Hostile("gzip bomb", gzip_bomb()),
        "nested divs": lambda: LocalServer(lambda req: Reply(200, NESTED)).start(),
        "wide page": lambda: LocalServer(lambda req: Reply(200, WIDE)).start(),
    }
    for name in cases or list(makers):
        where = tmp / name.replace(" ", "-")
        where.mkdir(parents=True)
        server = makers[name]()
        try:
            figures = one_case(where, name, server.url, seconds)
        finally:
            server.close() if isinstance(server, Hostile) else server.stop()
        if isinstance(getattr(server, "handler", None), Storm):
            storm: Storm = server.handler
            figures["requests"] = len(storm.times)
            figures["sooner than the rate"], figures["sooner than Retry-After"] = storm.too_soon()
        out.append(figures)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=12.0, help="how long each case runs")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fault-engines-"))
    for figures in campaign(tmp, args.seconds, args.case):
        print("; ".join(f"{k}: {v}" for k, v in figures.items()))
    print(f"(logs in {tmp})")


if __name__ == "__main__":
    main()
