"""The backtest: what the detector would have said about recorded checks (issue 7).

``absence-monitor backtest [INPUT | --from-db]`` replays observations (JSON Lines, see
``monitor.backtest.records``; or the database's snapshots, ``monitor.backtest.from_db``) through
the daemon's own detector (``monitor.detector.Engine``: controls, engine-wide incidents,
corroboration, episodes with hysteresis), with time taken from the records, never from the
clock. It writes the alerts it would have sent as JSON Lines (the webhook payload's fields
plus ``t``, see ``monitor.backtest.payloads``) and a summary table on stderr. No network, no
delivery, nothing written to the database.

Settings: the config's ``detection:`` block and each source's overrides; ``--set
detection.KEY=VALUE`` is applied on top of both (the command line wins everywhere). Without
a config file the defaults are used (JSON Lines input, or ``--from-db`` with ``--database``).

Families (which sources corroborate each other): a configured source's family is its
kind's (or its ``family:`` option for ``html``/``feed``). A source the config does not name
is guessed from the words of its name: ``baidu``, ``sogou``, ``so``/``so360``/``360`` ->
``chinese``; ``bing`` -> ``bing``; ``google`` -> ``google``; anything else ->
``independent``.

Exit codes: 0 done (also when alerts were found); 2 usage, a bad ``--set``, an unreadable
input, or a bad record under ``--strict``; 1 a database that cannot be read.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from monitor.backtest.payloads import ImageTracker, Payloads
from monitor.backtest.records import BadInput, JsonlReader, Record
from monitor.core.errors import ConfigError
from monitor.detector import DetectionSettings, Engine, parse_assignments
from monitor.detector.events import Event, iso

if TYPE_CHECKING:
    from monitor.config import Config

logger = logging.getLogger(__name__)

MAX_REPORTED = 100  # bad records printed one by one; the rest are only counted
_CHINESE = frozenset({"baidu", "sogou", "so", "so360", "360"})
_WORDS = re.compile(r"[a-z]+|\d+")

Alert = dict[str, Any]


def family_from_name(source: str) -> str:
    """The independence family guessed from a source name (see the module docstring)."""
    words = set(_WORDS.findall(source.lower()))
    if words & _CHINESE:
        return "chinese"
    for family in ("bing", "google"):
        if family in words:
            return family
    return "independent"


def apply_overrides(
    settings: DetectionSettings, overrides: Iterable[str], where: str = ""
) -> DetectionSettings:
    """``settings`` with ``--set`` strings applied; ``ConfigError`` names a bad one."""
    overrides = tuple(overrides)
    try:
        parsed = parse_assignments(overrides)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--set") from None
    known = DetectionSettings.model_fields
    for key in parsed:
        if key not in known:
            raise ConfigError(
                f'unknown setting "detection.{key}" (known: {", ".join(sorted(known))})',
                key="--set",
            )
    try:
        return settings.with_overrides(parsed)
    except ValidationError as exc:
        problems = [
            ".".join(["detection", *map(str, e["loc"])])
            + ": "
            + e["msg"].removeprefix("Value error, ")
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise ConfigError("; ".join(problems), key=f"--set{where}") from None


@dataclass(frozen=True)
class Setup:
    """What a replay runs with: settings (global, per source), families, default vantage."""

    settings: DetectionSettings = field(default_factory=DetectionSettings)
    source_settings: Mapping[str, DetectionSettings] = field(default_factory=dict)
    families: Mapping[str, str] = field(default_factory=dict)
    vantage: str = "default"

    @classmethod
    def from_config(cls, config: Config | None, overrides: Iterable[str] = ()) -> Setup:
        """The setup of ``config`` (``None``: defaults) with ``--set`` ``overrides``."""
        from monitor import sources

        overrides = tuple(overrides)
        if config is None:
            return cls(settings=apply_overrides(DetectionSettings(), overrides))
        per_source: dict[str, DetectionSettings] = {}
        families: dict[str, str] = {}
        for name, opts in config.sources.items():
            families[name] = getattr(opts, "family", None) or sources.load(opts.kind).family
            if name in config.source_detection:
                per_source[name] = apply_overrides(
                    config.detection_for(name), overrides, f" (source {name})"
                )
        return cls(
            settings=apply_overrides(config.detection, overrides),
            source_settings=per_source,
            families=families,
            vantage=config.vantage,
        )


class Replayer:
    """Feeds records to an in-memory ``Engine`` and turns its events into alert dicts."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.engine = Engine(
            setup.settings, families=setup.families, source_settings=setup.source_settings
        )
        self.images = ImageTracker([setup.settings, *setup.source_settings.values()])
        self.payloads = Payloads(self.images)

    def feed(self, record: Record) -> list[Alert]:
        """Replay one record (in time order); the alerts of the rounds it closes."""
        source = record.key.source
        if source not in self.engine.families:
            self.engine.families[source] = family_from_name(source)
        events = self.engine.feed(record.key, record.role, record.point)
        if record.images is not None:
            # After feed: a round it closed was judged on the images of earlier checks.
            self.images.note(record)
        return self._alerts(events) if events else []

    def finish(self) -> list[Alert]:
        """Close the rounds still open; their alerts."""
        return self._alerts(self.engine.finish())

    def _alerts(self, events: list[Event]) -> list[Alert]:
        return [{"t": iso(e.t), **self.payloads.payload(e)} for e in events]


@dataclass(slots=True)
class Summary:
    """What a backtest read and what it would have sent."""

    lines: int = 0
    blank: int = 0
    replayed: int = 0
    bad: int = 0
    stopped: BadInput | None = None  # the bad record --strict stopped at
    events: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    people: Counter[str] = field(default_factory=Counter)

    @property
    def alerts(self) -> int:
        return sum(self.events.values())

    def count(self, alert: Alert) -> None:
        self.events[alert["event"]] += 1
        self.sources[alert["source"] or "-"] += 1
        self.people[alert["person"] or "(source-wide)"] += 1


def run_backtest(
    items: Iterable[Record | BadInput],
    replayer: Replayer,
    emit: Callable[[Alert], None],
    *,
    strict: bool = False,
    on_bad: Callable[[BadInput], None] | None = None,
) -> Summary:
    """Replay ``items``; ``emit`` each alert as it is found. A bad record is passed to
    ``on_bad`` and skipped, or under ``strict`` ends the run (``Summary.stopped``)."""
    summary = Summary()
    feed = replayer.feed
    for item in items:
        if type(item) is Record:
            summary.replayed += 1
            for alert in feed(item):
                summary.count(alert)
                emit(alert)
            continue
        assert isinstance(item, BadInput)
        summary.bad += 1
        if on_bad is not None:
            on_bad(item)
        if strict:
            summary.stopped = item
            return summary
    for alert in replayer.finish():
        summary.count(alert)
        emit(alert)
    return summary


def format_summary(summary: Summary, output: str) -> str:
    """The table printed on stderr after a run."""
    skipped = summary.bad + summary.blank
    out = [
        f"input: {summary.lines:,} lines read, {summary.replayed:,} observations replayed, "
        f"{skipped:,} skipped ({summary.bad:,} bad, {summary.blank:,} blank)",
        f"alerts: {summary.alerts:,}" + ("" if output == "-" else f" -> {output}"),
    ]
    for title, counts in (
        ("event", summary.events),
        ("source", summary.sources),
        ("person", summary.people),
    ):
        if not counts:
            continue
        width = max(_width(title), *(_width(k) for k in counts))
        out.append("")
        out.append(f"  {_pad(title, width)}  alerts")
        for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {_pad(key, width)}  {n:>6,}")
    return "\n".join(out)


def _width(text: str) -> int:
    """Terminal columns of ``text``: CJK names take two per character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _load_config(ctx: Any, from_db: bool) -> Config | None:
    """The config; ``None`` (defaults) when no config file exists and none is needed: the
    input is a file, or ``--database`` names the database."""
    if not Path(ctx.config_path).exists() and (not from_db or ctx.database):
        click.echo(
            f"backtest: no config at {ctx.config_path}: default detection settings", err=True
        )
        return None
    config: Config = ctx.load()
    return config


def run_backtest_cli(
    ctx: Any,
    input_path: str | None,
    from_db: bool,
    overrides: tuple[str, ...],
    strict: bool,
    output: str,
) -> int:
    """Run the backtest as the CLI asked; returns the exit code."""
    if from_db == (input_path is not None):
        click.echo("backtest: give an input file (or - for stdin), or --from-db", err=True)
        return 2
    config = _load_config(ctx, from_db)
    setup = Setup.from_config(config, overrides)
    if from_db:
        from monitor.backtest.from_db import DatabaseReader

        reader: JsonlReader | DatabaseReader = DatabaseReader(ctx.database_url(config))
    else:
        assert input_path is not None
        reader = JsonlReader(input_path, default_vantage=setup.vantage)

    def on_bad(bad: BadInput) -> None:
        if reader.bad <= MAX_REPORTED or strict:
            click.echo(str(bad), err=True)
        elif reader.bad == MAX_REPORTED + 1:
            click.echo(f"backtest: more than {MAX_REPORTED} bad records; counting only", err=True)

    try:
        with _output(output) as out:
            write = out.write

            def emit(alert: Alert) -> None:
                write(json.dumps(alert, ensure_ascii=False, separators=(",", ":")) + "\n")

            summary = run_backtest(reader, Replayer(setup), emit, strict=strict, on_bad=on_bad)
    except OSError as exc:
        click.echo(f"backtest: {exc}", err=True)
        return 2
    summary.lines, summary.blank = reader.lines, reader.blank
    if summary.stopped is not None:
        click.echo("backtest: stopped at the first bad record (--strict)", err=True)
        return 2
    click.echo(format_summary(summary, output), err=True)
    logger.info("backtest: %d records, %d alerts", summary.replayed, summary.alerts)
    return 0


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """``-`` is stdout (left open); a path is opened for writing and closed."""
    if path == "-":
        yield sys.stdout
        return
    with Path(path).open("w", encoding="utf-8") as f:
        yield f
