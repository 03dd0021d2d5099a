"""The only module that knows about time: it reads the wall clock and it writes and reads
timestamps.

Everything else takes ``now`` or a ``Clock`` so that tests, the demo and the backtest can
run on simulated time, and formats a moment with ``iso_utc`` (reads one with ``parse_iso``)
so that every timestamp the monitor writes, in a payload, a page, a log or an export, has
one form: ISO 8601 in UTC ending in ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware UTC datetime."""


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime, *, timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    """``moment`` as ``2024-05-01T12:00:00Z``; refuses naive datetimes.

    Seconds precision (truncated) unless ``timespec="milliseconds"`` (log lines, whose order
    within a second matters).
    """
    if moment.tzinfo is None:
        # A naive datetime has no place in time: guessing local time would shift it silently.
        raise ValueError("timestamps must be aware datetimes, not naive ones")
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The aware UTC datetime of an ISO 8601 timestamp such as ``iso_utc`` writes.

    Raises ``ValueError`` when ``text`` is not ISO 8601 or has no time zone.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r:.40}")
    return moment.astimezone(UTC)


class FakeClock:
    """A settable clock for tests and simulations; ``advance()`` moves it forward."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = self.now + delta
