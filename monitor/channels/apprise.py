"""Other services (Slack, Discord, ntfy, Matrix, Telegram...) through one Apprise URL each.

Optional: needs the ``apprise`` extra (``pip install "image-absence-monitor[apprise]"``).
Without it, configuring an Apprise URL is a ``ConfigError`` at start-up, not a failure at
3 a.m. One channel per URL, so a failure on one service never resends to the others.

Apprise reports only success or failure, not why, so every failure is transient: the
dispatcher retries and, after its limit, records ``delivery_failed``. Apprise's own log
lines (logger ``apprise``) carry the detail, with Apprise's privacy masking.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Self
from urllib.parse import urlsplit

from monitor.alerts import render
from monitor.alerts.payload import Message
from monitor.channels.base import Channel, ChannelDeps
from monitor.config import AppriseConfig
from monitor.core.errors import ChannelError, ConfigError
from monitor.core.masking import mask_url, register_url

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    'Apprise URLs need the optional "apprise" package: pip install "image-absence-monitor[apprise]"'
)


class AppriseChannel(Channel):
    """Sends the subject and plain-text body to one Apprise URL."""

    kind = "apprise"

    def __init__(self, *, url: str, report_url: str | None = None) -> None:
        try:
            import apprise  # optional dependency, imported only when used
        except ImportError:
            raise ConfigError(INSTALL_HINT, key="alerts.apprise") from None
        register_url(url)  # Apprise's own lines and httpx's may show the URL
        scheme = urlsplit(url).scheme.lower() or "?"
        # Hash of the full URL: stable across config reordering, distinct per destination,
        # and says nothing about the token inside it.
        digest = hashlib.sha256(url.encode()).hexdigest()[:8]
        super().__init__(f"apprise:{scheme}:{digest}")
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ConfigError(
                f"{mask_url(url, credential=True)} is not a URL Apprise understands",
                key="alerts.apprise",
            )
        server: Any = self._apprise[0]  # typed or not depending on the Apprise version
        self._shown = str(server.url(privacy=True))
        self.report_url = report_url

    @classmethod
    def from_config(cls, config: AppriseConfig, deps: ChannelDeps) -> Self:
        """Build from one entry of ``alerts.apprise``."""
        return cls(url=config.url.get_secret_value(), report_url=deps.report_url)

    def describe(self) -> str:
        """The name and the URL as Apprise shows it with ``privacy=True``."""
        return f"{self.name} {self._shown}"

    async def send(self, message: Message) -> None:
        """Notify; any failure is transient (Apprise does not say whether it is permanent)."""
        result = await self._apprise.async_notify(
            title=render.subject(message), body=render.text_body(message, self.report_url)
        )
        if not result:
            raise ChannelError(
                f"{self.describe()}: Apprise reported a failure (details in the apprise log)",
                permanent=False,
            )
        logger.debug("apprise %s delivered via %s", message.delivery_id, self.name)
