"""What the demo prints: one line per round, a short block per delivered alert.

Pure formatting: the runner hands in check rows, payloads and receipts, gets lines back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.demo.results import COMMONS_HOST
from monitor.demo.script import PEOPLE, WATCHED, Payload
from monitor.rounds.commit import CheckRow

_TERMS = (WATCHED, *PEOPLE[WATCHED])


_WIDTH = 20  # "bing 6 parse_error" fits


def _ok_first(item: tuple[str, int]) -> tuple[bool, str]:
    return item[0] != "ok", item[0]


def when(moment: datetime) -> str:
    return moment.strftime("%a %m-%d %H:%M")


def round_line(
    moment: datetime, rows: Mapping[str, Sequence[CheckRow]], *, recheck: bool = False
) -> str:
    """``Tue 06-01 06:00 │ baidu 7/7 ok │ ... │ Dong Jingwei: baidu 29/30 · bing 27/28``."""
    health = []
    counts = []
    for source, source_rows in rows.items():
        status = Counter(r.status for r in source_rows)
        status["ok"] += status.pop("no_results", 0)
        text = " ".join(f"{n} {s}" for s, n in sorted(status.items(), key=_ok_first) if n)
        health.append(f"{source} {text}".ljust(_WIDTH))
        mine = sorted(
            (r for r in source_rows if r.person == WATCHED), key=lambda r: _TERMS.index(r.term)
        )
        if mine:
            shown = "/".join("–" if r.count is None else str(r.count) for r in mine)
            counts.append(f"{source} {shown}")
    lead = f"  ↻ {moment:%H:%M} recheck" if recheck else when(moment)
    return f"{lead:<17} │ {' │ '.join(health)} │ {WATCHED}: {' · '.join(counts)}"


def _vanished(alert: Payload) -> str | None:
    images = alert["vanished_images"]
    if not images:
        return None
    where = Counter(s for img in images for s in img["still_seen_on"])
    still = sum(1 for img in images if img["still_seen_on"])
    spread = ", ".join(f"{s} {n}" for s, n in sorted(where.items()))
    # A news photo still found elsewhere makes the point best; any image will do otherwise.
    first = next(
        (i for i in images if i["still_seen_on"] and i["domain"] != COMMONS_HOST),
        images[0],
    )
    on = ", ".join(first["still_seen_on"]) or "nowhere else"
    example = f"{first['domain']} “{first['title']}” (still on {on})"
    return (
        f"vanished: {len(images)} images, {still} still seen elsewhere"
        f"{f' ({spread})' if spread else ''}; e.g. {example}"
    )


def alert_block(alerts: Sequence[Payload], subject: str, receipts: Sequence[str]) -> list[str]:
    """A few lines about one delivered message (one alert, or a group of drops)."""
    first = alerts[0]
    event = str(first["event"]).upper()
    if first["person"]:
        terms = ", ".join(f"“{t['term']}”" for a in alerts for t in a["terms"])
        head = f"{event} {first['person']} on {first['source']} ({terms})"
        if first["classification"]:
            head += f", {first['classification']}"
    else:
        head = f"{event} {first['source']}"
    lines = [f"    ⚑ {head}", f"      subject:  {subject}"]
    if not first["person"]:
        lines.append(f"      why:      {first['reason']}")
    vanished = _vanished(first)
    if vanished:
        lines.append(f"      {vanished}")
    others = [
        f"{o['source']} "
        + "/".join("–" if t["observed"] is None else str(t["observed"]) for t in o["terms"])
        for o in first["other_sources"]
    ]
    if first["person"] and others:
        lines.append(f"      elsewhere now: {', '.join(others)}")
    lines.append(f"      received: {' · '.join(receipts)}")
    return lines
