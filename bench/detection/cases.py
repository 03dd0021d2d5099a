"""Replays of the documented disappearances (detection.md section 1) as small series.

Each builder returns a ``Case``: observation records in the backtest input format, in time
order (with control series on every source), the alerts a good detector must send
(``Expect``: event, person, source and the time range its ``t`` must fall in) and the
families of the sources. ``check(case, alerts)`` lists what is wrong with a detector's
alerts: a missing expected alert, or any other person-level alert (``drop``, ``partial``,
``recovered``) — the false rumour before Qin Gang's dismissal and the sources that were not
touched must stay silent.

The timelines are the documented ones; the counts around them are modelled (noise drawn
from a fixed seed), since no source published image counts over time:

- ``tank_man``: Bing images for "tank man" showed no results on 4 Jun 2021 and came back
  about a day later; Google was unaffected [6][9][10].
- ``qin_gang``: the foreign ministry's pages were wiped the night of 25 Jul 2023 (Beijing),
  partly restored on 28 Jul; the 17 Jul "deleted" rumour was false [12][13][14][15].
- ``bo_guagua``: Sogou restricted "薄瓜瓜" to a whitelist on 11 Apr 2012, about 1,000,000
  results falling to 11 (soft censorship: a few state sites remain) [46a].
- ``ai_weiwei``: Baidu "艾未未 监听设备" went from 500+ results to none overnight,
  6 to 7 Oct 2015 [46e]; a captcha right after the onset must neither confirm nor reset.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.detection.corpus import CONTROL_TERMS, iso, parse_t, write_jsonl

STEP = timedelta(hours=6)
PERSON_EVENTS = frozenset({"drop", "partial", "recovered"})
# count multiplier (None = the engine said "no results") from a given time on
Timeline = list[tuple[datetime, float | None]]


@dataclass(frozen=True)
class Expect:
    """An alert that must be sent: its event, series, and the range its ``t`` falls in."""

    event: str
    person: str
    source: str
    not_before: str
    not_after: str
    classification: str | None = None


@dataclass(frozen=True)
class Case:
    """A replayed case: records in time order, expected alerts, source families."""

    name: str
    description: str
    sources: dict[str, str]
    records: list[dict[str, Any]]
    expected: tuple[Expect, ...]

    def write(self, directory: Path) -> Path:
        """Write the records as ``<name>.jsonl`` in ``directory``; return the path."""
        path = directory / f"{self.name}.jsonl"
        write_jsonl(self.records, path)
        return path


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Series:
    person: str
    term: str
    source: str
    base: float
    sigma: float
    timeline: tuple[tuple[datetime, float | None], ...] = ()
    total: float | None = None  # reported total at the base level
    domains: tuple[tuple[datetime, int], ...] = ()  # domains forced from a time on
    failed: tuple[tuple[datetime, str], ...] = ()
    role: str = "watch"


def _build(
    name: str, start: datetime, end: datetime, sources: dict[str, str], series: list[_Series]
) -> list[dict[str, Any]]:
    rng = random.Random(name)
    everything = [
        _Series(c, c, src, 150.0, 0.08, role="control") for src in sources for c in CONTROL_TERMS
    ] + series
    order = {src: i for i, src in enumerate(sources)}
    everything.sort(key=lambda s: (order[s.source], s.role != "control"))
    records: list[dict[str, Any]] = []
    k = 0
    while start + k * STEP < end:
        for i, s in enumerate(everything):
            t = start + k * STEP + timedelta(minutes=10 * order[s.source], seconds=30 * i)
            records.append(_record(rng, s, t))
        k += 1
    return records


def _record(rng: random.Random, s: _Series, t: datetime) -> dict[str, Any]:
    factor: float | None = 1.0
    for since, f in s.timeline:
        if t >= since:
            factor = f
    noise = math.exp(s.sigma * rng.gauss(0.0, 1.0))
    rec: dict[str, Any] = {"t": iso(t), "person": s.person, "term": s.term, "source": s.source}
    failed = next((st for when, st in s.failed if abs((t - when).total_seconds()) < 1800), None)
    if failed is not None:
        rec.update(status=failed, count=None, domains=None, role=s.role)
        return rec
    count = 0 if factor is None else min(200, round(s.base * factor * noise))
    domains = 0 if count == 0 else max(1, round(count * 0.4))
    for since, d in s.domains:
        if t >= since and count:
            domains = min(count, d)
    rec.update(status="ok" if count else "no_results", count=count)
    if s.total is not None:
        rec["reported_total"] = round(s.total * (factor or 0.0) * noise)
    rec.update(domains=domains, role=s.role)
    return rec


def tank_man() -> Case:
    """Bing 'tank man', 4-5 Jun 2021: no results for about a day, Google unaffected."""
    sources = {"bing_images": "bing", "google_cse": "google"}
    gone, back = _t("2021-06-04T06:00"), _t("2021-06-05T06:00")
    series = [
        _Series(
            "tank man",
            "tank man",
            "bing_images",
            120,
            0.15,
            ((gone, None), (back, 1.0)),
            total=2.4e6,
        ),
        _Series("tank man", "tank man", "google_cse", 90, 0.15, total=1.1e6),
    ]
    return Case(
        "tank_man",
        tank_man.__doc__ or "",
        sources,
        _build("tank_man", _t("2021-05-01T00:00"), _t("2021-06-12T00:00"), sources, series),
        (
            Expect(
                "drop",
                "tank man",
                "bing_images",
                iso(gone),
                "2021-06-05T00:59:59+00:00",
                "single_source",
            ),
            Expect("recovered", "tank man", "bing_images", iso(back), "2021-06-05T12:59:59+00:00"),
        ),
    )


def qin_gang() -> Case:
    """Qin Gang on the foreign ministry's site, Jul 2023: wiped, then partly restored."""
    sources = {"mfa_site": "chinese", "wikimedia_commons": "independent"}
    wiped, partly = _t("2023-07-25T18:00"), _t("2023-07-28T06:00")
    series = [
        # 17 Jul: the rumour said "deleted"; the pages were there (nothing changes).
        _Series(
            "秦刚",
            "秦刚",
            "mfa_site",
            60,
            0.1,
            ((wiped, None), (partly, 0.45), (_t("2023-08-17T06:00"), 0.4)),
        ),
        _Series("秦刚", "秦刚", "wikimedia_commons", 45, 0.1),
    ]
    return Case(
        "qin_gang",
        qin_gang.__doc__ or "",
        sources,
        _build("qin_gang", _t("2023-06-01T00:00"), _t("2023-08-31T00:00"), sources, series),
        (
            Expect("drop", "秦刚", "mfa_site", iso(wiped), "2023-07-26T06:59:59+00:00"),
            Expect("partial", "秦刚", "mfa_site", iso(partly), "2023-07-28T12:59:59+00:00"),
        ),
    )


def bo_guagua() -> Case:
    """Sogou '薄瓜瓜', 11 Apr 2012: about 1,000,000 results to 11 whitelisted ones."""
    sources = {"sogou_images": "chinese", "baidu_images": "chinese", "bing_images": "bing"}
    soft = _t("2012-04-11T06:00")  # between 08:00 and 18:00 Beijing time
    series = [
        _Series(
            "薄瓜瓜",
            "薄瓜瓜",
            "sogou_images",
            140,
            0.1,
            ((soft, 11 / 140),),
            total=1.0e6,
            domains=((soft, 6),),
        ),
        _Series("薄瓜瓜", "薄瓜瓜", "baidu_images", 160, 0.15, total=2.0e6),
        _Series("薄瓜瓜", "薄瓜瓜", "bing_images", 110, 0.15, total=4.0e5),
    ]
    return Case(
        "bo_guagua",
        bo_guagua.__doc__ or "",
        sources,
        _build("bo_guagua", _t("2012-03-01T00:00"), _t("2012-04-30T00:00"), sources, series),
        (
            Expect(
                "drop",
                "薄瓜瓜",
                "sogou_images",
                iso(soft),
                "2012-04-12T00:59:59+00:00",
                "single_source",
            ),
        ),
    )


def ai_weiwei() -> Case:
    """Baidu '艾未未 监听设备', 6-7 Oct 2015: 500+ results to none overnight."""
    sources = {"baidu_images": "chinese", "bing_images": "bing"}
    gone = _t("2015-10-06T18:00")  # 02:00 Beijing time, 7 Oct
    term = "艾未未 监听设备"
    series = [
        _Series(
            "艾未未",
            term,
            "baidu_images",
            80,
            0.15,
            ((gone, None),),
            total=520,
            failed=((_t("2015-10-07T00:00"), "blocked"),),
        ),
        _Series("艾未未", term, "bing_images", 60, 0.2, total=3.0e4),
    ]
    return Case(
        "ai_weiwei",
        ai_weiwei.__doc__ or "",
        sources,
        _build("ai_weiwei", _t("2015-09-01T00:00"), _t("2015-10-20T00:00"), sources, series),
        (
            Expect(
                "drop",
                "艾未未",
                "baidu_images",
                iso(gone),
                "2015-10-07T12:59:59+00:00",
                "single_source",
            ),
        ),
    )


CASES: dict[str, Callable[[], Case]] = {
    "tank_man": tank_man,
    "qin_gang": qin_gang,
    "bo_guagua": bo_guagua,
    "ai_weiwei": ai_weiwei,
}


def check(case: Case, alerts: list[dict[str, Any]]) -> list[str]:
    """What is wrong with ``alerts`` for ``case``: missing expected or unexpected alerts."""
    problems: list[str] = []
    used: set[int] = set()
    for e in case.expected:
        lo, hi = parse_t(e.not_before), parse_t(e.not_after)
        match = next(
            (
                i
                for i, a in enumerate(alerts)
                if i not in used
                and a.get("event") == e.event
                and a.get("person") == e.person
                and a.get("source") == e.source
                and lo <= parse_t(a["t"]) <= hi
            ),
            None,
        )
        if match is None:
            problems.append(
                f"missing {e.event} on {e.source} for {e.person} "
                f"between {e.not_before} and {e.not_after}"
            )
            continue
        used.add(match)
        got = alerts[match].get("classification")
        if e.classification and got != e.classification:
            problems.append(
                f"{e.event} on {e.source}: classification {got!r}, expected {e.classification!r}"
            )
    for i, a in enumerate(alerts):
        if i not in used and a.get("event") in PERSON_EVENTS:
            problems.append(
                f"unexpected {a['event']} on {a.get('source')} for "
                f"{a.get('person')} at {a.get('t')}"
            )
    return problems
