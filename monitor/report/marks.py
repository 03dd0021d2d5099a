"""An alert as the report shows it: a mark on the series chart and a line under the person.

Its own module because both the person view (``data``) and the vanished images
(``vanished``, which links each image to the alert that reported it) read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert, placed on the chart and listed under the person."""

    alert_id: int
    t: datetime
    event: str
    source: str | None
    term: str | None
    reason: str
    series_id: int | None
