"""The demo's story: who is watched, what each engine does in each round, what must follow.

Rounds are six simulated hours apart, starting 2021-06-01 (the month Baidu stopped showing
Dong Jingwei's photos). The detector needs ``min_history`` (8) valid checks before any
verdict, so the first ten rounds (two and a half days) are normal everywhere. Then:

- round 10: Baidu serves its captcha page to every query. Failed checks are never zero
  images, and one failed round is not yet an unhealthy source: no alert at all.
- rounds 13-20: Baidu keeps only three state-media pictures of Dong Jingwei (both of his
  names) while Bing and Commons still show his photos: one ``drop`` for the person (both
  names' figures inside), confirmed by the early re-check 45 minutes later, classified
  ``single_source``, with the vanished images (each once) and where they are still seen.
- rounds 15-19: Bing's result page changes its markup: every Bing check is a parse error.
  After four such rounds the source is ``source_unhealthy`` (no drop: nothing was
  observed), and ``source_recovered`` at the first round that parses again (20).
- round 21: Baidu shows Dong Jingwei's photos again: one ``recovered`` after the re-check.
- Chen Yixin is on every engine throughout: no alert for him.

``EXPECTED`` and ``FORBIDDEN`` are what the run is checked against (the demo exits 1 when
the alerts differ). The detection settings are the defaults of config.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.demo.engines import Behaviour, State

START = datetime(2021, 6, 1, tzinfo=UTC)
ROUND = timedelta(hours=6)
ROUNDS = 24
CAPTCHA = 10
CENSORED = range(13, 21)
LAYOUT_CHANGED = range(15, 20)
RESTORED = 21

WATCHED = "Dong Jingwei"
COMPARISON = "Chen Yixin"
PEOPLE: Mapping[str, tuple[str, ...]] = {WATCHED: ("董经纬",), COMPARISON: ("陈一新",)}

# name -> (source kind, engine kind, controls): the controls of config.yaml.
SOURCES: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "baidu": ("baidu_images", "baidu", ("熊猫", "长城", "天安门广场")),
    "bing": ("bing_images", "bing", ("giant panda", "great wall of china")),
    "commons": ("wikimedia_commons", "commons", ("Great Wall of China",)),
}

_SUBJECTS = {term: person for person, aliases in PEOPLE.items() for term in (person, *aliases)}


def subject_of(term: str) -> str:
    """The person a term names, or the term itself (a control)."""
    return _SUBJECTS.get(term, term)


def round_at(moment: datetime) -> int:
    """The round a moment belongs to (a re-check belongs to the round before it)."""
    return int((moment - START) / ROUND)


@dataclass(frozen=True)
class Slot:
    """One scheduled round: when, what every engine does, and a line for the reader."""

    index: int
    at: datetime
    behaviours: Mapping[str, Behaviour]
    note: str = ""


def timeline() -> list[Slot]:
    """The rounds of the demo, in order."""
    slots = []
    for r in range(ROUNDS):
        baidu = Behaviour(tick=r)
        bing = Behaviour(tick=r)
        notes = []
        if r == CAPTCHA:
            baidu = Behaviour(State.CAPTCHA, tick=r)
            notes.append("Baidu answers every query with its captcha page (百度安全验证)")
        if r in CENSORED:
            baidu = Behaviour(subjects={WATCHED: State.SOFT_CENSORED}, tick=r)
            if r == CENSORED.start:
                notes.append(f"Baidu keeps only 3 state-media pictures of {WATCHED}")
        if r in LAYOUT_CHANGED:
            bing = Behaviour(State.LAYOUT_CHANGED, tick=r)
            if r == LAYOUT_CHANGED.start:
                notes.append("Bing changes its result markup (a.iusc is gone)")
        if r == LAYOUT_CHANGED.stop:
            notes.append("Bing's usual markup is back")
        if r == RESTORED:
            notes.append(f"Baidu shows {WATCHED}'s photos again")
        behaviours = {"baidu": baidu, "bing": bing, "commons": Behaviour(tick=r)}
        slots.append(Slot(r, START + r * ROUND, behaviours, "; ".join(notes)))
    return slots


Payload = Mapping[str, Any]


def _both_names(alert: Payload) -> str | None:
    """A person alert carries the figures of both of Dong Jingwei's names."""
    names = {t["term"] for t in alert["terms"]}
    missing = {WATCHED, *PEOPLE[WATCHED]} - names
    return f"lacks the figures of {', '.join(sorted(missing))}" if missing else None


def _drop_evidence(alert: Payload) -> str | None:
    """A drop must be single_source, carry both names' figures and name vanished images
    (each once) still seen elsewhere."""
    names = _both_names(alert)
    if names:
        return names
    urls = [v["image_url"] for v in alert["vanished_images"]]
    if len(urls) != len(set(urls)):
        return "lists a vanished image twice"
    if alert["classification"] != "single_source":
        return f"classified {alert['classification']}, expected single_source"
    vanished = alert["vanished_images"]
    if not vanished:
        return "lists no vanished images"
    if not any({"bing", "commons"} & set(v["still_seen_on"]) for v in vanished):
        return "no vanished image is still seen on bing or commons"
    return None


@dataclass(frozen=True)
class Expected:
    """Alerts that must be produced: ``count`` of them, within rounds ``first..last``."""

    event: str
    source: str
    person: str | None
    first: int
    last: int
    count: int
    why: str
    check: Callable[[Payload], str | None] | None = None

    def matches(self, alert: Payload, round_index: int) -> bool:
        return (
            alert["event"] == self.event
            and alert["source"] == self.source
            and alert["person"] == self.person
            and self.first <= round_index <= self.last
        )


@dataclass(frozen=True)
class Forbidden:
    """Alerts that must not be produced."""

    what: str
    test: Callable[[Payload, int], bool]


EXPECTED = (
    Expected(
        "drop", "baidu", WATCHED, CENSORED.start, CENSORED.start + 1, 1,
        "one for the person, both names inside, confirmed by the re-check", _drop_evidence,
    ),
    Expected(
        "source_unhealthy", "bing", None, LAYOUT_CHANGED.start + 3, LAYOUT_CHANGED.stop - 1, 1,
        "after 4 rounds in which every Bing check failed to parse",
    ),
    Expected(
        "source_recovered", "bing", None, LAYOUT_CHANGED.stop, LAYOUT_CHANGED.stop, 1,
        "the first round that parses again",
    ),
    Expected(
        "recovered", "baidu", WATCHED, RESTORED, RESTORED + 1, 1,
        "one for the person, both names inside, confirmed by the re-check", _both_names,
    ),
)  # fmt: skip

FORBIDDEN = (
    Forbidden(f"no alert about {COMPARISON}", lambda a, r: a["person"] == COMPARISON),
    Forbidden(
        f"no drop from Baidu's captcha round ({CAPTCHA})",
        lambda a, r: a["event"] in ("drop", "partial") and r == CAPTCHA,
    ),
    Forbidden(
        "no drop on Bing while its layout is changed",
        lambda a, r: a["source"] == "bing" and a["event"] in ("drop", "partial"),
    ),
    Forbidden("no drop on Commons", lambda a, r: a["source"] == "commons" and a["event"] == "drop"),
)


def config_text(urls: Mapping[str, str], smtp_port: int, webhook_url: str) -> str:
    """The demo's config.yaml: config.yaml's people, sources and controls, local peers,
    fast rates, default detection settings. The webhook secret comes from the environment."""
    people = "".join(
        f"  - name: {name}\n    aliases: [{{text: {aliases[0]}, lang: zh}}]\n"
        for name, aliases in PEOPLE.items()
    )
    sources = "".join(
        f"  {name}:\n    kind: {kind}\n    base_url: {urls[name]}\n    every: 6h\n"
        f"    controls: [{', '.join(controls)}]\n    rate: 100/1s\n"
        for name, (kind, _engine, controls) in SOURCES.items()
    )
    return (
        "vantage: demo\n"
        f"people:\n{people}"
        f"sources:\n{sources}"
        "alerts:\n"
        "  email:\n"
        f"    host: 127.0.0.1\n    port: {smtp_port}\n    security: none\n"
        "    from: absence-monitor@demo.invalid\n    to: [analyst@demo.invalid]\n"
        "  webhooks:\n"
        f"    - name: newsroom\n      url: {webhook_url}\n      secret: ${{DEMO_WEBHOOK_SECRET}}\n"
    )
