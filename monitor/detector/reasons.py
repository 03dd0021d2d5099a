"""One sentence per event saying why the detector believes it: removal, not breakage.

Alerts state measured facts (counts, windows, controls) and let people interpret them
(detection.md §4: avoid over-claiming).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from monitor.core.clock import iso_utc
from monitor.detector.events import ControlReading, from_ts
from monitor.detector.series import Change
from monitor.detector.settings import DetectionSettings


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _num(x: float) -> str:
    return f"{x:g}" if x < 1e6 else f"{x:.3g}"


def controls_phrase(readings: Sequence[ControlReading]) -> str:
    """``controls healthy (3/3 within normal range)`` or what is wrong with them."""
    if not readings:
        return "no control queries checked on this source this round"
    good = sum(1 for r in readings if not r.bad)
    if good == len(readings):
        return f"controls healthy ({good}/{len(readings)} within normal range)"
    return f"controls partly off ({good}/{len(readings)} within normal range)"


def person_reason(
    change: Change,
    observed: int,
    readings: Sequence[ControlReading],
    s: DetectionSettings,
    *,
    others_dropping: int,
    others_checked: int,
) -> str:
    """Why a drop, partial or recovery was reported."""
    k = len(change.confirming)
    what = "distinct source domains" if change.metric == "domains" else "images"
    base = f"the {change.baseline_days}-day median ({_num(change.baseline)} {what})"
    ratio = observed / change.baseline if change.baseline else 0.0
    if change.kind == "recovered":
        return (
            f"{k} consecutive valid checks at or above {_pct(s.recover_ratio)} of the baseline "
            f"frozen when the drop began, {base} (now {_pct(ratio)})"
        )
    if change.kind == "partial":
        return (
            f"{k} consecutive valid checks between {_pct(s.drop_ratio)} and "
            f"{_pct(s.recover_ratio)} of the frozen baseline, {base} (now {_pct(ratio)}): "
            "partly restored"
        )
    head = controls_phrase(readings)
    crowd = (
        f"{others_dropping} of {others_checked} other watched people on this source dropping"
        if others_checked
        else "no other watched person on this source in this round"
    )
    if change.relapse:
        return (
            f"{head}; after a partial restoration, {k} consecutive valid checks back at "
            f"{_pct(ratio)} of the frozen baseline, {base}"
        )
    if change.tiny:
        return (
            f"{head}; the engine positively reported no results on {k} consecutive valid "
            f"checks (baseline only {_num(change.baseline)} images, so nothing short of that "
            f"is alerted); {crowd}"
        )
    if change.metric == "domains":
        return (
            f"{head}; {k} consecutive valid checks with {observed} distinct source domains, "
            f"{_pct(ratio)} of {base}: results shrank to a few sites; {crowd}"
        )
    return f"{head}; {k} consecutive valid checks at {_pct(ratio)} of {base}; {crowd}"


def incident_reason(
    readings: Sequence[ControlReading], dropping: int, checked: int, threshold: float
) -> str:
    """Why a round was blamed on the engine or the scraper."""
    parts = []
    bad = [r for r in readings if r.bad]
    if bad:
        names = ", ".join(
            f"{r.term}: {r.status}" + (f" {r.observed}" if r.observed is not None else "")
            for r in bad
        )
        parts.append(f"{len(bad)}/{len(readings)} controls failed or dropped ({names})")
    if dropping:
        parts.append(
            f"{dropping} of {checked} watched people dropped in the same round "
            f"(engine-wide threshold {threshold:g})"
        )
    return (
        "; ".join(parts)
        + ": most likely the engine or the scraper, not censorship; per-person drop alerts "
        "are held and this round is not used for baselines"
    )


def unhealthy_reason(statuses: Counter[str], rounds: int, since: float) -> str:
    """Why a source was declared unhealthy."""
    seen = ", ".join(f"{st} x{n}" for st, n in statuses.most_common())
    # config_error: the engine refuses the key or API access for good; say so first, since
    # waiting for it to pass (as for a captcha storm) would wait forever.
    fix = (
        "the engine refuses this source's configuration (key, API access): a permanent "
        "configuration problem that no retry fixes; "
        if statuses.get("config_error")
        else ""
    )
    return (
        f"{fix}every check failed in {rounds} consecutive rounds since "
        f"{iso_utc(from_ts(since))} (this round: {seen}); no drop is inferred from failed checks"
    )


def stale_reason(last_valid: float | None, last_status: str | None) -> str:
    """Why a series was declared stale."""
    since = "ever" if last_valid is None else f"since {iso_utc(from_ts(last_valid))}"
    return f"no valid check {since} (last status: {last_status}); this series says nothing now"
