"""A check as a cluster stages it: a ``Checked`` turned into a row of ``staged_checks`` (or
of the node's spool) and back.

A node checks its claimed series and stages each result, made of plain values, so the leader
that closes the round (``monitor.rounds.close``) gets back the very ``Checked`` the node had:
the observation (status, reason, items, totals, the request and where the body came from),
the check's times, and its body as it was made ready at check time (gzip bytes, or only the
digest when it equalled the series' kept healthy body, or none). Never the raw bytes: they
left memory when the check ended. ``check_id`` (a uuid4 the node makes) is what makes the
row's journey idempotent: staged twice, forwarded twice, stored as one snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.checked import Checked
from monitor.store.bodies import RawBody
from monitor.store.catalog import SeriesRef

_ITEM_FIELDS = ("image_url", "thumb_url", "page_url", "title", "domain")


def new_check_id() -> str:
    """A fresh check id (made by the node at check time)."""
    return str(uuid.uuid4())


def staged_row(
    c: Checked, *, check_id: str, slot: int, node: str, kind: str, staged_at: datetime
) -> dict[str, Any]:
    """The ``staged_checks`` row of ``c`` (its body compressed now if it was not yet)."""
    obs, raw = c.observation, c.raw
    body = None if raw is None or raw.unchanged else raw.body_gz
    return {
        "check_id": check_id,
        "source_id": c.ref.source_id,
        "vantage": c.ref.vantage,
        "slot": slot,
        "series_id": c.ref.series_id,
        "node": node,
        "kind": kind,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "observation": observation_dict(obs),
        "body": body,
        "body_sha256": raw.sha256 if raw is not None else None,
        "body_size": raw.size if raw is not None else None,
        "staged_at": staged_at,
    }


def checked_of(row: Mapping[str, Any], ref: SeriesRef) -> Checked:
    """The ``Checked`` a staged ``row`` of ``ref``'s series was made from."""
    obs = observation_of(row["observation"])
    raw = None
    if row["body_sha256"] is not None:
        raw = RawBody(
            row["body_sha256"],
            obs.raw_content_type,
            int(row["body_size"] or 0),
            None,
            obs.raw_url,
            obs.http_status,
            obs.raw_request,
            _gz=row["body"],
        )
    return Checked(ref, obs, row["started_at"], row["finished_at"], raw, row["check_id"])


def observation_dict(obs: Observation) -> dict[str, Any]:
    """``obs`` as JSON-able values (everything but the raw bytes)."""
    return {
        "status": obs.status.value,
        "reason": obs.reason,
        "items": [[getattr(i, f) for f in _ITEM_FIELDS] for i in obs.items],
        "reported_total": obs.reported_total,
        "http_status": obs.http_status,
        "pages": obs.pages,
        "elapsed_ms": obs.elapsed_ms,
        "raw_content_type": obs.raw_content_type,
        "raw_url": obs.raw_url,
        "raw_request": obs.raw_request,
    }


def observation_of(data: Mapping[str, Any]) -> Observation:
    """The ``Observation`` ``observation_dict`` made ``data`` of."""
    return Observation(
        Status(data["status"]),
        reason=data.get("reason"),
        items=[ImageItem(*item) for item in data.get("items") or ()],
        reported_total=data.get("reported_total"),
        http_status=data.get("http_status"),
        pages=int(data.get("pages") or 0),
        elapsed_ms=int(data.get("elapsed_ms") or 0),
        raw_content_type=data.get("raw_content_type"),
        raw_url=data.get("raw_url"),
        raw_request=data.get("raw_request"),
    )
