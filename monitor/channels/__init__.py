"""Registry of channel kinds: ``kind -> "module:Class"``, imported lazily.

``build_channels`` turns the validated ``alerts:`` config section into channels, one per
destination, with names the outbox keys its delivery rows on: ``email``,
``webhook:<name or host>``, ``apprise:<scheme>:<hash>``. Two channels with the same name
are a config error (give the webhooks ``name:``s).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from monitor.channels.base import Channel, ChannelDeps
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import ConfigError
from monitor.core.registry import load_plugin

REGISTRY: dict[str, str] = {
    "email": "monitor.channels.email:EmailChannel",
    "webhook": "monitor.channels.webhook:WebhookChannel",
    "apprise": "monitor.channels.apprise:AppriseChannel",
}


def load(kind: str) -> type[Channel]:
    """Import and return the class registered for ``kind``; ``LookupError`` if unknown."""
    return load_plugin(REGISTRY, kind, Channel, "channel")


def build_channels(
    alerts_config: Mapping[str, Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
    clock: Clock = utcnow,
) -> list[Channel]:
    """Channels for ``{"email": {...}, "webhooks": [{...}], "apprise": [url, ...]}``.

    Other keys of the section (retry policy) are ignored. ``transport`` (webhooks),
    ``ssl_context`` (SMTP) and ``clock`` are injected by the composition root or tests.
    """
    deps = ChannelDeps(transport=transport, ssl_context=ssl_context, clock=clock)
    channels: list[Channel] = []
    if alerts_config.get("email"):
        channels.append(load("email").from_config(alerts_config["email"], deps))
    for hook in alerts_config.get("webhooks") or ():
        channels.append(load("webhook").from_config(hook, deps))
    for url in alerts_config.get("apprise") or ():
        channels.append(load("apprise").from_config({"url": url}, deps))
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
