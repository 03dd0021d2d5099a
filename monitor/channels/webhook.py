"""Webhook: POST the JSON payload (docs/webhooks.md) to a URL, signed per Standard Webhooks.

One alert is sent as the flat ``AlertPayload``; a group as a ``batch`` envelope. Headers:
``X-Absence-Event``, ``X-Absence-Delivery`` (the message's delivery id, stable across
retries, so receivers can drop the rare duplicate) and, when a secret is configured, the
Standard Webhooks signature (https://www.standardwebhooks.com): ``webhook-id`` (the delivery
id), ``webhook-timestamp`` (Unix seconds of this attempt, so a receiver can refuse a replay)
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. The key is the
base64 after ``whsec_`` for a secret in that form, else the secret's UTF-8 bytes. The older
``X-Absence-Signature: sha256=<hex HMAC-SHA256 of the body>`` is still sent, deprecated: it
goes away in the next release.

2xx is delivered. 400, 410, 413 and 422 are permanent: they say the payload itself is
refused (malformed, the hook gone for good, too large, not acceptable), and sending it again
cannot change that. Every other answer is transient and left to the dispatcher to retry on its
schedule: 5xx, 408, 429, redirects, network errors, timeouts, and also 401, 403 and 404,
which a receiver gives while it is being redeployed or its secret rotated (a retry after the
fix gets through; the day-long schedule gives time for that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from datetime import datetime
from typing import Self
from urllib.parse import urlsplit

import httpx

from monitor.alerts.payload import Message, encode
from monitor.alerts.render import clean
from monitor.channels.base import (
    USER_AGENT,
    Channel,
    ChannelDeps,
)
from monitor.config import WebhookConfig
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import ChannelError, ConfigError
from monitor.core.masking import mask, mask_url, register, register_url, url_secrets

logger = logging.getLogger(__name__)

# The answers that refuse the payload itself; any other non-2xx is worth trying again.
PERMANENT_STATUSES = frozenset({400, 410, 413, 422})
_SNIPPET = 200  # characters of a receiver's error body worth showing


SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)


def sign(body: bytes, secret: str) -> str:
    """The deprecated ``X-Absence-Signature`` value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signing_key(secret: str) -> bytes:
    """The Standard Webhooks key of ``secret``: base64-decoded after ``whsec_``, else its
    UTF-8 bytes. ``ConfigError`` for a ``whsec_`` secret that is not base64."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "a whsec_ secret must be base64 after the prefix", key="alerts.webhooks.secret"
        ) from None
    if not key:
        raise ConfigError("the whsec_ secret is empty", key="alerts.webhooks.secret")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookChannel(Channel):
    """POSTs each message to one URL."""

    kind = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: str | None = None,
        name: str | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = utcnow,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{mask_url(url, credential=True)} is not an http(s) URL", key="alerts.webhooks.url"
            )
        super().__init__(f"webhook:{name or parts.hostname}")
        self.url = url
        # The HTTP client logs each request's URL (-vv): its tokens must be masked there too.
        register_url(url)
        if secret:
            register(secret)
        self._secret = secret
        self._key = signing_key(secret) if secret else None
        self.timeout = timeout
        self._transport = transport
        self._clock = clock

    @classmethod
    def from_config(cls, config: WebhookConfig, deps: ChannelDeps) -> Self:
        """Build from one ``alerts.webhooks`` entry."""
        return cls(
            url=config.url.get_secret_value(),
            secret=config.secret.get_secret_value() if config.secret else None,
            name=config.name,
            timeout=config.timeout.total_seconds(),
            transport=deps.transport,
            clock=deps.clock,
        )

    def describe(self) -> str:
        """``webhook:ops POST https://hooks.example/in?token=*** (signed)``."""
        signed = "signed" if self._secret else "unsigned"
        return f"{self.name} POST {mask_url(self.url, credential=True)} ({signed})"

    def headers(self, message: Message, body: bytes, now: datetime | None = None) -> dict[str, str]:
        """The request headers for ``body``, signed at ``now`` when a secret is set."""
        delivery = clean(message.delivery_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Absence-Event": message.event,
            "X-Absence-Delivery": delivery,
        }
        if self._secret and self._key:
            # Signed at each attempt: a retry carries a fresh timestamp, the same id.
            stamp = int((now or self._clock()).timestamp())
            headers["webhook-id"] = delivery
            headers["webhook-timestamp"] = str(stamp)
            headers["webhook-signature"] = standard_signature(self._key, delivery, stamp, body)
            headers["X-Absence-Signature"] = sign(body, self._secret)  # deprecated
        return headers

    async def send(self, message: Message) -> None:
        """POST ``message``; ``ChannelError`` says whether a retry can help."""
        body = encode(message)
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=self.timeout, follow_redirects=False
            ) as client:
                response = await client.post(
                    self.url, content=body, headers=self.headers(message, body)
                )
        except httpx.TimeoutException:
            raise self._error(f"timed out after {self.timeout:g}s", permanent=False) from None
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, reset...
            raise self._error(f"network error: {type(exc).__name__}: {exc}", False) from None
        status = response.status_code
        if 200 <= status < 300:
            logger.debug("webhook %s delivered to %s: %d", message.delivery_id, self.name, status)
            return
        permanent = status in PERMANENT_STATUSES
        what = f"HTTP {status} {response.reason_phrase}"
        if 300 <= status < 400:
            where = mask_url(response.headers.get("location", "?"), credential=True)
            what += f" to {where} (update the URL)"
        elif status == 429 and "retry-after" in response.headers:
            what += f", Retry-After: {clean(response.headers['retry-after'])}"
        snippet = clean(response.text[:_SNIPPET])
        raise self._error(f"{what}: {snippet}" if snippet else what, permanent) from None

    def _error(self, text: str, permanent: bool) -> ChannelError:
        # Peers' error texts may echo the URL (with its token) back: mask both forms.
        text = mask(text, also=[self._secret, self.url, *url_secrets(self.url)])
        return ChannelError(f"{self.describe()}: {text}", permanent=permanent)
