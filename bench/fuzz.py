"""Fuzzing: every parser and the config loader on mutated inputs.

    python -m bench.fuzz --inputs 100000                  # the benchmark: every target
    python -m bench.fuzz --inputs 2000 --target bing_images --save /tmp/fuzz

Targets: each source kind in ``monitor.sources.REGISTRY`` (its ``parse``, or its
``explain_refusal`` for a 4xx case) and ``config`` (``monitor.config.load_config``). The
seeds are the saved answers in ``tests/fixtures/sources/<kind>/`` with the options, URL and
content type of their golden case, and ``config.yaml``. Each input is one seed with one to
six mutations: byte flips, truncations, deletions, splices of another fixture (any kind),
repeated regions, deep nesting (JSON arrays and objects, HTML and XML elements), huge or
odd numbers, invalid UTF-8 and NUL bytes.

A parser may answer with any failure (``ParseError``, ``Blocked``, ``Misconfigured``); a
finding is anything else: another exception, a hang (over ``--hang`` seconds of the
process's CPU time: on a machine shared with other work, wall time would call a page slow
that only waited for the CPU; the slowest input is timed the same way), or a result
that is not a result: items with no image URL, ``no_results`` with items, or more items
than one per 16 bytes of the body (no image fits in fewer: a parser that reports more
images than the page can hold invented them). The config loader may raise ``ConfigError`` only.
Printed per target: inputs tried, findings, distinct findings, the slowest input.

Why hypothesis and not atheris: hypothesis is pure Python (atheris needs a clang-built
libFuzzer wheel and a coverage-instrumented interpreter run), it runs inside pytest for the
CI test with the same strategy, and a run is repeatable from its ``--seed``. What it lacks,
coverage guidance, matters less here: the seeds are real answers, so mutations land in
the code paths that real pages take.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from monitor.config import load_config
from monitor.core.errors import Blocked, ConfigError, Misconfigured, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources import REGISTRY
from tests.helpers.golden import discover, make_source

ROOT = Path(__file__).resolve().parents[1]

NESTS = [b"[", b'{"a":', b"<div>", b"<b>", b"<item>", b"<![CDATA[", b'{"data":[']
NUMBERS = [
    b"9" * 5000,
    b"1" + b"0" * 29,
    b"18446744073709551616",
    b"-1",
    b"-9999999999",
    b"1e999",
    b"NaN",
    b"Infinity",
    b"0.0000001",
    b"9007199254740993",
]
BAD_BYTES = [b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80", b"\r\n\x00\x1b"]


@dataclass(frozen=True)
class Seed:
    """One saved answer and how its golden case asks for it."""

    name: str
    body: bytes
    options: dict[str, Any]
    status: int = 200
    content_type: str | None = None
    url: str | None = None
    term: str = "test"
    page: int = 0


@dataclass
class Report:
    """What a target did with its inputs."""

    target: str
    inputs: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    examples: dict[str, bytes] = field(default_factory=dict)
    slowest: float = 0.0
    slowest_input: bytes = b""
    slowest_seed: str = ""

    def line(self) -> str:
        return (
            f"{self.target:18} {self.inputs:8d} inputs  {sum(self.findings.values()):5d} "
            f"exceptions ({len(self.findings)} distinct)  slowest {self.slowest * 1000:8.1f} "
            f"CPU ms ({len(self.slowest_input):,} bytes from {self.slowest_seed})"
        )


class Hang(Exception):
    """The input took longer than the hang limit."""


def seeds(kind: str) -> list[Seed]:
    """The golden cases of ``kind`` (``tests/helpers/golden.py``), damaged variants included."""
    return [
        Seed(
            case.id,
            case.body,
            case.spec.get("options", {}),
            case.spec.get("http_status", 200),
            case.spec.get("content_type"),
            case.spec.get("url"),
            case.spec.get("term", "test"),
            case.spec.get("page", 0),
        )
        for case in discover()
        if case.kind == kind
    ]


def corpus() -> list[bytes]:
    """Every saved answer and the example config: what splices take their pieces from."""
    bodies = [s.body for kind in sorted(REGISTRY) for s in seeds(kind) if s.body]
    return [*bodies, (ROOT / "config.yaml").read_bytes()]


def mutations(pieces: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """One to six edits; positions are fractions of the body's length."""
    at = st.floats(0, 1)
    one = st.one_of(
        st.tuples(st.just("flip"), at, st.integers(1, 255)),
        st.tuples(st.just("truncate"), at),
        st.tuples(st.just("delete"), at, st.integers(1, 4096)),
        st.tuples(st.just("splice"), st.integers(0, pieces - 1), at, st.integers(1, 65536), at),
        st.tuples(st.just("repeat"), at, st.integers(1, 512), st.integers(2, 2000)),
        st.tuples(st.just("nest"), st.sampled_from(NESTS), st.integers(1, 20_000), at),
        st.tuples(st.just("number"), st.sampled_from(NUMBERS), at),
        st.tuples(st.just("bytes"), st.sampled_from(BAD_BYTES), at),
    )
    return st.lists(one, min_size=1, max_size=6)


def mutate(body: bytes, ops: list[tuple[Any, ...]], pieces: list[bytes]) -> bytes:
    """``body`` with ``ops`` applied in turn."""
    data = bytearray(body)
    for op in ops:
        pos = round(op[-1] * len(data)) if op[0] in ("nest", "number", "bytes") else 0
        match op:
            case ("flip", at, mask) if data:
                i = min(int(at * len(data)), len(data) - 1)
                data[i] ^= mask
            case ("truncate", at):
                del data[int(at * len(data)) :]
            case ("delete", at, n):
                i = int(at * len(data))
                del data[i : i + n]
            case ("splice", which, start, n, at):
                piece = pieces[which]
                i = int(start * len(piece))
                data[int(at * len(data)) : int(at * len(data))] = piece[i : i + n]
            case ("repeat", at, n, times):
                i = int(at * len(data))
                data[i:i] = bytes(data[i : i + n]) * min(times, 1_000_000 // max(n, 1))
            case ("nest", opener, depth, _):
                data[pos:pos] = opener * depth
            case ("number", number, _):
                end = pos
                while end < len(data) and chr(data[end]).isdigit():
                    end += 1
                data[pos:end] = number
            case ("bytes", raw, _):
                data[pos:pos] = raw
    return bytes(data)


@dataclass
class Target:
    """A function of one input that raises only what it may, or a finding."""

    name: str
    seeds: list[Seed]
    run: Callable[[Seed, bytes], None]


def parser_target(kind: str) -> Target:
    built: dict[str, Any] = {}

    def run(case: Seed, body: bytes) -> None:
        source = built.get(case.name)
        if source is None:
            source = built[case.name] = make_source(kind, **case.options)
        request = source.build_request(case.term, case.page)
        if case.url:
            request = httpx.Request(request.method, case.url, headers=request.headers)
        headers = {"content-type": case.content_type} if case.content_type else {}
        response = httpx.Response(case.status, headers=headers, content=body, request=request)
        try:
            if 400 <= case.status < 500:
                source.explain_refusal(response)
                return
            result = source.parse(response, case.page)
        except (ParseError, Blocked, Misconfigured):
            return
        _check_result(result, body)

    return Target(kind, seeds(kind), run)


def _check_result(result: object, body: bytes) -> None:
    """Raise ``AssertionError`` when ``result`` is not a possible answer for ``body``."""
    assert isinstance(result, PageResult), f"parse returned {type(result).__name__}"
    for item in result.items:
        assert isinstance(item, ImageItem) and isinstance(item.image_url, str), "not an item"
        assert item.image_url.strip(), "an item without an image URL"
    assert not (result.no_results and result.items), "no_results with items"
    room = len(body) // 16
    assert len(result.items) <= room, f"{len(result.items)} items from {len(body)} bytes"
    total = result.reported_total
    assert total is None or isinstance(total, int), f"total {total!r}"


def config_target() -> Target:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-config-"))
    path = folder / "config.yaml"
    env = {"SMTP_PASSWORD": "x", "WEBHOOK_SECRET": "whsec_eA==", "GOOGLE_API_KEY": "k"}

    def run(case: Seed, body: bytes) -> None:
        path.write_bytes(body)
        try:
            load_config(path, env)
        except ConfigError as exc:
            assert "cannot be loaded:" not in str(exc), f"unforeseen: {str(exc)[:120]}"

    config = Seed("config.yaml", (ROOT / "config.yaml").read_bytes(), {})
    return Target("config", [config], run)


def targets(names: list[str] | None = None) -> Iterator[Target]:
    for kind in sorted(REGISTRY):
        if not names or kind in names:
            yield parser_target(kind)
    if not names or "config" in names:
        yield config_target()


def fuzz(
    target: Target,
    inputs: int,
    *,
    seed_value: int = 0,
    hang: float = 10.0,
    progress: Callable[[Report], None] | None = None,
    every: int = 10_000,
) -> Report:
    """Run ``inputs`` mutated inputs through ``target``; never raises for a finding.
    ``progress`` is called with the report so far after every ``every`` inputs: a long run
    stopped early still has figures to show."""
    report = Report(target.name)
    pieces = corpus()

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"over {hang:g}s")

    previous = signal.signal(signal.SIGPROF, alarm)

    @settings(
        max_examples=inputs,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(st.sampled_from(target.seeds), mutations(len(pieces)))
    def one(case: Seed, ops: list[tuple[Any, ...]]) -> None:
        body = mutate(case.body, ops, pieces)
        report.inputs += 1
        started = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, hang)
        try:
            target.run(case, body)
        except Exception as exc:  # a finding: recorded, and the run goes on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}: {exc}"
            report.findings[key[:200]] += 1
            report.examples.setdefault(key[:200], body)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        spent = time.process_time() - started
        if spent > report.slowest:
            report.slowest, report.slowest_input, report.slowest_seed = spent, body, case.name
        if progress is not None and report.inputs % every == 0:
            progress(report)

    try:
        one()
    finally:
        signal.signal(signal.SIGPROF, previous)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    ap.add_argument("--target", action="append", help="a source kind or config (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hang", type=float, default=10.0, help="CPU seconds that count as a hang")
    ap.add_argument("--save", type=Path, help="write each distinct finding's input here")
    ap.add_argument("--every", type=int, default=10_000, help="print progress every N inputs")
    args = ap.parse_args()
    for target in targets(args.target):
        started = time.perf_counter()

        def progress(report: Report, started: float = started) -> None:
            print(f"  ... {report.line()}  [{time.perf_counter() - started:.0f} s]", flush=True)

        report = fuzz(
            target,
            args.inputs,
            seed_value=args.seed,
            hang=args.hang,
            progress=progress,
            every=args.every,
        )
        print(f"{report.line()}  [{time.perf_counter() - started:.0f} s]", flush=True)
        for n, (key, count) in enumerate(report.findings.most_common()):
            print(f"    {count:6d} x {key}")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{target.name}-{n}.bin").write_bytes(report.examples[key])
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{target.name}-slowest.bin").write_bytes(report.slowest_input)


if __name__ == "__main__":
    main()
