"""Local receivers for the demo's alerts: a minimal SMTP server and a webhook endpoint.

``SmtpSink`` speaks enough honest SMTP (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot
unstuffing, RSET, NOOP, QUIT) for ``smtplib`` to deliver a mail, on asyncio streams in the
demo's own event loop (the email channel runs ``smtplib`` in a worker thread, so the loop is
free to answer). It keeps each mail parsed. ``WebhookSink`` is a ``LocalServer`` that checks
``X-Absence-Signature`` (HMAC-SHA256 of the raw body) and answers 401 when it does not match,
so a wrong signature shows up as a delivery error (retried on the schedule), not as a silent
success.

Both record the alert ids each delivery carried (the mail's text body names them as
"alert #N"; the webhook body carries ``alert_id``), so the demo can prove every alert
reached every channel exactly once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from monitor.channels.webhook import sign, signing_key, standard_signature
from monitor.demo.engines import no_delay
from monitor.testing import LocalServer, Reply, Request

_ALERT_ID = re.compile(r"alert #(\d+)\.")


@dataclass
class Mail:
    """One mail the SMTP sink accepted."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def delivery_id(self) -> str:
        return str(self.message["X-Absence-Delivery"])

    @property
    def alert_ids(self) -> list[int]:
        part = self.message.get_body(("plain",))
        text = part.get_content() if part is not None else ""
        return [int(n) for n in _ALERT_ID.findall(text)]


@dataclass
class SmtpSink:
    """A tiny SMTP server on 127.0.0.1 that keeps every mail (start with ``await start()``)."""

    mails: list[Mail] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> SmtpSink:
        """Listen on ``port`` (0: any free one; a given one: back where it was)."""
        self._server = await asyncio.start_server(self._session, "127.0.0.1", port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def alert_counts(self) -> Counter[int]:
        return Counter(n for mail in self.mails for n in mail.alert_ids)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender, recipients = "", list[str]()
        await reply("220 demo-smtp-sink ESMTP ready")
        try:
            while line := await reader.readline():
                verb, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    await reply("250-demo-smtp-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
                elif verb == "HELO":
                    await reply("250 demo-smtp-sink")
                elif verb == "MAIL":
                    sender, recipients = _address(arg), []
                    await reply("250 OK")
                elif verb == "RCPT":
                    recipients.append(_address(arg))
                    await reply("250 OK")
                elif verb == "DATA":
                    if not recipients:
                        await reply("503 need RCPT first")
                        continue
                    await reply("354 end with <CRLF>.<CRLF>")
                    data = await _read_data(reader)
                    mail = message_from_bytes(data, policy=policy.default)
                    self.mails.append(Mail(sender, recipients, mail))
                    await reply("250 OK queued")
                elif verb in ("RSET", "NOOP"):
                    sender, recipients = ("", []) if verb == "RSET" else (sender, recipients)
                    await reply("250 OK")
                elif verb == "QUIT":
                    await reply("221 bye")
                    break
                else:
                    await reply("502 command not implemented")
        finally:
            writer.close()


def _address(arg: str) -> str:
    """``FROM:<a@b> SIZE=10`` -> ``a@b``."""
    _, _, rest = arg.partition(":")
    return rest.strip().split(" ")[0].strip("<>")


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    lines: list[bytes] = []
    while True:
        line = await reader.readline()
        if not line or line in (b".\r\n", b".\n"):
            break
        lines.append(line[1:] if line.startswith(b"..") else line)  # dot unstuffing
    return b"".join(lines)


@dataclass
class Post:
    """One webhook request the sink accepted."""

    event: str
    delivery_id: str
    body: dict[str, Any]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        if self.body.get("event") == "batch":
            return list(self.body["alerts"])
        return [self.body]


class WebhookSink:
    """A webhook receiver that verifies signatures; a context manager, like LocalServer."""

    path = "/absence"

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.posts: list[Post] = []
        self.rejected = 0
        self._lock = threading.Lock()
        self.server = no_delay(LocalServer(self._handle))

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def alert_counts(self) -> Counter[int]:
        with self._lock:
            return Counter(int(a["alert_id"]) for p in self.posts for a in p.alerts)

    def _handle(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != self.path:
            return Reply(404, "no such hook", "text/plain")
        # The Standard Webhooks signature (the demo's clock is simulated, so the timestamp is
        # signed but not compared with the wall clock) and the deprecated header, both.
        msg_id = req.headers.get("webhook-id", "")
        stamp = req.headers.get("webhook-timestamp", "")
        expected = (
            standard_signature(signing_key(self.secret), msg_id, int(stamp), req.body)
            if stamp.isdigit()
            else ""
        )
        given = req.headers.get("webhook-signature", "").split(" ")
        legacy = req.headers.get("x-absence-signature", "")
        if not (
            expected
            and any(hmac.compare_digest(g, expected) for g in given)
            and hmac.compare_digest(legacy, sign(req.body, self.secret))
        ):
            with self._lock:
                self.rejected += 1
            return Reply(401, "bad signature", "text/plain")
        post = Post(
            req.headers.get("x-absence-event", ""),
            req.headers.get("x-absence-delivery", ""),
            json.loads(req.body),
        )
        with self._lock:
            self.posts.append(post)
        return Reply(200, "ok", "text/plain")

    def __enter__(self) -> WebhookSink:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
