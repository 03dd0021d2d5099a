"""Corroboration across vantage points: the alert's source seen from the other networks.

Chinese engines answer differently inside and outside China, so a drop seen from
``cn-beijing`` alone says something else than one seen from everywhere. The store reads,
for the person on the alert's source, each other vantage's latest check at the alert's time
and the detector's state of that series (``VantageReading``, ``monitor.store.vantage_reads``);
here they become the payload's ``vantages`` (one entry per vantage, the alert's terms
inside), its ``vantage_scope``, and the line a mail shows ("cn-beijing: 3, de: 40"). Pure.

A vantage *sees the drop* when one of the person's terms is dropping there (pending,
dropped or partial); it does *not* when its terms have a recent valid verdict and none is
dropping; otherwise (never checked, stale, too little history) it cannot tell. The scope
of a drop is ``vantage_specific`` when some other vantage does not see it and
``all_vantages`` when every other vantage does; ``None`` when there is no other vantage,
when the others cannot tell, and for events other than drops and partial restorations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.alerts.schema import AlertPayload, OtherVantage, VantageScope, VantageTerm
from monitor.alerts.words import clean, number
from monitor.core.clock import iso_utc
from monitor.detector.corroboration import summarize
from monitor.detector.events import from_ts
from monitor.detector.points import SeriesKey
from monitor.detector.state import SeriesState

DROPPING = frozenset({"pending", "dropped", "partial"})
# Which term's state speaks for the vantage: the one showing most trouble.
_STATE_WEIGHT = {"dropped": 0, "partial": 1, "pending": 2, "normal": 3, "insufficient_data": 4}
_SCOPED_EVENTS = frozenset({"drop", "partial"})


@dataclass(frozen=True, slots=True)
class VantageReading:
    """One series of the person on the alert's source, from another vantage: its latest
    check at the alert's time (``None`` fields: never checked by then) and the detector's
    state of it."""

    vantage: str
    term: str
    status: str | None
    observed: int | None
    checked_at: datetime | None
    snapshot_id: int | None
    state: str
    baseline: float | None
    stale: bool


@dataclass(frozen=True, slots=True)
class LastCheck:
    """A series' latest check as a ``VantageReading`` shows it."""

    status: str
    observed: int | None  # None when it failed: never a zero
    checked_at: datetime
    snapshot_id: int | None = None


def reading(
    key: SeriesKey,
    state: SeriesState,
    last: LastCheck | None,
    *,
    at: datetime,
    stale_after: timedelta,
) -> VantageReading:
    """The reading of the series ``key`` (of another vantage) at ``at``: its ``last`` check
    and its detector ``state``. A vantage that stopped checking keeps its last state: it is
    stale once no valid check is within ``stale_after`` of ``at``."""
    summary = summarize(key, "", state)
    valid = state.last_valid_t
    stale = summary.stale or valid is None or at.timestamp() - valid > stale_after.total_seconds()
    return VantageReading(
        vantage=key.vantage,
        term=key.term,
        status=last.status if last is not None else None,
        observed=last.observed if last is not None else None,
        checked_at=last.checked_at if last is not None else None,
        snapshot_id=last.snapshot_id if last is not None else None,
        state=summary.state,
        baseline=summary.baseline,
        stale=stale,
    )


def from_states(
    states: Mapping[SeriesKey, SeriesState],
    *,
    person: str,
    source: str,
    vantage: str,
    at: datetime,
    stale_after: timedelta,
    metric: str | None = None,
    watched: Callable[[SeriesKey], bool] = lambda _: True,
) -> list[VantageReading]:
    """Readings of the person's ``watched`` series on ``source`` from every vantage but
    ``vantage``, from in-memory detector states (the backtest's engine): each one's latest
    check is the one its state remembers (the count of a failed one unknown)."""
    out = []
    for key, state in states.items():
        if (key.person, key.source) != (person, source) or key.vantage == vantage:
            continue
        if not watched(key):
            continue
        last = None
        if state.last_status is not None and state.last_t is not None:
            ok = state.last_t == state.last_valid_t
            count = (
                (state.last_domains if metric == "domains" else state.last_count) if ok else None
            )
            last = LastCheck(state.last_status, count, from_ts(state.last_t))
        out.append(reading(key, state, last, at=at, stale_after=stale_after))
    return sorted(out, key=lambda r: (r.vantage, r.term))


def _verdict(readings: Sequence[VantageReading]) -> bool | None:
    """Does this vantage see the drop (see the module docstring)?"""
    if any(r.state in DROPPING for r in readings):
        return True
    if any(r.state == "normal" and not r.stale for r in readings):
        return False
    return None


def other_vantages(
    readings: Iterable[VantageReading], terms: Sequence[str] = ()
) -> list[OtherVantage]:
    """The payload's ``vantages``: one entry per other vantage (by name), each with the
    person's ``terms`` on the source in that order (all its terms when ``terms`` is empty)."""
    by_vantage: dict[str, dict[str, VantageReading]] = {}
    for r in readings:
        if terms and r.term not in terms:
            continue
        by_vantage.setdefault(r.vantage, {})[r.term] = r
    order = {t: n for n, t in enumerate(terms)}
    out = []
    for vantage in sorted(by_vantage):
        rs = sorted(by_vantage[vantage].values(), key=lambda r: (order.get(r.term, 0), r.term))
        out.append(
            OtherVantage(
                vantage=vantage,
                state=min((r.state for r in rs), key=lambda s: _STATE_WEIGHT.get(s, 9)),
                sees_drop=_verdict(rs),
                terms=[
                    VantageTerm(
                        term=r.term,
                        status=r.status,
                        observed=r.observed,
                        baseline=None if r.baseline is None else float(r.baseline),
                        state=r.state,
                        checked_at=None if r.checked_at is None else iso_utc(r.checked_at),
                        snapshot_id=r.snapshot_id,
                    )
                    for r in rs
                ],
            )
        )
    return out


def vantage_scope(event: str, vantages: Sequence[OtherVantage]) -> VantageScope | None:
    """``vantage_specific``, ``all_vantages`` or ``None`` (see the module docstring)."""
    if event not in _SCOPED_EVENTS or not vantages:
        return None
    seen = [v["sees_drop"] for v in vantages]
    if any(s is False for s in seen):
        return "vantage_specific"
    if all(s is True for s in seen):
        return "all_vantages"
    return None


def _figure(status: str | None, observed: int | None) -> str:
    if status is None:
        return "no check"
    if observed is None:
        return clean(status)  # a failed check has no count, never zero
    return number(observed)


def vantage_figures(a: AlertPayload) -> list[str]:
    """Per term, the alert's vantage first, then the others: ``“董经纬” cn-beijing: 3
    (dropped), de: 40 (normal)``; nothing when there is no other vantage."""
    if not a["vantages"]:
        return []
    lines = []
    for mine in a["terms"]:  # a person alert's terms: the vantages carry the same ones
        term, here = mine["term"], _figure(mine["status"], mine["observed"])
        parts = [f"{clean(a['vantage'] or '?')}: {here} ({clean(mine['state'])})"]
        for v in a["vantages"]:
            there = next((t for t in v["terms"] if t["term"] == term), None)
            if there is None:
                parts.append(f"{clean(v['vantage'])}: not watched")
                continue
            parts.append(
                f"{clean(v['vantage'])}: {_figure(there['status'], there['observed'])} "
                f"({clean(there['state'])})"
            )
        lines.append(f"“{clean(term)}” " + ", ".join(parts))
    return lines


def peer_place(a: AlertPayload, vantage: str | None) -> str:
    """`` from de`` after another source's term when the alert's other sources span more
    than one vantage (else nothing: one vantage needs no label)."""
    spread = {t["vantage"] for o in a["other_sources"] for t in o["terms"]} - {None}
    if not spread - {a["vantage"]} or vantage is None:
        return ""
    return f" from {clean(vantage)}"


def scope_tag(a: AlertPayload) -> str:
    """What a subject adds: `` (only from cn-beijing)``, `` (all vantages)`` or nothing."""
    if a["vantage_scope"] == "all_vantages":
        return " (all vantages)"
    if a["vantage_scope"] == "vantage_specific":
        seeing = [a["vantage"] or "?"] + [v["vantage"] for v in a["vantages"] if v["sees_drop"]]
        return f" (only from {clean(', '.join(seeing))})"
    return ""


def scope_words(a: AlertPayload) -> str | None:
    """One sentence on which vantages see the drop, or ``None`` when there is nothing to
    say (no other vantage, or not a drop)."""
    scope = a["vantage_scope"]
    mine = clean(a["vantage"] or "?")
    seeing = [mine] + [clean(v["vantage"]) for v in a["vantages"] if v["sees_drop"]]
    if scope == "all_vantages":
        return f"Seen from every vantage: {', '.join(seeing)} (all_vantages)."
    if scope == "vantage_specific":
        normal = [clean(v["vantage"]) for v in a["vantages"] if v["sees_drop"] is False]
        return f"Seen from {', '.join(seeing)}, not from {', '.join(normal)} (vantage_specific)."
    if a["vantages"] and a["event"] in _SCOPED_EVENTS:
        return "The other vantages cannot tell yet (no recent valid check there)."
    return None
