"""Durations (``30s``, ``6h``, ``1d``) and rates (``1/5s``) as written in config.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``30s``, ``30m``, ``6h``, ``1d``, ``2w`` (or a number of seconds).

    Raises ``ValueError`` with a message meant for the user.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use 30m, 6h, 1d)")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text!r} is not a duration (use 30m, 6h, 1d)")
        return timedelta(seconds=text)
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f'"{text}" is not a duration (use 30m, 6h, 1d)')
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


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
