"""Email over SMTP (channel kind ``email``): STARTTLS, implicit TLS or plain, with or without
login. The module is ``mail`` so that it does not shadow the stdlib's ``email`` package.

The stdlib ``smtplib`` runs in a worker thread (``asyncio.to_thread``): alerts are few, so a
blocking client per message costs nothing and spares a dependency. Each mail is
multipart/alternative (text, then HTML from ``monitor.alerts.render``); kept thumbnails of
the first vanished images are attached to the HTML part (``cid:``, capped in size), since the
HTML never loads a remote image. Its ``Message-ID`` is
derived from the delivery id, so the one possible duplicate (resent after a crash) carries
the same Message-ID and ``X-Absence-Delivery`` as the first copy.

Only a refusal of the message itself is permanent: a 5xx reply to its content (after DATA:
554 rejected, 552 too large) or to its announced size (552 at MAIL FROM), and a mail some
recipients accepted and others refused (a retry would double it for the first). Everything
else is transient and retried on the dispatcher's day-long schedule: 4xx, refused or dropped
connections, timeouts, and also a failed login (535), an untrusted certificate, a missing
STARTTLS or every recipient refused (550): a rotated password, a renewed certificate or a
fixed address (after a config reload) lets the pending mail through.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Literal, Self

from monitor.alerts import render
from monitor.alerts.payload import Message
from monitor.channels.base import USER_AGENT, Channel, ChannelDeps, ThumbnailLookup
from monitor.config import EmailConfig
from monitor.core.clock import Clock, utcnow
from monitor.core.errors import ChannelError
from monitor.core.masking import mask

logger = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
MAX_THUMB_BYTES = 200_000  # a kept thumbnail larger than this is not attached
MAX_INLINE_BYTES = 1_000_000  # attached thumbnails per mail, in all
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def message_id(delivery_id: str, sender: str) -> str:
    """A Message-ID that depends only on the delivery id and the sender's domain."""
    token = (
        delivery_id
        if _SAFE_ID.match(delivery_id)
        else hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    )
    domain = sender.rpartition("@")[2].strip("<> ") or "image-absence-monitor.invalid"
    return f"<absence.{token}@{domain}>"


def content_id(image_url: str, domain: str) -> str:
    """The Content-ID (without brackets) of an image's attached thumbnail: stable, so a
    resent mail is the same mail."""
    return f"thumb.{hashlib.sha256(image_url.encode()).hexdigest()[:20]}@{domain}"


def _attachable(
    message: Message, thumbnails: ThumbnailLookup | None
) -> dict[str, tuple[bytes, str]]:
    """The kept thumbnails to attach, within ``MAX_THUMB_BYTES`` each and
    ``MAX_INLINE_BYTES`` in all, in the order the body shows them."""
    urls = render.inline_images(message)
    if thumbnails is None or not urls:
        return {}
    found = thumbnails([a["alert_id"] for a in message.alerts], urls)
    out: dict[str, tuple[bytes, str]] = {}
    total = 0
    for url in urls:
        data, kind = found.get(url, (b"", ""))
        if not data or len(data) > MAX_THUMB_BYTES or not kind.startswith("image/"):
            continue
        if total + len(data) > MAX_INLINE_BYTES:
            break
        total += len(data)
        out[url] = (data, kind)
    return out


def build_email(
    message: Message,
    *,
    sender: str,
    to: Sequence[str],
    now: datetime,
    thumbnails: ThumbnailLookup | None = None,
    report: str | None = None,
) -> EmailMessage:
    """The MIME message for ``message``: text and HTML alternatives plus tracing headers;
    kept thumbnails ride along as ``multipart/related`` parts the HTML shows by ``cid:``."""
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["Subject"] = render.subject(message)
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id(message.delivery_id, sender)
    mail["X-Absence-Delivery"] = render.clean(message.delivery_id)
    mail["X-Absence-Event"] = message.event
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    mail["X-Mailer"] = USER_AGENT
    domain = sender.rpartition("@")[2].strip("<> ") or "image-absence-monitor.invalid"
    attached = _attachable(message, thumbnails)
    cids = {url: content_id(url, domain) for url in attached}
    mail.set_content(render.text_body(message, report))
    mail.add_alternative(render.html_body(message, report, cids), subtype="html")
    if attached:
        html_part = mail.get_body(preferencelist=("html",))
        assert html_part is not None  # added just above
        for url, (data, kind) in attached.items():
            maintype, _, subtype = kind.partition("/")
            html_part.add_related(
                data, maintype=maintype, subtype=subtype, cid=f"<{cids[url]}>", disposition="inline"
            )
    return mail


class EmailChannel(Channel):
    """Sends each message as one mail to all recipients through one SMTP server."""

    kind = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        to: Sequence[str],
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock = utcnow,
        name: str = "email",
        thumbnails: ThumbnailLookup | None = None,
        report_url: str | None = None,
    ) -> None:
        # Values come validated from ``EmailConfig`` (security, at least one recipient).
        super().__init__(name)
        self.host, self.port, self.security = host, port, security
        self.sender, self.to = sender, list(to)
        self.username, self._password = username, password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._clock = clock
        self._thumbnails = thumbnails
        self.report_url = report_url

    @classmethod
    def from_config(cls, config: EmailConfig, deps: ChannelDeps) -> Self:
        """Build from ``alerts.email``."""
        return cls(
            host=config.host,
            port=config.port,
            sender=config.from_,
            to=config.to,
            security=config.security,
            username=config.username,
            password=config.password.get_secret_value() if config.password else None,
            timeout=config.timeout.total_seconds(),
            ssl_context=deps.ssl_context,
            clock=deps.clock,
            thumbnails=deps.thumbnails,
            report_url=deps.report_url,
        )

    def describe(self) -> str:
        """``email smtp://user:***@host:587 (starttls) -> a@x, b@y``."""
        login = f"{self.username}:***@" if self.username else ""
        return (
            f"{self.name} smtp://{login}{self.host}:{self.port} ({self.security}) "
            f"-> {', '.join(self.to)}"
        )

    async def send(self, message: Message) -> None:
        """Deliver one mail; ``ChannelError`` says whether a retry can help."""
        mail = build_email(
            message,
            sender=self.sender,
            to=self.to,
            now=self._clock(),
            thumbnails=self._thumbnails,
            report=self.report_url,
        )
        try:
            refused = await asyncio.to_thread(self._deliver, mail)
        except Exception as exc:  # every smtplib/ssl/socket failure is classified below
            text, permanent = _classify(exc)
            raise ChannelError(
                self._scrub(f"{self.describe()}: {text}"), permanent=permanent
            ) from None
        if refused:
            # Some recipients have the mail already; a retry would double it for them, so
            # this is reported as permanent for the user to fix the addresses.
            accepted = [a for a in self.to if a not in refused]
            detail = "; ".join(f"{r}: {_reply(*refused[r])}" for r in sorted(refused))
            raise ChannelError(
                self._scrub(
                    f"{self.describe()}: delivered to {', '.join(accepted)} but refused {detail}"
                ),
                permanent=True,
            )
        logger.debug("mail %s sent via %s", message.delivery_id, self.describe())

    def _deliver(self, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """Blocking SMTP conversation (runs in a worker thread)."""
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self._password or "")
            refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=self.to)
        return refused

    def _scrub(self, text: str) -> str:
        return mask(text, also=[self._password])


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {render.clean(text)}"


def _classify(exc: BaseException) -> tuple[str, bool]:
    """``(what happened, permanent?)`` for an exception from the SMTP conversation."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{r}: {_reply(*exc.recipients[r])}" for r in sorted(exc.recipients))
        return f"all recipients refused: {detail}", False
    if isinstance(exc, smtplib.SMTPDataError):
        return f"message refused: {_reply(exc.smtp_code, exc.smtp_error)}", exc.smtp_code >= 500
    if isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code == 552:
        return f"message too large: {_reply(exc.smtp_code, exc.smtp_error)}", True
    if isinstance(exc, smtplib.SMTPResponseException):
        what = "login failed" if isinstance(exc, smtplib.SMTPAuthenticationError) else "server said"
        return f"{what}: {_reply(exc.smtp_code, exc.smtp_error)}", False
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"server does not support what the config asks for: {exc}", False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}", False
    if isinstance(exc, TimeoutError):
        return "timed out", False
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"connection closed by the server: {exc}", False
    if isinstance(exc, OSError):
        return f"cannot reach the server: {exc.strerror or exc}", False
    return f"{type(exc).__name__}: {exc}", False
