"""Durations (``30s``, ``6h``, ``1d``) and rates (``1/5s``) as written in config.yaml."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_SECONDS = 100 * 365 * 86400
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: object) -> timedelta:
    """Parse ``30s``, ``30m``, ``6h``, ``1d``, ``2w`` (or a positive number of seconds).

    Raises ``ValueError`` with a message meant for the user for anything else: zero or
    negative, longer than a timedelta holds, infinite, or not text or a number at all.
    """
    shown = f'"{str(text)[:40]}"'
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"{shown} is not a duration (use 30m, 6h, 1d)")
    if isinstance(text, str):
        m = _DURATION.match(text)
        if not m:
            raise ValueError(f"{shown} is not a duration (use 30m, 6h, 1d)")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        seconds = float(text) if abs(text) < 1e300 else math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{shown} is not a duration (use 30m, 6h, 1d)")
    if seconds == 0:
        raise ValueError(f"{shown}: a duration must be longer than 0s")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{shown} is too long for a duration (at most 100 years)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration in config syntax."""
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``requests`` requests per ``per`` interval (per host)."""

    requests: int
    per: timedelta

    @property
    def interval(self) -> float:
        """Seconds between requests when spread evenly."""
        return self.per.total_seconds() / self.requests

    def __str__(self) -> str:
        return f"{self.requests}/{format_duration(self.per)}"


def parse_rate(text: str) -> Rate:
    """Parse ``1/5s`` (one request every five seconds) or ``20/1s``."""
    m = re.match(r"^\s*(\d+)\s*/\s*(.+)$", str(text))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f'"{text}" is not a rate (use 1/5s, 20/1s)')
    try:
        per = parse_duration(m.group(2))
    except ValueError:
        raise ValueError(f'"{text}" is not a rate (use 1/5s, 20/1s)') from None
    if per.total_seconds() <= 0:
        raise ValueError(f'"{text}" is not a rate: the interval must be positive')
    return Rate(int(m.group(1)), per)
