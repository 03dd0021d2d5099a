"""Benchmark: ``absence-monitor check`` against urlwatch 2.29 on the same 300 pages.

    python -m bench.peer_urlwatch --runs 5

urlwatch is installed into a throwaway virtual environment (``pip install urlwatch==2.29``),
kept under the temporary directory and reused by later runs (``--venv``). One local server
on 127.0.0.1 serves 300 Bing-format pages of about 20 KB, each built from the real Bing
fixture (``tests/fixtures/sources/bing_images/search-results-stripped.html``: its five
``a.iusc`` result anchors repeated, with image, thumbnail and page URLs of their own on
every page), chosen by the query's ``q``. Both programs fetch the same 300 URLs:

- the monitor: a config of 300 people on one ``bing_images`` source at that server, rate
  unlimited (100000/1s), 10 requests in flight (urlwatch's thread count), thumbnails not
  kept (the fixture's thumbnails are on the internet), the default SQLite database in a
  fresh directory each run, migrated (``db upgrade``) before the clock starts; the timed
  command is ``absence-monitor --config config.yaml check``;
- urlwatch: 300 jobs with a ``css: a.iusc`` filter, a fresh cache file each run, its
  default config written before the clock starts; the timed command is
  ``urlwatch --urls urls.yaml --config urlwatch.yaml --cache cache.db``.

Each runs as a whole process, alternately, ``--runs`` times. CPU is user+sys of the process
and every child it waited for (the monitor's parse workers), from ``os.wait4``; wall is from
start to exit. Figures are medians; ratios are the monitor's over urlwatch's. The start-up
part times ``absence-monitor --version``, ``--help`` and ``config check`` (the same config)
against ``urlwatch --version`` the same way. Standard output of both goes to a file, as
under cron. No socket is opened beyond 127.0.0.1: the pages' image URLs are never fetched.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from monitor.testing import LocalServer, Reply, Request

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/sources/bing_images/search-results-stripped.html"
)
URLWATCH = "urlwatch==2.29"
# The query string the bing_images source sends for a term (async endpoint, en-US market).
QUERY = "q={q}&first=1&count=35&async=1&mmasync=1&mkt=en-US&setlang=en-us"
# An m attribute's image, thumbnail and page URL, up to the end of the host.
URL_IN_M = re.compile(r"(&quot;(?:murl|turl|purl)&quot;:&quot;https?://[^/&]+/)")


@dataclass(frozen=True)
class Run:
    cpu: float
    wall: float


@dataclass(frozen=True)
class Monitor:
    """One absence-monitor to time: its label, command and environment additions."""

    label: str
    cmd: list[str]
    env: dict[str, str]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each program")
    ap.add_argument("--pages", type=int, default=300, help="pages (people, jobs)")
    ap.add_argument("--page-kb", type=int, default=20, help="approximate size of each page")
    ap.add_argument("--startup-runs", type=int, default=9, help="runs of each start-up command")
    ap.add_argument(
        "--venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "peer-urlwatch-venv",
        help="urlwatch's virtual environment (created when missing, reused otherwise)",
    )
    ap.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="also run check once under cProfile (the main process) and save the stats here",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also time the monitor of this source tree (python -m monitor with PYTHONPATH=DIR,\n"
        "this environment's libraries), alternating with the others; repeatable",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    urlwatch = install_urlwatch(args.venv)
    version = subprocess.run([str(urlwatch), "--version"], capture_output=True, text=True)
    print(f"peer: {version.stdout.strip()} ({urlwatch})")
    # A baseline runs the same console script with its tree first on the path.
    installed = monitor_command()
    monitors = [installed] + [
        Monitor(f"absence-monitor@{d.name}", installed.cmd, {"PYTHONPATH": str(d)})
        for d in args.baseline
    ]
    pages = build_pages(args.pages, args.page_kb * 1024)
    terms = [f"person {i:05d}" for i in range(args.pages)]
    by_term = dict(zip(terms, pages, strict=True))

    def handler(req: Request) -> Reply:
        page = by_term.get((req.query.get("q") or [""])[0])
        return Reply(404, b"unknown query") if page is None else Reply(200, page)

    work = Path(tempfile.mkdtemp(prefix="bench-peer-urlwatch-"))
    server = LocalServer(handler).start()
    try:
        setup = Setup(work, server.url, terms, urlwatch)
        sizes = sorted(len(p) for p in pages)
        print(
            f"{len(pages)} pages, {sizes[len(sizes) // 2] / 1024:.1f} KB median, one server at "
            f"{server.url}; {args.runs} runs each, alternating; work directory {work}"
        )
        compare(setup, monitors, args.runs)
        startup(setup, monitors, args.startup_runs)
        if args.profile:
            setup.profile(monitors[0], args.profile)
        missed = [r for r in server.requests if r.query.get("q", [""])[0] not in by_term]
        if missed:
            print(f"warning: {len(missed)} requests for pages not served (404)")
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def install_urlwatch(venv: Path) -> Path:
    """urlwatch's executable in ``venv``, created with pip on first use (the user's pip
    configuration applies: an index mirror is honoured)."""
    exe = venv / "bin" / "urlwatch"
    if not exe.exists():
        print(f"installing {URLWATCH} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", URLWATCH],
            check=True,
        )
    return exe


def monitor_command() -> Monitor:
    """The installed console script, as users start it (``python -m monitor`` otherwise)."""
    script = Path(sys.executable).parent / "absence-monitor"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    return Monitor("absence-monitor", cmd, {})


def build_pages(count: int, size: int) -> list[bytes]:
    """``count`` result pages of about ``size`` bytes: the fixture's anchors repeated, every
    image, thumbnail and page URL given a path of its own (``/p<page>-<n>/``)."""
    text = FIXTURE.read_text(encoding="utf-8")
    found = list(re.finditer(r"<li.*?</li>", text, re.S))
    items = [m.group(0) for m in found]
    head, tail = text[: found[0].start()], text[found[-1].end() :]
    per_page = max(1, round((size - len(head) - len(tail)) / (sum(map(len, items)) / len(items))))
    pages = []
    for p in range(count):
        body = [URL_IN_M.sub(rf"\g<1>p{p}-{n}/", items[n % len(items)]) for n in range(per_page)]
        pages.append((head + "\n".join(body) + tail).encode("utf-8"))
    return pages


class Setup:
    """The work directory: a fresh run directory per timed run of either program."""

    def __init__(self, work: Path, url: str, terms: Sequence[str], urlwatch: Path) -> None:
        self.work, self.url, self.terms, self.urlwatch = work, url, terms, urlwatch
        self.count = 0
        people = "\n".join(f"  - name: {t}" for t in terms)
        self.config = (
            f"people:\n{people}\n"
            "sources:\n"
            f"  bing:\n    kind: bing_images\n    base_url: {url}\n"
            "    rate: 100000/1s\n    concurrency: 10\n    every: 6h\n"
            "evidence: {keep_thumbnails: false}\n"
        )
        jobs = [
            f"name: {t}\nurl: {url}/images/async?{QUERY.format(q=quote_plus(t))}\n"
            "filter:\n  - css: a.iusc\n"
            for t in terms
        ]
        self.jobs = "---\n".join(jobs)
        # urlwatch writes its default config on first use: done once here, not timed.
        seed = self.fresh("urlwatch-seed")
        (seed / "urls.yaml").write_text(self.jobs.split("---\n")[0])
        run_quiet([*self.urlwatch_args(seed), "--list"], seed)
        self.urlwatch_config = (seed / "urlwatch.yaml").read_text()

    def fresh(self, label: str) -> Path:
        self.count += 1
        path = self.work / f"{self.count:03d}-{label}"
        path.mkdir()
        return path

    def urlwatch_args(self, where: Path) -> list[str]:
        return [
            str(self.urlwatch),
            "--urls",
            str(where / "urls.yaml"),
            "--config",
            str(where / "urlwatch.yaml"),
            "--cache",
            str(where / "cache.db"),
        ]

    def monitor_dir(self, monitor: Monitor) -> Path:
        where = self.fresh("monitor")
        (where / "config.yaml").write_text(self.config)
        timed([*monitor.cmd, "--config", "config.yaml", "db", "upgrade"], where, monitor.env)
        return where

    def run_monitor(self, monitor: Monitor) -> Run:
        where = self.monitor_dir(monitor)
        run = timed([*monitor.cmd, "--config", "config.yaml", "check"], where, monitor.env)
        with sqlite3.connect(where / "absence-monitor.db") as db:
            ok = db.execute("SELECT count(*) FROM snapshots WHERE status = 'ok'").fetchone()[0]
        if ok != len(self.terms):
            sys.exit(f"check stored {ok} ok snapshots, not {len(self.terms)}; see {where}")
        return run

    def run_urlwatch(self) -> Run:
        where = self.fresh("urlwatch")
        (where / "urls.yaml").write_text(self.jobs)
        (where / "urlwatch.yaml").write_text(self.urlwatch_config)
        run = timed(self.urlwatch_args(where), where)
        new = len(re.findall(r"^\d+\. NEW: ", (where / "stdout").read_text(), re.M))
        if new != len(self.terms):
            sys.exit(f"urlwatch reported {new} new jobs, not {len(self.terms)}; see {where}")
        return run

    def profile(self, monitor: Monitor, path: Path) -> None:
        """``check`` once under cProfile timed by the process's CPU clock (waits for the
        server or the parse workers cost nothing; the workers' own CPU is not in it)."""
        where = self.monitor_dir(monitor)
        args = ["--config", "config.yaml", "check"]
        code = PROFILE.format(path=str(path.resolve()), args=args)
        timed([sys.executable, "-c", code], where, monitor.env)
        print(f"CPU profile of check's main process saved to {path} (python -m pstats {path})")


PROFILE = """
import cProfile, runpy, sys, time
sys.argv = ["absence-monitor", *{args!r}]
profiler = cProfile.Profile(time.process_time)
profiler.enable()
try:
    runpy.run_module("monitor", run_name="__main__")
finally:
    profiler.disable()
    profiler.dump_stats({path!r})
"""


def timed(cmd: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` to its end; its CPU (user+sys, with waited-for children) and wall time.
    Home and XDG directories point into ``cwd``, so neither program reads the user's files."""
    env = {**os.environ, "HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd), "XDG_CACHE_HOME": str(cwd)}
    env.update(extra_env or {})
    env.pop("ABSENCE_MONITOR_CONFIG", None)
    env.pop("ABSENCE_MONITOR_DATABASE", None)
    with (cwd / "stdout").open("wb") as out, (cwd / "stderr").open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}; see {cwd}/stderr")
    return Run(usage.ru_utime + usage.ru_stime, wall)


def run_quiet(cmd: Sequence[str], cwd: Path) -> None:
    timed(cmd, cwd)


def compare(setup: Setup, monitors: list[Monitor], runs: int) -> None:
    mine: dict[str, list[Run]] = {m.label: [] for m in monitors}
    peer: list[Run] = []
    for n in range(runs):
        line = []
        for monitor in monitors:
            got = setup.run_monitor(monitor)
            mine[monitor.label].append(got)
            line.append(f"{monitor.label} check {got.cpu:6.2f} s CPU {got.wall:6.2f} s wall")
        peer.append(setup.run_urlwatch())
        line.append(f"urlwatch {peer[-1].cpu:6.2f} s CPU {peer[-1].wall:6.2f} s wall")
        print(f"run {n + 1}: " + " | ".join(line), flush=True)
    for label, runs_of in mine.items():
        report(f"{len(setup.terms)} pages", f"{label} check", runs_of, "urlwatch", peer, unit="s")


def startup(setup: Setup, monitors: list[Monitor], runs: int) -> None:
    where = setup.fresh("startup")
    (where / "config.yaml").write_text(setup.config)
    commands = {"--version": ["--version"], "--help": ["--help"]}
    commands["config check"] = ["--config", "config.yaml", "config", "check"]
    theirs = [str(setup.urlwatch), "--version"]
    results: dict[tuple[str, str], list[Run]] = {}
    peer: list[Run] = []
    for _ in range(runs):
        for name, args in commands.items():
            for m in monitors:
                got = timed([*m.cmd, *args], where, m.env)
                results.setdefault((name, m.label), []).append(got)
        peer.append(timed(theirs, where))
    for (name, label), runs_of in results.items():
        report("start-up", f"{label} {name}", runs_of, "urlwatch --version", peer, unit="ms")


def report(
    what: str, ours: str, mine: list[Run], peer_name: str, peer: list[Run], *, unit: str
) -> None:
    scale = 1000 if unit == "ms" else 1
    med: Callable[[list[float]], float] = statistics.median
    cpu, wall = med([r.cpu for r in mine]), med([r.wall for r in mine])
    pcpu, pwall = med([r.cpu for r in peer]), med([r.wall for r in peer])
    print(
        f"{what}: {ours} CPU {cpu * scale:.2f} {unit} wall {wall * scale:.2f} {unit} | "
        f"{peer_name} CPU {pcpu * scale:.2f} {unit} wall {pwall * scale:.2f} {unit} | "
        f"ratio CPU {cpu / pcpu:.2f}x wall {wall / pwall:.2f}x (medians of {len(mine)})"
    )


if __name__ == "__main__":
    main()
