"""The small words of alert texts: numbers, counts, changes and times as a reader reads
them, and ``clean``, which makes any string from a payload safe as one line of text.

Every string in a payload may come from a scraped page or an engine's answer: ``clean``
removes control characters and bidi overrides, so a title can neither inject a header line
nor reverse the text around it.
"""

from __future__ import annotations

import re

from monitor.core.clock import parse_iso

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """``text`` as one line: control characters and bidi overrides become spaces."""
    return " ".join(_UNSAFE.sub(" ", str(text)).split())


def number(value: float | None) -> str:
    """``3`` -> ``3``, ``2.25`` -> ``2.2``, ``40.4`` -> ``40``; ``None`` -> ``?``."""
    if value is None:
        return "?"
    return f"{value:.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.1f}"


def count_of(n: int | None, metric: str | None) -> str:
    """``3 images``, ``1 image``, ``2 domains``."""
    word = "domains" if metric == "domains" else "images"
    return f"{number(n)} {word[:-1] if n == 1 else word}"


def pct_change(ratio: float) -> str:
    """``0.03`` -> ``−97%`` (a real minus sign), ``1.05`` -> ``+5%``."""
    pct = round((ratio - 1) * 100)
    return f"−{-pct}%" if pct < 0 else f"+{pct}%" if pct > 0 else "±0%"


def at_time(ts: str | None) -> str:
    """An ISO 8601 moment as ``2024-05-01 12:00 UTC`` (``?`` when there is none)."""
    return parse_iso(ts).strftime("%Y-%m-%d %H:%M UTC") if ts else "?"


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cleaned and cut to ``limit`` characters, an ellipsis marking the cut."""
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
