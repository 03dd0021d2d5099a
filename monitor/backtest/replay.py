"""The replay: what the detector would have said about recorded checks (issue 7).

Records (JSON Lines, see ``monitor.backtest.records``; or the database's snapshots,
``monitor.backtest.from_db``) are fed in time order through the daemon's own detector
(``monitor.detector.Engine``: controls, engine-wide incidents, corroboration, episodes with
hysteresis), with time taken from the records, never from the clock. Each detector event
becomes a ``ReplayedAlert``: the webhook payload's fields plus ``t`` (see
``monitor.backtest.payloads``). No network, no delivery, nothing written to the database.
The command line around it (``absence-monitor backtest``) is ``monitor.cli.backtest``.

Settings: the config's ``detection:`` block and each source's overrides; ``--set``
assignments (``detection.KEY=VALUE``) are applied on top of both, so the command line wins
everywhere. Without a config the defaults are used.

Families (which sources corroborate each other): a configured source's family is its
kind's (or its ``family:`` option for ``html``/``feed``). A source the config does not name
is guessed from the words of its name: ``baidu``, ``sogou``, ``so``/``so360``/``360`` ->
``chinese``; ``bing``, ``google``, ``brave`` -> themselves; anything else ->
``independent``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from monitor.alerts.people import Group, Standing, quiet_terms
from monitor.alerts.vantages import VantageReading, from_states
from monitor.backtest.payloads import ImageTracker, Payloads
from monitor.backtest.records import BadInput, Record
from monitor.core.errors import ConfigError
from monitor.detector import DetectionSettings, Engine, parse_assignments
from monitor.detector.events import Event

if TYPE_CHECKING:
    from monitor.config import Config

logger = logging.getLogger(__name__)

_CHINESE = frozenset({"baidu", "sogou", "so", "so360", "360"})
_WORDS = re.compile(r"[a-z]+|\d+")

# An alert the replay would have sent: the payload's fields plus ``t``, as a plain dict
# ready for ``json.dumps``. Not ``monitor.store.models.Alert``, the outbox row.
ReplayedAlert = dict[str, Any]


def family_from_name(source: str) -> str:
    """The independence family guessed from a source name (see the module docstring)."""
    words = set(_WORDS.findall(source.lower()))
    if words & _CHINESE:
        return "chinese"
    for family in ("bing", "google", "brave"):
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
    """Feeds records to an in-memory ``Engine`` and turns its events into replayed alerts."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.engine = Engine(
            setup.settings, families=setup.families, source_settings=setup.source_settings
        )
        self.images = ImageTracker([setup.settings, *setup.source_settings.values()])
        self.payloads = Payloads(self.images)

    def feed(self, record: Record) -> list[ReplayedAlert]:
        """Replay one record (in time order); the alerts of the rounds it closes."""
        source = record.key.source
        if source not in self.engine.families:
            self.engine.families[source] = family_from_name(source)
        events = self.engine.feed(record.key, record.role, record.point)
        if record.images is not None:
            # After feed: a round it closed was judged on the images of earlier checks.
            self.images.note(record)
        return self._alerts(events) if events else []

    def finish(self) -> list[ReplayedAlert]:
        """Close the rounds still open; their alerts."""
        return self._alerts(self.engine.finish())

    def _alerts(self, events: list[Event]) -> list[ReplayedAlert]:
        payloads = self.payloads.payloads(events, self._quiet, self._vantages)
        return [{"t": p["checked_at"], **p} for p in payloads]

    def _quiet(self, group: Group) -> list[Standing]:
        """The person's watched terms on the group's source as the engine holds them."""
        states, source = self.engine.states, group[0].source
        return quiet_terms(
            group,
            states,
            set(states),
            self.engine.family_of(source),
            checked=self.engine.last_round.get(source, frozenset()),
        )

    def _vantages(self, group: Group) -> list[VantageReading]:
        """The person on the group's source from the other vantages, as the engine holds
        them at the time of the group's last event."""
        head = group[0]
        if head.person is None:
            return []
        return from_states(
            self.engine.states,
            person=head.person,
            source=head.source,
            vantage=head.vantage or "",
            at=max(e.t for e in group),
            stale_after=self.engine.settings_for(head.source).stale_after,
            metric=head.metric,
        )


@dataclass(slots=True)
class ReplaySummary:
    """What a replay read and what it would have sent.

    ``run_backtest`` fills the counts of records and alerts; ``lines`` and ``blank`` are the
    reader's to fill, since only the reader sees the raw input.
    """

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

    def count(self, alert: ReplayedAlert) -> None:
        self.events[alert["event"]] += 1
        self.sources[alert["source"] or "-"] += 1
        self.people[alert["person"] or "(source-wide)"] += 1


def alert_line(alert: ReplayedAlert) -> str:
    """One alert as a JSON Lines line: compact, non-ASCII names kept readable."""
    return json.dumps(alert, ensure_ascii=False, separators=(",", ":")) + "\n"


def run_backtest(
    items: Iterable[Record | BadInput],
    replayer: Replayer,
    emit: Callable[[ReplayedAlert], None],
    *,
    strict: bool = False,
    on_bad: Callable[[BadInput], None] | None = None,
) -> ReplaySummary:
    """Replay ``items``; ``emit`` each alert as it is found. A bad record is passed to
    ``on_bad`` and skipped, or under ``strict`` ends the run (``ReplaySummary.stopped``)."""
    summary = ReplaySummary()
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
