"""Small text helpers shared by source parsers (pure functions, no I/O).

``strip_tags`` turns an engine's highlighted title into plain text; ``parse_int`` reads a
count the way engines print it ("8,587", "约52,000", "332412", 1500).
"""

from __future__ import annotations

import html
import re

# Only things that look like tags ("<em>", "</strong>", "<br/>"), so "a < b > c" survives.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACE = re.compile(r"\s+")
# Bing wraps query hits in private-use U+E000 ... U+E001 markers, even inside titles.
_HIT_MARKERS = str.maketrans("", "", "\ue000\ue001")
_DIGITS = re.compile(r"\d[\d,.\s\u00a0\u202f']*")


def strip_tags(text: str) -> str:
    """``text`` without HTML tags, with entities decoded and whitespace collapsed.

    Tolerant on purpose: Baidu titles carry stray closing tags (``…折线图</strong>``) and
    entities appear both escaped and raw, so this is a regex pass, not an HTML parser.
    """
    text = _TAG.sub("", text)
    text = html.unescape(text)
    # Entities can hide tags (``&lt;em&gt;``): strip again after decoding.
    text = _TAG.sub("", text)
    text = text.translate(_HIT_MARKERS)
    return _SPACE.sub(" ", text).strip()


def parse_int(text: object) -> int | None:
    """The first whole number in ``text`` with thousands separators removed, else ``None``.

    Accepts ints (returned as is, but not bools), and strings such as ``"8,587"``,
    ``"约52,000"`` or ``"1 500"``. A decimal part is not expected in counts and is dropped.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        return None
    m = _DIGITS.search(text)
    if not m:
        return None
    raw = m.group(0).rstrip(",. \u00a0\u202f'")
    # "1.500" (German) vs "1.5": a dot followed by exactly three digits is a separator.
    head, _, _ = raw.partition(".") if re.search(r"\.\d{1,2}$", raw) else (raw, "", "")
    digits = re.sub(r"[^\d]", "", head)
    return int(digits) if digits else None
