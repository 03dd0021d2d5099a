"""Corroboration: what the same person's series show on the other sources.

Sources are grouped by independence (detection.md §2.5): Chinese engines censor together;
Bing and those licensing its index are one observation however many of them agree;
Google and Brave run indexes of their own; Wikimedia Commons, GDELT and foreign news are
independent of all of them. A drop is

- ``global`` when a source of a global (non-Chinese, non-Bing) family drops too:
  more likely a real-world cause or a global takedown than Chinese censorship;
- ``corroborated`` when two or more Chinese engines show it;
- ``single_source`` otherwise.

The caller supplies a ``PeerView``; the engine builds one from its own states, the daemon's
pipeline from the stored states of the person's other series (``StaticPeers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from monitor.detector.events import Classification, PeerSummary
from monitor.detector.points import SeriesKey
from monitor.detector.state import SeriesState

FAMILY_ORDER = {"chinese": 0, "bing": 1, "google": 2, "brave": 3, "independent": 4}
# Families whose drop says "not China-specific" (Brave's index is its own, Western one).
GLOBAL_FAMILIES = frozenset({"google", "brave", "independent"})


class PeerView(Protocol):
    """Read-only view of the latest state of people's series on all sources."""

    def peers_of(self, person: str, source: str) -> Sequence[PeerSummary]:
        """The person's series on every source other than ``source``."""
        ...


class StaticPeers:
    """A ``PeerView`` over summaries the caller already has (e.g. loaded from the store)."""

    def __init__(self, by_person: Mapping[str, Iterable[PeerSummary]] | None = None) -> None:
        self._by_person = {p: tuple(s) for p, s in (by_person or {}).items()}

    def peers_of(self, person: str, source: str) -> Sequence[PeerSummary]:
        return sort_peers(p for p in self._by_person.get(person, ()) if p.source != source)


NO_PEERS = StaticPeers()


def sort_peers(peers: Iterable[PeerSummary]) -> tuple[PeerSummary, ...]:
    """Peers grouped by family (Chinese, Bing, Google, independent), then by source."""
    return tuple(
        sorted(peers, key=lambda p: (FAMILY_ORDER.get(p.family, 9), p.source, p.term, p.vantage))
    )


def summarize(key: SeriesKey, family: str, state: SeriesState) -> PeerSummary:
    """A series' state as a peer sees it (frozen baseline while in an episode)."""
    baseline: float | None = None
    if state.episode is not None:
        baseline = state.episode.baseline
    elif state.sufficient and state.short.counts:
        baseline = min(state.short.counts_median(), state.long.counts_median())
    return PeerSummary(
        source=key.source,
        family=family,
        term=key.term,
        vantage=key.vantage,
        status=state.last_status,
        observed=state.last_count,
        baseline=baseline,
        state=state.status,
        stale=state.stale,
    )


def classify(source: str, family: str, peers: Iterable[PeerSummary]) -> Classification:
    """Classify a drop on ``source`` given the person's series elsewhere."""
    dropping = {source: family}
    for p in peers:
        if p.dropping and not p.stale:
            dropping[p.source] = p.family
    if len(dropping) >= 2 and any(f in GLOBAL_FAMILIES for f in dropping.values()):
        return "global"
    if sum(1 for f in dropping.values() if f == "chinese") >= 2:
        return "corroborated"
    return "single_source"
