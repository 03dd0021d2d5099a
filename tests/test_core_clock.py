"""The one ISO time formatter and parser (``monitor.core.clock``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.core.clock import iso_utc, parse_iso

BEIJING = timezone(timedelta(hours=8))


def test_iso_utc_writes_utc_to_the_second_with_a_z() -> None:
    assert iso_utc(datetime(2024, 5, 1, 20, 0, 7, 999999, tzinfo=BEIJING)) == "2024-05-01T12:00:07Z"


def test_iso_utc_writes_milliseconds_when_asked() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
    assert iso_utc(moment, timespec="milliseconds") == "2024-05-01T12:00:07.123Z"


def test_iso_utc_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        iso_utc(datetime(2024, 5, 1, 12, 0))


@pytest.mark.parametrize(
    "text", ["2024-05-01T12:00:07Z", "2024-05-01T20:00:07+08:00", "2024-05-01T12:00:07+00:00"]
)
def test_parse_iso_reads_any_offset_as_utc(text: str) -> None:
    moment = parse_iso(text)
    assert moment == datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)
    assert iso_utc(moment) == "2024-05-01T12:00:07Z"


@pytest.mark.parametrize("text", ["2024-05-01T12:00:07", "yesterday", ""])
def test_parse_iso_refuses_text_without_a_time_zone(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)
