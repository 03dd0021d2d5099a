"""The detector: notices sharp drops in a person's image counts and never blames censorship
for a broken engine.

Pure (no I/O, no clock): time comes from the checks. The daemon's pipeline loads the states
of a source's series and the source's health, calls ``process_round`` once per round, and
saves the returned states and events with the snapshots in one transaction. Replays (tests,
backtest, benchmark) use ``Engine``, which keeps states in memory.

Modules, in the order a check flows through them::

    settings       DetectionSettings (the ``detection:`` block, per-source overrides)
    points         Point, SeriesKey, RoundInput: what comes in
    stats, state   windows, robust statistics, per-series state (to_dict/from_dict)
    series         the per-series rules: assess a check, commit it (pending, episodes)
    health         per-source health: failed rounds, unhealthy/recovered
    incidents      is this round the engine's fault? (controls, many drops at once)
    corroboration  other sources, independence families, classification
    rounds         process_round: one round of one source, gated on controls
    transitions    reasons       a confirmed change -> Event with its explanation
    events         Event and its evidence: what goes out
    engine         Engine: in-memory replays
"""

from monitor.detector.corroboration import NO_PEERS, PeerView, StaticPeers, classify, summarize
from monitor.detector.engine import Engine
from monitor.detector.events import (
    Classification,
    Confirmation,
    ControlReading,
    Event,
    EventKind,
    PeerSummary,
)
from monitor.detector.health import SourceHealth
from monitor.detector.points import Point, Role, RoundInput, SeriesKey
from monitor.detector.rounds import RoundOutcome, process_round
from monitor.detector.settings import DetectionSettings, parse_assignments
from monitor.detector.state import STATE_VERSION, SeriesState, SeriesStatus

__all__ = [
    "NO_PEERS",
    "STATE_VERSION",
    "Classification",
    "Confirmation",
    "ControlReading",
    "DetectionSettings",
    "Engine",
    "Event",
    "EventKind",
    "PeerSummary",
    "PeerView",
    "Point",
    "Role",
    "RoundInput",
    "RoundOutcome",
    "SeriesKey",
    "SeriesState",
    "SeriesStatus",
    "SourceHealth",
    "StaticPeers",
    "classify",
    "parse_assignments",
    "process_round",
    "summarize",
]
