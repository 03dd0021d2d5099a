"""The channel contract: deliver one ``Message`` or say why not.

``send()`` returns ``None`` when the receiver accepted the message and raises
``ChannelError(message, permanent=...)`` otherwise; it never returns a bool and never
retries: the dispatcher owns retries and backoff. ``permanent=True`` means retrying cannot
help (a refused recipient, a failed login, a 4xx from a webhook).

A channel's ``name`` is stable (``email``, ``webhook:<name or host>``, ...): the outbox keys
delivery rows on it. ``describe()`` and every exception message are safe to log: passwords,
webhook secrets and tokens in URLs are masked.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

import httpx

from monitor import __version__
from monitor.alerts.payload import Message
from monitor.core.clock import Clock, utcnow

USER_AGENT = f"image-absence-monitor/{__version__}"
MASK = "***"
# Path segments this long, or mixing letters and digits, look like tokens (Slack, Discord...).
_TOKENISH = re.compile(r"^(?=.*\d)(?=.*[A-Za-z]).{8,}$|^.{16,}$")


@dataclass(frozen=True, slots=True)
class ChannelDeps:
    """Outside resources a channel may use; tests inject fakes or 127.0.0.1 peers."""

    transport: httpx.AsyncBaseTransport | None = None  # webhooks; None = real network
    ssl_context: ssl.SSLContext | None = None  # SMTP TLS; None = system trust store
    clock: Clock = utcnow


class Channel:
    """Base of all channels. Subclasses set ``kind`` and implement ``send`` and ``describe``."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_config(cls, config: Any, deps: ChannelDeps) -> Self:
        """Build the channel from its typed config section (``EmailConfig``,
        ``WebhookConfig``, ``AppriseConfig`` of ``monitor.config``), validated already."""
        raise NotImplementedError

    async def send(self, message: Message) -> None:
        """Deliver ``message``; raise ``ChannelError`` when it was not accepted."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line saying where this channel delivers, with secrets masked."""
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def mask_url(url: str) -> str:
    """``url`` safe to show: password, query values and token-like path segments masked.

    ``https://u:pw@hooks.example/services/T0AB12CD3/B0CD34EF5?token=x`` becomes
    ``https://u:***@hooks.example/services/T0***/B0***?token=***``.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username is not None:
        host = f"{parts.username}:{MASK}@{host}" if parts.password else f"{parts.username}@{host}"
    path = "/".join(s[:2] + MASK if _TOKENISH.match(s) else s for s in parts.path.split("/"))
    query = "&".join(f"{k}={MASK}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{host}{path}" + (f"?{query}" if query else "")


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that ``mask_url`` hides: password, query values, token segments."""
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    found += [s for s in parts.path.split("/") if _TOKENISH.match(s)]
    return [f for f in found if len(f) >= 4]  # shorter ones would garble ordinary text


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with each secret replaced by ``***`` (for messages built from peers' errors)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
