"""Registry of channel kinds: ``kind -> "module:Class"``, imported lazily.

``build_channels`` turns the typed ``alerts:`` config section (``AlertsConfig``) into
channels, one per destination, with names the outbox keys its delivery rows on: ``email``,
``webhook:<name or host>``, ``apprise:<scheme>:<hash>``. Two channels with the same name
are a config error (give the webhooks ``name:``s).
"""

from __future__ import annotations

import ssl

import httpx

from monitor.channels.base import Channel, ChannelDeps, ThumbnailLookup
from monitor.config import AlertsConfig
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import ConfigError
from monitor.core.registry import load_plugin

REGISTRY: dict[str, str] = {
    "email": "monitor.channels.mail:EmailChannel",
    "webhook": "monitor.channels.webhook:WebhookChannel",
    "apprise": "monitor.channels.apprise:AppriseChannel",
}


def load(kind: str) -> type[Channel]:
    """Import and return the class registered for ``kind``; ``LookupError`` if unknown."""
    return load_plugin(REGISTRY, kind, Channel, "channel")


def build_channels(
    alerts: AlertsConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
    clock: Clock = utcnow,
    thumbnails: ThumbnailLookup | None = None,
) -> list[Channel]:
    """One channel per destination of the validated ``alerts`` section.

    Each channel gets its own typed part (``alerts.email``, one ``alerts.webhooks`` entry,
    one ``alerts.apprise`` entry); the retry policy is the dispatcher's. ``transport``
    (webhooks), ``ssl_context`` (SMTP) and ``clock`` are injected by the composition root
    or tests; ``thumbnails`` finds kept thumbnails for mails to show inline.
    """
    deps = ChannelDeps(
        transport=transport,
        ssl_context=ssl_context,
        clock=clock,
        thumbnails=thumbnails,
        report_url=alerts.report_url,
    )
    channels: list[Channel] = []
    if alerts.email is not None:
        channels.append(load("email").from_config(alerts.email, deps))
    channels += [load("webhook").from_config(hook, deps) for hook in alerts.webhooks]
    channels += [load("apprise").from_config(dest, deps) for dest in alerts.apprise]
    seen: set[str] = set()
    for channel in channels:
        if channel.name in seen:
            raise ConfigError(
                f'two channels are named "{channel.name}"; give each webhook a distinct name:',
                key="alerts",
            )
        seen.add(channel.name)
    return channels


__all__ = ["REGISTRY", "Channel", "ChannelDeps", "build_channels", "load"]
