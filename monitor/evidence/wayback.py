"""Save Page Now 2 (the Internet Archive's capture API): submit a URL, ask about its job, and
tell a confirmed capture from everything else.

The protocol, as the SPN2 API document describes it and current public clients use it:

- ``POST {base}/save`` with ``Accept: application/json``, ``Authorization: LOW key:secret``
  and a form body ``url=…`` answers ``{"url": …, "job_id": "spn2-…"}``, or an error
  ``{"status": "error", "status_ext": "error:…", "message": …}``; HTTP 429 when submitting
  too fast (``Retry-After`` honoured), 401/403 when the keys are refused.
- ``GET {base}/save/status/{job_id}`` answers ``{"status": "pending"}``,
  ``{"status": "success", "timestamp": "YYYYMMDDhhmmss", "original_url": …}`` or an error
  as above.

Only ``success`` with a 14-digit timestamp is ``archived``; the copy is then
``{base}/web/{timestamp}/{original_url}``. Every other answer is one of: ``submitted``
(a job id), ``pending``, ``retry`` (transient: rate or session limits, the archive's own
failures, the network), ``failed`` (this URL will not be captured: blocked, not found,
invalid) or ``refused`` (our keys are refused: a configuration problem, nothing to retry).
The archive's answers are untrusted input: bodies are capped, JSON is parsed defensively and
messages are truncated. Never raises for what the archive or the network does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from monitor.core.urls import safe_url

Kind = Literal["submitted", "pending", "archived", "retry", "failed", "refused"]

MAX_BODY = 64 * 1024
_TIMESTAMP = re.compile(r"^\d{14}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
# Error codes that mean "this URL will not be captured"; any other error is transient.
PERMANENT = frozenset(
    {
        "error:bad-request",
        "error:blocked",
        "error:blocked-url",
        "error:filesize-limit",
        "error:ftp-access-denied",
        "error:http-version-not-supported",
        "error:invalid-host-resolution",
        "error:invalid-url-syntax",
        "error:method-not-allowed",
        "error:no-access",
        "error:not-found",
        "error:not-implemented",
        "error:too-many-redirects",
    }
)
REFUSED = frozenset({"error:unauthorized", "error:blocked-client-ip"})
# Transient, but not worth trying again within the hour.
DAILY = frozenset({"error:too-many-daily-captures"})


@dataclass(frozen=True)
class Answer:
    """What one SPN2 call came to."""

    kind: Kind
    job_id: str | None = None
    timestamp: str | None = None
    archive_url: str | None = None
    reason: str = ""
    retry_after: float | None = None  # seconds, when the archive said (or a daily limit)
    rate_limited: bool = False  # stop submitting for now: the archive wants us slower
    resubmit: bool = False  # the job itself ended in a transient error: submit again


def _short(text: object, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s)} chars)"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), 86400.0)


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = json.loads(response.content[:MAX_BODY])
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _error(data: dict[str, Any], http: int) -> Answer:
    ext = str(data.get("status_ext") or "")[:80]
    reason = _short(f"{ext or 'error'}: {data.get('message') or 'no message'} (HTTP {http})")
    if ext in REFUSED:
        return Answer("refused", reason=reason)
    if ext in PERMANENT:
        return Answer("failed", reason=reason)
    limited = ext in {"error:user-session-limit", "error:too-many-requests"} | DAILY
    return Answer(
        "retry",
        reason=reason,
        rate_limited=limited,
        retry_after=3600.0 if ext in DAILY else None,
        resubmit=True,
    )


def classify_submit(response: httpx.Response) -> Answer:
    """The meaning of an answer to ``POST /save``."""
    http = response.status_code
    if http in (401, 403):
        return Answer("refused", reason=f"the archive refused the keys (HTTP {http})")
    data = _json(response)
    if http == 429:
        return Answer(
            "retry",
            reason="HTTP 429: submitting too fast",
            retry_after=_retry_after(response),
            rate_limited=True,
        )
    if data is not None and data.get("status") == "error":
        answer = _error(data, http)
        if http == 429 or answer.rate_limited:
            return Answer(
                answer.kind,
                reason=answer.reason,
                rate_limited=True,
                retry_after=_retry_after(response) or answer.retry_after,
            )
        return answer
    job = data.get("job_id") if data is not None else None
    if http == 200 and isinstance(job, str) and _JOB_ID.match(job):
        return Answer("submitted", job_id=job)
    if http >= 500 or http in (408, 425):
        return Answer("retry", reason=f"HTTP {http} from the archive")
    return Answer("retry", reason=_short(f"unrecognised answer (HTTP {http}): no job id"))


def classify_status(response: httpx.Response, base: str, url: str) -> Answer:
    """The meaning of an answer to ``GET /save/status/{job_id}`` for a capture of ``url``."""
    http = response.status_code
    if http in (401, 403):
        return Answer("refused", reason=f"the archive refused the keys (HTTP {http})")
    data = _json(response)
    if data is None or http != 200:
        return Answer("pending" if http == 200 else "retry", reason=f"HTTP {http}, no status")
    status = data.get("status")
    if status == "pending":
        return Answer("pending")
    if status == "error":
        return _error(data, http)
    timestamp = data.get("timestamp")
    if status == "success" and isinstance(timestamp, str) and _TIMESTAMP.match(timestamp):
        original = data.get("original_url")
        target = original if isinstance(original, str) and safe_url(original) else url
        return Answer(
            "archived",
            timestamp=timestamp,
            archive_url=f"{base.rstrip('/')}/web/{timestamp}/{target}",
        )
    return Answer("pending", reason=_short(f"unrecognised status {status!r}"))


class SavePageNow:
    """An SPN2 client over one httpx client (``transport`` injectable for tests)."""

    def __init__(
        self,
        base: str,
        access_key: str,
        secret_key: str,
        *,
        user_agent: str,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={
                "Accept": "application/json",
                "Authorization": f"LOW {access_key}:{secret_key}",
                "User-Agent": user_agent,
            },
        )

    async def submit(self, url: str) -> Answer:
        """Ask for a capture of ``url`` (``skip_first_archive``: no lookup of older copies)."""
        try:
            response = await self._client.post(
                f"{self.base}/save", data={"url": url, "skip_first_archive": "1"}
            )
        except httpx.HTTPError as exc:
            return Answer("retry", reason=_short(f"network: {type(exc).__name__}"))
        return classify_submit(response)

    async def status(self, job_id: str, url: str) -> Answer:
        """Ask what became of job ``job_id`` (a capture of ``url``)."""
        try:
            response = await self._client.get(f"{self.base}/save/status/{job_id}")
        except httpx.HTTPError as exc:
            return Answer("retry", reason=_short(f"network: {type(exc).__name__}"))
        return classify_status(response, self.base, url)

    async def aclose(self) -> None:
        await self._client.aclose()
