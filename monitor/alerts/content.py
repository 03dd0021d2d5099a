"""What an alert mail says, before it has a form: its subject line and its sections.

A section is a heading and lines of spans (text, a ``Link``, an ``Img``); ``render`` turns
the same sections into the plain-text and the HTML body, so both always say the same thing.
Every string from a payload may come from a scraped page or an engine's answer (titles,
URLs, domains, even names): ``clean`` removes control characters and bidi overrides from
each, so a title can neither inject a header line nor reverse the text around it. Escaping
and the http(s)-only rule for links are the renderer's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.payload import Message
from monitor.alerts.schema import AlertPayload, TermFigures, VanishedImage
from monitor.alerts.vantages import peer_place, scope_tag, scope_words, vantage_figures
from monitor.alerts.words import at_time, clean, count_of, number, pct_change, shorten

PREFIX = "[absence] "
MAX_IMAGES = 10  # per alert in a mail body; the webhook payload carries them all
MAX_NAMES_IN_SUBJECT = 2


@dataclass(frozen=True, slots=True)
class Link:
    """A link; rendered as plain text when its URL is not http(s)."""

    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Img:
    """A vanished image's thumbnail: in HTML only as a kept copy attached to the mail
    (``cid:``), never a remote URL (opening a mail must not contact anyone); nothing in text."""

    image_url: str
    alt: str


Span = str | Link | Img
Line = list[Span]


@dataclass(slots=True)
class Section:
    """A heading and its lines; an empty heading means the alert's opening paragraph."""

    heading: str
    lines: list[Line]


# --- numbers and words ----------------------------------------------------------------------


def _ratio(a: AlertPayload) -> float | None:
    if a["ratio"] is not None:
        return a["ratio"]
    if a["observed"] is not None and a["baseline"]:
        return a["observed"] / a["baseline"]
    return None


def _window(a: AlertPayload) -> str:
    days = a["baseline_window_days"]
    return f"{days}-day median" if days else "baseline"


def _who(a: AlertPayload) -> str:
    """``Dong Jingwei (董经纬)``: the person, then the other terms they are watched under."""
    person = a["person"] or a["term"] or "?"
    others = [t["term"] for t in a["terms"] if t["term"] != person]
    shown = ", ".join(others[:MAX_NAMES_IN_SUBJECT]) + (
        ", …" if len(others) > MAX_NAMES_IN_SUBJECT else ""
    )
    return clean(f"{person} ({shown})" if others else person)


# --- subject --------------------------------------------------------------------------------


def alert_subject(a: AlertPayload) -> str:
    """The subject of one alert, without the prefix: who, where and how much."""
    who, src, ev = _who(a), clean(a["source"] or "?"), a["event"]
    count = count_of(a["observed"], a["metric"])
    ratio = _ratio(a)
    if ev == "drop":
        how = f"{count}, {pct_change(ratio)} vs {_window(a)}" if ratio is not None else count
        extra = (
            f" ({a['classification']})"
            if a["classification"] not in (None, "single_source")
            else ""
        )
        return f"{who} on {src}: {how}{extra}{scope_tag(a)}"
    if ev in ("partial", "recovered"):
        word = "partly back" if ev == "partial" else "recovered"
        share = (
            f", {round(ratio * 100)}% of the {number(a['baseline'])} before the drop"
            if ratio is not None
            else ""
        )
        return f"{who} on {src} {word}: {count}{share}"
    if ev == "source_incident":
        n = len(a["people_involved"])
        what = f"{n} people dropped at once" if n else shorten(a["reason"])
        return f"incident on {src}: {what} (engine or scraper, not counted as drops)"
    if ev == "source_unhealthy":
        return f"{src} is failing: {shorten(a['reason'])}"
    if ev == "source_recovered":
        return f"{src} works again"
    if ev == "stale":
        return f"stale: {who} on {src}: {shorten(a['reason']) or 'no valid check lately'}"
    return "test alert from image-absence-monitor"


def subject(message: Message) -> str:
    """One line saying who, where and how much; a group names its first people."""
    alerts = message.alerts
    if not message.is_batch:
        return clean(PREFIX + alert_subject(alerts[0]))
    sources = {a["source"] for a in alerts}
    where = clean(alerts[0]["source"]) if len(sources) == 1 else "several sources"
    plural = {"drop": "drops", "partial": "partial restorations", "recovered": "recoveries"}
    events = {a["event"] for a in alerts}
    what = plural.get(next(iter(events)), "alerts") if len(events) == 1 else "alerts"
    # A person watched under several names appears once: the subject names people.
    unique = list(dict.fromkeys(_who(a) for a in alerts))
    names = unique[:MAX_NAMES_IN_SUBJECT]
    if len(unique) > MAX_NAMES_IN_SUBJECT:
        names.append("…")
    return clean(f"{PREFIX}{len(alerts)} {what} on {where}: {', '.join(names)}")


# --- the intermediate form -----------------------------------------------------------------


def _figures(
    value: int | None, baseline: float | None, ratio: float | None, metric: str | None
) -> str:
    change = f" ({pct_change(ratio)})" if ratio is not None else ""
    return f"{count_of(value, metric)} vs baseline {number(baseline)}{change}"


def _opening(a: AlertPayload) -> Section:
    lines: list[Line] = []
    if a["observed"] is not None or a["baseline"] is not None:
        ratio = _ratio(a)
        change = f": {pct_change(ratio)}" if ratio is not None else ""
        under = f" as “{clean(a['term'])}”" if a["term"] and len(a["terms"]) > 1 else ""
        lines.append(
            [
                f"{clean(a['source'] or '?')} returned {count_of(a['observed'], a['metric'])} "
                f"for {_who(a)}{under} against a baseline of "
                f"{number(a['baseline'])} ({_window(a)}){change}."
            ]
        )
    if a["reason"]:
        lines.append([f"Why: {clean(a['reason'])}"])
    if a["classification"]:
        lines.append([f"Classification: {a['classification']}."])
    if (where := scope_words(a)) is not None:
        lines.append([where])
    if a["episode"]:
        ep = a["episode"]
        lines.append(
            [f"Episode #{ep['id']}, started {at_time(ep['started_at'])}, {clean(ep['state'])}."]
        )
    place = f" from vantage {clean(a['vantage'])}" if a["vantage"] else ""
    lines.append([f"Checked {at_time(a['checked_at'])}{place}; alert #{a['alert_id']}."])
    return Section("", lines)


def _term_line(t: TermFigures, metric: str | None) -> Line:
    what = t["event"] or t["state"]
    head = f"“{clean(t['term'])}”: {_figures(t['observed'], t['baseline'], t['ratio'], metric)}"
    checks = ", ".join(
        f"{at_time(c['checked_at'])} {clean(c['status'])} {number(c['observed'])}"
        for c in t["confirming_checks"]
    )
    # A term the alert's round did not check (a re-check round): its figures are its latest.
    stale = (
        f" (last checked {at_time(t['checked_at']) if t['checked_at'] else 'never'}, "
        "not in this round)"
        if not t["this_round"]
        else ""
    )
    # The reason of an earlier recovery (no checks of its own in this alert); the events of
    # this round are confirmed by the checks listed.
    why = f"; {clean(t['reason'])}" if t["reason"] and not t["confirming_checks"] else ""
    return [f"{head}, {clean(what)}{stale}{why}" + (f"; confirmed by {checks}" if checks else "")]


def _image_line(img: VanishedImage) -> Line:
    title = clean(img["title"] or img["page_url"] or img["image_url"])
    seen_on = ", ".join(clean(s) for s in img["still_seen_on"]) or "no other source"
    terms = ", ".join(f"“{clean(t)}”" for t in img["terms"])
    line: Line = [
        Img(img["image_url"], title),
        Link(title, img["page_url"]),
        f" — {clean(img['domain'] or '?')} — first seen {at_time(img['first_seen'])}, "
        f"last seen {at_time(img['last_seen'])}; still seen on: {seen_on}"
        + (f"; gone for {terms}" if terms else "")
        + " — ",
        Link("image", img["image_url"]),
    ]
    if img["archived_page"]:
        line += [" — ", Link("archived page", img["archived_page"])]
    return line


def _more(a: AlertPayload, left: int, report: str | None) -> Line:
    if report and "://" in report:
        return [f"… and {left} more in ", Link("the report", report)]
    if report:
        return [f"… and {left} more in the report at {clean(report)}"]
    who = (a["person"] or "").replace('"', "")
    return [f'… and {left} more in the report (absence-monitor report "{clean(who)}")']


def sections(a: AlertPayload, report: str | None = None) -> list[Section]:
    """What a mail says about one alert, in reading order; ``report`` (a URL or a path) is
    where the images beyond the first ``MAX_IMAGES`` are listed."""
    out = [_opening(a)]
    terms: list[Line] = [_term_line(t, a["metric"]) for t in a["terms"]]
    checks: list[Line] = (
        []
        if a["terms"]
        else [
            [
                f"{at_time(c['checked_at'])}: {clean(c['status'])}, "
                f"{count_of(c['observed'], a['metric'])}"
            ]
            for c in a["confirming_checks"]
        ]
    )
    images: list[Line] = [_image_line(i) for i in a["vanished_images"][:MAX_IMAGES]]
    if len(a["vanished_images"]) > MAX_IMAGES:
        images.append(_more(a, len(a["vanished_images"]) - MAX_IMAGES, report))
    others: list[Line] = [
        [
            f"{clean(o['source'])} ({clean(o['family'])}), {clean(o['state'])}: "
            + "; ".join(
                f"“{clean(t['term'])}”{peer_place(a, t['vantage'])} "
                f"{clean(t['status'] or 'no check')}, "
                f"{number(t['observed'])} vs baseline {number(t['baseline'])}"
                for t in o["terms"]
            )
        ]
        for o in a["other_sources"]
    ]
    vantages: list[Line] = [[line] for line in vantage_figures(a)]
    controls: list[Line] = [
        [
            f"“{clean(c['term'])}”: {clean(c['status'] or 'no check')}, "
            f"{number(c['observed'])} vs baseline {number(c['baseline'])}"
        ]
        for c in a["controls"]
    ]
    people: list[Line] = [[clean(p)] for p in a["people_involved"]]
    for heading, lines in (
        ("Names and aliases on this source", terms),
        ("Confirming checks", checks),
        (f"Vanished images ({len(a['vanished_images'])})", images),
        ("This source from each vantage", vantages),
        ("Other sources", others),
        ("Controls on this source", controls),
        ("People involved", people),
    ):
        if lines:
            out.append(Section(heading, lines))
    return out
