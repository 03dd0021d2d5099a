"""The channel contract: deliver one ``Message`` or say why not.

``send()`` returns ``None`` when the receiver accepted the message and raises
``ChannelError(message, permanent=...)`` otherwise; it never returns a bool and never
retries: the dispatcher owns retries and backoff. ``permanent=True`` means the receiver
refused the message itself, so that sending it again cannot help (a webhook's 400, 410, 413
or 422; a mail's content refused after DATA); a receiver that is down, being redeployed or
misconfigured (401, 404, a failed login) is transient: it may be fixed within the retries.

A channel's ``name`` is stable (``email``, ``webhook:<name or host>``, ...): the outbox keys
delivery rows on it. ``describe()`` and every exception message are safe to log: passwords,
webhook secrets and tokens in URLs are masked (``core.masking``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import httpx

from monitor import __version__
from monitor.alerts.payload import Message
from monitor.core.clock import Clock, utcnow

USER_AGENT = f"image-absence-monitor/{__version__}"

# (alert ids, image URLs) -> image URL -> (bytes, content type) of the kept thumbnails of
# those alerts' vanished images among the URLs (store.thumbnails.alert_thumbnails).
ThumbnailLookup = Callable[[Sequence[int], Sequence[str]], Mapping[str, tuple[bytes, str]]]


@dataclass(frozen=True, slots=True)
class ChannelDeps:
    """Outside resources a channel may use; tests inject fakes or 127.0.0.1 peers."""

    transport: httpx.AsyncBaseTransport | None = None  # webhooks; None = real network
    ssl_context: ssl.SSLContext | None = None  # SMTP TLS; None = system trust store
    clock: Clock = utcnow
    thumbnails: ThumbnailLookup | None = None  # kept copies for mails; None: none kept
    report_url: str | None = None  # ``alerts.report_url``: where readers find the report


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
