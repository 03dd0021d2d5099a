"""What a failed attempt says about the next one: how long the server asked us to wait
(``Retry-After``; the backoff otherwise is ``core.backoff``), and what an exception an
attempt raised means: its ``Status``, the check's one-line reason, whether to try again."""

from __future__ import annotations

import email.utils
import socket
from contextlib import suppress
from datetime import UTC, datetime

import httpx

from monitor.core.observation import Status
from monitor.fetch.guard import Refused
from monitor.fetch.policy import FetchPolicy


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After``; ``None`` if absent/invalid.

    An HTTP date is measured against the response's own ``Date`` header when it has one:
    that cancels out any skew between the server's clock and ours.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now
    served = response.headers.get("date")
    if served:
        with suppress(TypeError, ValueError):
            reference = email.utils.parsedate_to_datetime(served)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def rest_after_429(asked: float | None, throttle_wait: float | None) -> float | None:
    """How long a host rests after a 429: what it asked, and at least ``throttle_wait``."""
    return asked if throttle_wait is None else max(asked or 0.0, throttle_wait)


def network_reason(exc: Exception) -> str:
    """A short reason for a network failure; the OS error underneath says the most."""
    cause: BaseException | None = exc
    for _ in range(8):  # a bounded walk: exception chains can, rarely, loop
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, socket.gaierror) or "name or service not known" in str(cause):
            return "DNS lookup failed"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {text}"
    return f"{type(exc).__name__}: {text}"[:200]


def attempt_failure(
    exc: httpx.HTTPError | OSError, policy: FetchPolicy, max_redirects: int
) -> tuple[Status, str, bool]:
    """The status, one-line reason and whether another try may help, for an exception an
    attempt raised (``asyncio.timeout``'s ``TimeoutError``: the whole request outlasted
    ``policy.timeout``)."""
    if isinstance(exc, Refused):  # the address guard, at connection time
        return Status.HTTP_ERROR, str(exc), False
    if isinstance(exc, httpx.TooManyRedirects):
        return Status.HTTP_ERROR, f"too many redirects (> {max_redirects})", False
    if isinstance(exc, httpx.ConnectTimeout):
        return Status.NETWORK_ERROR, f"connect timeout after {policy.connect_timeout:g}s", True
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__.removesuffix("Timeout").lower()
        return Status.NETWORK_ERROR, f"{kind} timeout after {policy.timeout:g}s", True
    if isinstance(exc, TimeoutError):
        return Status.NETWORK_ERROR, f"timeout after {policy.timeout:g}s", True
    if isinstance(exc, httpx.DecodingError):
        return Status.PARSE_ERROR, f"undecodable body: {exc}", False
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Status.HTTP_ERROR, f"unsupported URL: {exc}", False
    if isinstance(exc, httpx.TransportError | OSError):
        return Status.NETWORK_ERROR, network_reason(exc), True
    raise exc  # not a failure of the fetch (e.g. an HTTPStatusError nobody raises here)
