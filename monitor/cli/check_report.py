"""What ``check`` prints after its round: the checks that failed (with their reason), the
series whose detector state, status or count changed notably this round, the alerts the
round raised, and one line summing up the rest; ``--all`` lists every check.

Plain text, aligned in terminal cells (a CJK character is two), so 10,000 rows print in
milliseconds (rich's table took seconds) and the command loads no table library. Scraped
and configured text is printed with its control characters replaced: a page cannot move
the cursor or recolour the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.rounds.commit import CheckRow
    from monitor.store.catalog import SeriesRef

# A count that moved by this share of the previous check's count (either way) is a change.
NOTABLE = 0.2
# At most this many of the round's alerts are listed; `alerts list` has them all.
ALERTS_SHOWN = 50
COLUMNS = ("person", "term", "source", "status", "count", "vs baseline", "state", "this round")
Key = tuple[str, str, str]  # person, term, source (one vantage per command)


@dataclass(frozen=True, slots=True)
class Prior:
    """A series as its previous check left it: detector state, status and count
    (``status`` None: never checked)."""

    state: str
    status: str | None
    count: int | None


def read_priors(app: App, refs: Sequence[SeriesRef]) -> dict[Key, Prior]:
    """The stored detector state of each series in ``refs``, read before the round."""
    from monitor.store.rounds import state_of, stored_states

    with app.sessions() as session:
        stored = stored_states(session, [r.series_id for r in refs])
    out: dict[Key, Prior] = {}
    for r in refs:
        state = state_of(stored.get(r.series_id), app.config.detection_for(r.source))
        out[(r.person, r.term, r.source)] = Prior(state.status, state.last_status, state.last_count)
    return out


def newest_alert_id(app: App) -> int:
    """The id of the newest stored alert (0: none yet)."""
    from monitor.store.outbox import alerts_with_deliveries

    with app.sessions() as session:
        newest = alerts_with_deliveries(session, 1)
    return newest[0][0].id if newest else 0


def alerts_after(app: App, alert_id: int) -> list[tuple[Any, Sequence[Any]]]:
    """The alerts stored after ``alert_id`` (at most ``ALERTS_SHOWN`` + 1), newest first."""
    from monitor.store.outbox import alerts_with_deliveries

    with app.sessions() as session:
        latest = alerts_with_deliveries(session, ALERTS_SHOWN + 1)
    return [(a, d) for a, d in latest if a.id > alert_id]


def failed(row: CheckRow) -> bool:
    """A check that observed no count (blocked, errors): not ok, not no_results."""
    return row.status not in ("ok", "no_results")


def change(row: CheckRow, prior: Prior | None) -> str | None:
    """What changed notably since the series' previous check, or None (also for a first
    check: nothing to compare with)."""
    if prior is None or prior.status is None:
        return None
    if row.state not in ("-", prior.state):
        return f"{prior.state} -> {row.state}"
    if row.status != prior.status:
        return f"{prior.status} -> {row.status}"
    before, now = prior.count, row.count
    if before is not None and now is not None:
        moved = now != 0 if before == 0 else abs(now - before) / before >= NOTABLE
        if moved:
            return f"count {before} -> {now}"
    return None


def clean(text: str) -> str:
    """``text`` with control and format characters (escape sequences, bidi overrides,
    newlines) shown as U+FFFD."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "\ufffd" for c in text)


def cells(text: str) -> int:
    """Terminal cells ``text`` takes: two per wide (CJK) character, none per combining one."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )


def _vs_baseline(row: CheckRow) -> str:
    if row.count is None or not row.baseline:
        return "-"
    pct = (row.count - row.baseline) / row.baseline * 100
    return f"{pct:+.0f}% vs {row.baseline:.0f}"


def _cells_of(row: CheckRow, note: str) -> tuple[str, ...]:
    status = row.status if not row.reason else f"{row.status}: {row.reason[:50]}"
    count = "-" if row.count is None else str(row.count)
    texts = (row.person, row.term, row.source, status, count, _vs_baseline(row), row.state)
    return (*(clean(v) for v in texts), note)


def write_table(lines: Sequence[tuple[str, ...]], out: TextIO) -> None:
    """``COLUMNS`` and ``lines`` in columns two spaces apart, padded in terminal cells."""
    widths = [[cells(v) for v in line] for line in lines]
    head = [len(c) for c in COLUMNS]
    span = [max(h, *(w[i] for w in widths)) if widths else h for i, h in enumerate(head)]
    last = len(COLUMNS) - 1
    for line, w in zip([COLUMNS, *lines], [head, *widths], strict=True):
        out.write(
            "  ".join(
                v + " " * (span[i] - w[i]) if i < last else v for i, v in enumerate(line)
            ).rstrip()
            + "\n"
        )


def print_check_report(
    rows: Sequence[CheckRow],
    priors: Mapping[Key, Prior],
    alerts: Sequence[tuple[Any, Sequence[Any]]],
    out: TextIO,
    *,
    show_all: bool = False,
) -> None:
    """The failed checks and the changes (every check with ``show_all``), then the round's
    alerts, then a line counting the rest."""
    ordered = sorted(rows, key=lambda r: (r.role != "watch", r.person, r.source, r.term))
    shown: list[tuple[str, ...]] = []
    n_failed = n_changed = n_first = 0
    for r in ordered:
        prior = priors.get((r.person, r.term, r.source))
        note = change(r, prior)
        if failed(r):
            n_failed += 1
            note = "failed"
        elif note is not None:
            n_changed += 1
        elif prior is None or prior.status is None:
            n_first += 1
        if note is not None or show_all:
            shown.append(_cells_of(r, note or ""))
    rest = len(rows) - n_failed - n_changed
    head = f"{len(rows)} checks: {n_failed} failed, {n_changed} changed, "
    head += f"{len(alerts) if len(alerts) <= ALERTS_SHOWN else f'over {ALERTS_SHOWN}'} alert(s)"
    out.write(head + "\n")
    if shown:
        out.write("\n")
        write_table(shown, out)
    if alerts:
        out.write("\nalerts raised while this check ran (absence-monitor alerts list):\n")
        for alert, _ in alerts[:ALERTS_SHOWN]:
            p = alert.payload
            who = " ".join(clean(str(p.get(k) or "-")) for k in ("person", "term", "source"))
            out.write(f"  #{alert.id} {alert.event}: {who}\n")
    if not show_all:
        first = f" ({n_first} checked for the first time)" if n_first else ""
        out.write(f"\n{rest} series ok, unchanged{first}; check --all lists every series\n")
