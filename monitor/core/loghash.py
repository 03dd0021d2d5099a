"""The snapshot log's hashing rule (version 1), pure, so the database, its migration and an
exported bundle's verifier all compute the same thing.

Each snapshot is an *entry*: its canonical fields as compact JSON with sorted keys (UTF-8,
no spaces)::

    {"body_sha256":…,"domain_count":…,"finished_at":"2026-06-04T02:00:00.000000Z",
     "http_status":…,"image_count":…,"image_set":…,"reason":…,"reported_total":…,
     "series":["person","term","source","vantage"],"started_at":…,"status":"ok","v":1}

and its *link* is ``sha256(previous link as 64 hex digits + "\\n" + entry)`` in hex; the
first entry's previous link is ``GENESIS``. So one entry can be checked with standard tools:
``printf '%s\\n%s' PREV ENTRY | sha256sum``. Changing any field, removing or inserting an
entry changes every link after it; the last link (the *head*) stands for the whole log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
VERSION = 1


def moment(value: datetime) -> str:
    """A time as the log writes it: UTC, microseconds, ``Z``."""
    if value.tzinfo is None:
        raise ValueError("the snapshot log needs aware datetimes")
    # isoformat, not strftime: the same text, at a third of the cost (db verify calls this
    # twice per snapshot).
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def entry(
    *,
    series: tuple[str, str, str, str],
    started_at: datetime,
    finished_at: datetime,
    status: str,
    reason: str | None,
    http_status: int | None,
    image_count: int | None,
    reported_total: int | None,
    domain_count: int | None,
    image_set: bytes | None,
    body_sha256: str | None,
) -> dict[str, Any]:
    """The canonical fields of one snapshot (``series``: person, term, source, vantage;
    ``image_set``: the set's digest; ``body_sha256``: the response body's, as checked)."""
    return {
        "v": VERSION,
        "series": list(series),
        "started_at": moment(started_at),
        "finished_at": moment(finished_at),
        "status": status,
        "reason": reason,
        "http_status": http_status,
        "image_count": image_count,
        "reported_total": reported_total,
        "domain_count": domain_count,
        "image_set": image_set.hex() if image_set is not None else None,
        "body_sha256": body_sha256,
    }


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes an entry's link is computed over."""
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def link(previous: str, fields: Mapping[str, Any]) -> str:
    """The link of an entry whose predecessor's link is ``previous`` (hex)."""
    return hashlib.sha256(previous.encode("ascii") + b"\n" + canonical(fields)).hexdigest()
