"""Person-level alerts: the terms of a person (name and aliases) are evidence for one event.

The detector judges series (person × term × source × vantage); a reader thinks in people.
``group_events`` gathers the ``drop`` / ``partial`` / ``recovered`` events one round found
for one person on one source and vantage into one group, the headline first (the term that
fell furthest); every other event (incidents, source health, stale) stays alone.
``merge_vanished`` lists each vanished image once across the terms, and
``other_sources`` and ``term_figures`` give the per-term figures the payload carries: every
term of the person on the source, the ones that did not change as they stand
(``quiet_terms``), marked with the time of their latest check and whether that check was in
the alert's round (a re-check round checks only some terms).

Which groups are alerted at all is the caller's decision (one drop per person episode: a
term dropping while another term of the same person is already in an episode adds to that
episode; the person recovers when its last term does), since only the caller knows the
person's other open episodes. Pure, like the rest of ``alerts``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple, cast, get_args

from monitor.alerts.schema import (
    CheckInfo,
    OtherSource,
    PeerTerm,
    TermEvent,
    TermFigures,
    VanishedImage,
)
from monitor.core.clock import iso_utc
from monitor.detector.corroboration import sort_peers, summarize
from monitor.detector.events import Event, PeerSummary, from_ts
from monitor.detector.points import SeriesKey
from monitor.detector.state import SeriesState

PERSON_EVENTS: frozenset[str] = frozenset(get_args(TermEvent))
# Which state of a source's terms speaks for the source: the one showing most trouble.
_STATE_WEIGHT = {"dropped": 0, "partial": 1, "pending": 2, "normal": 3, "insufficient_data": 4}

Group = tuple[Event, ...]
GroupKey = tuple[str, str, str | None, str | None]


def person_key(event: Event) -> GroupKey:
    """(event, source, person, vantage): what the events of one person alert share."""
    return (event.event, event.source, event.person, event.vantage)


def _severity(event: Event) -> float:
    if event.event not in ("drop", "partial"):
        return 0.0
    return event.ratio if event.ratio is not None else 1.0


def group_events(events: Iterable[Event]) -> list[Group]:
    """The events of one round, grouped per person alert, in order of first appearance.

    A group's first event is its headline: for a drop or partial the term whose count fell
    furthest below its baseline (the first such term on a tie), for a recovery the first.
    """
    groups: dict[GroupKey | int, list[Event]] = {}
    for n, event in enumerate(events):
        key: GroupKey | int = (
            person_key(event) if event.event in PERSON_EVENTS and event.person else n
        )
        groups.setdefault(key, []).append(event)
    return [tuple(sorted(g, key=_severity)) for g in groups.values()]


class Standing(NamedTuple):
    """One of the person's terms on the alert's source that did not change in its round, as
    it stands: its figures, when they were checked and whether in the alert's round. A term
    that recovered earlier while the person stayed in the episode (another of their terms was
    still down) carries that episode and when it recovered."""

    figures: PeerSummary
    checked_at: datetime | None  # its latest check; None: never checked
    this_round: bool
    episode_id: int | None = None
    recovered_at: datetime | None = None


def quiet_terms(
    group: Group,
    states: Mapping[SeriesKey, SeriesState],
    watched: Collection[SeriesKey],
    family: str,
    *,
    checked: Collection[SeriesKey],
) -> list[Standing]:
    """The person's watched terms on the group's source (and vantage) among ``states``, as they
    stand: the figures of the terms that did not change are in the alert too, also of those
    not checked in the round (``checked``: the series the round checked)."""
    head = group[0]
    if head.person is None:
        return []
    return [
        Standing(
            summarize(key, family, state),
            None if state.last_t is None else from_ts(state.last_t),
            key in checked,
        )
        for key, state in states.items()
        if key.person == head.person
        and key.source == head.source
        and key in watched
        and (head.vantage is None or key.vantage == head.vantage)
    ]


def checks_of(event: Event) -> list[CheckInfo]:
    """The confirming checks of ``event`` in the payload's form."""
    metric = event.metric or "images"
    return [
        CheckInfo(checked_at=iso_utc(c.t), status=c.status, observed=c.value(metric))
        for c in event.confirming
    ]


def term_figures(
    group: Group, episodes: Mapping[str, int | None], quiet: Iterable[Standing] = ()
) -> list[TermFigures]:
    """Per term: the group's events first (headline first), then the person's other terms on
    the source that did not change this round (``quiet``), each once."""
    out: list[TermFigures] = []
    seen: set[str] = set()
    for e in group:
        if e.term is None or e.term in seen or e.event not in PERSON_EVENTS:
            continue
        seen.add(e.term)
        out.append(
            TermFigures(
                term=e.term,
                event=cast(TermEvent, e.event),  # a group's events are person events
                state={"drop": "dropped", "partial": "partial"}.get(e.event, "normal"),
                status=e.confirming[-1].status if e.confirming else None,
                observed=e.observed,
                baseline=None if e.baseline is None else float(e.baseline),
                ratio=e.ratio,
                reason=e.reason,
                episode_id=episodes.get(e.term),
                confirming_checks=checks_of(e),
                checked_at=iso_utc(e.confirming[-1].t if e.confirming else e.t),
                this_round=True,
            )
        )
    for q, checked_at, this_round, episode_id, recovered_at in quiet:
        if q.term in seen:
            continue
        seen.add(q.term)
        ratio = round(q.observed / q.baseline, 4) if q.observed is not None and q.baseline else None
        out.append(
            TermFigures(
                term=q.term,
                event=None if recovered_at is None else "recovered",
                state=q.state,
                status=q.status,
                observed=q.observed,
                baseline=q.baseline,
                ratio=ratio,
                reason=""
                if recovered_at is None
                else f"recovered {iso_utc(recovered_at)} while another name of the person was "
                "still down: the person's episode went on",
                episode_id=episodes.get(q.term, episode_id),
                confirming_checks=[],
                checked_at=None if checked_at is None else iso_utc(checked_at),
                this_round=this_round,
            )
        )
    return out


def other_sources(group: Group) -> list[OtherSource]:
    """The person on the other sources, one entry per source, its terms inside."""
    peers: dict[tuple[str, str, str], PeerSummary] = {}
    for e in group:
        for p in e.other_sources:
            peers.setdefault((p.source, p.term, p.vantage), p)
    by_source: dict[str, OtherSource] = {}
    for p in sort_peers(peers.values()):
        entry = by_source.setdefault(
            p.source, OtherSource(source=p.source, family=p.family, state=p.state, terms=[])
        )
        entry["terms"].append(
            PeerTerm(
                term=p.term,
                status=p.status,
                observed=p.observed,
                baseline=None if p.baseline is None else float(p.baseline),
                state=p.state,
                vantage=p.vantage or None,
            )
        )
        if _STATE_WEIGHT.get(p.state, 9) < _STATE_WEIGHT.get(entry["state"], 9):
            entry["state"] = p.state
    return list(by_source.values())


def merge_vanished(per_term: Mapping[str, Sequence[VanishedImage]]) -> list[VanishedImage]:
    """Each vanished image once (by image URL) across the terms: the earliest first sighting,
    the latest last sighting, every source still showing it, every term that lost it."""
    merged: dict[str, VanishedImage] = {}
    for term, images in per_term.items():
        for img in images:
            have = merged.get(img["image_url"])
            if have is None:
                merged[img["image_url"]] = VanishedImage(
                    **{**img, "terms": list(dict.fromkeys([*img["terms"], term]))}
                )
                continue
            have["first_seen"] = min(have["first_seen"], img["first_seen"])
            have["last_seen"] = max(have["last_seen"], img["last_seen"])
            have["still_seen_on"] = sorted({*have["still_seen_on"], *img["still_seen_on"]})
            have["terms"] = list(dict.fromkeys([*have["terms"], *img["terms"], term]))
            have["thumb_url"] = have["thumb_url"] or img["thumb_url"]
            have["page_url"] = have["page_url"] or img["page_url"]
            have["title"] = have["title"] or img["title"]
            have["domain"] = have["domain"] or img["domain"]
            have["archived_page"] = have["archived_page"] or img["archived_page"]
    return sorted(merged.values(), key=lambda i: i["first_seen"])
