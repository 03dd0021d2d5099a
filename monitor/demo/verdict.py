"""Did the demo produce the alerts its script says, and did each reach both sinks once?

``judge`` compares the alerts stored in the outbox with ``script.EXPECTED`` (exact counts
within round ranges, plus each expectation's own check), ``script.FORBIDDEN``, and the
sinks' records: every alert must have been received exactly once by the SMTP sink and once
by the webhook sink (with a valid signature), and every delivery row must be ``delivered``.
It returns readable lines and the list of problems; no problem means exit code 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.demo.script import EXPECTED, FORBIDDEN, Payload


@dataclass(frozen=True)
class Produced:
    """An alert as stored, the round it belongs to, and its delivery states by channel."""

    round: int
    payload: Payload
    deliveries: Mapping[str, str]


@dataclass
class DemoVerdict:
    """Lines to print and problems found (empty: the demo behaved as scripted)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def ok(self, good: bool, text: str, problem: str | None = None) -> None:
        self.lines.append(f"  {'✓' if good else '✗'} {text}")
        if not good:
            self.problems.append(problem or text)


def _label(p: Payload) -> str:
    who = f" {p['person']}" if p["person"] else ""
    term = f" “{p['term']}”" if p["term"] and p["term"] != p["person"] else ""
    return f"{p['event']} on {p['source']}{who}{term}"


def judge(
    produced: Sequence[Produced], smtp: Counter[int], webhook: Counter[int], rejected: int
) -> DemoVerdict:
    """Check ``produced`` against the script and the sinks' per-alert-id counts."""
    v = DemoVerdict()
    claimed: set[int] = set()
    v.lines.append("Alerts the script expects:")
    for exp in EXPECTED:
        hits = [a for a in produced if exp.matches(a.payload, a.round)]
        claimed.update(id(a) for a in hits)
        when = f"round {exp.first}" if exp.first == exp.last else f"rounds {exp.first}-{exp.last}"
        who = f" {exp.person}" if exp.person else ""
        text = f"{exp.count} × {exp.event} on {exp.source}{who} in {when} ({exp.why})"
        got = f": got {len(hits)}" if len(hits) != exp.count else ""
        v.ok(len(hits) == exp.count, text + got)
        for a in hits:
            problem = exp.check(a.payload) if exp.check else None
            if problem:
                v.ok(False, f"{_label(a.payload)} {problem}")
    v.lines.append("Alerts that must not happen:")
    for rule in FORBIDDEN:
        bad = [a for a in produced if rule.test(a.payload, a.round)]
        v.ok(not bad, rule.what, f"{rule.what}: got {', '.join(_label(a.payload) for a in bad)}")
    extra = [a for a in produced if id(a) not in claimed]
    v.ok(
        not extra,
        "nothing else",
        "unexpected: " + "; ".join(f"{_label(a.payload)} (round {a.round})" for a in extra),
    )
    v.lines.append("Deliveries:")
    ids = [int(a.payload["alert_id"]) for a in produced]
    for name, counts in (("SMTP sink", smtp), ("webhook sink", webhook)):
        wrong = {i: counts.get(i, 0) for i in ids if counts.get(i, 0) != 1}
        strays = sorted(set(counts) - set(ids))
        text = f"the {name} received each of the {len(ids)} alerts exactly once"
        v.ok(
            not wrong and not strays,
            text,
            f"{name}: alert id -> times received {wrong}, unknown ids {strays}",
        )
    v.ok(rejected == 0, "every webhook signature verified", f"{rejected} bad signature(s)")
    undelivered = [
        f"{_label(a.payload)} via {ch}: {state}"
        for a in produced
        for ch, state in a.deliveries.items()
        if state != "delivered"
    ]
    v.ok(not undelivered, "every delivery row is delivered", "; ".join(undelivered))
    return v
