"""RFC 3161 time-stamps of the snapshot log's head: proof from a third party that the log
read so at that time, so a later rewrite of the whole chain shows.

- ``Stamper.step()`` (the daemon's job, every ``evidence.timestamp_every``): when the log
  has grown since the last token, send its head to ``evidence.timestamp_url`` (a
  ``TimeStampReq`` over the SHA-256 of the head's 32 bytes, with a nonce, asking for the
  TSA's certificate), check the reply (granted, our imprint, our nonce) and keep it
  (``log_timestamps``). A refusal or an unreachable TSA is logged; the next run tries again.
- ``check_tokens(session, ca)`` (``db verify``): each kept token still decodes, names the
  head it was asked for, and that head is still the log's link at its position; with the
  TSA's root certificate (``evidence.timestamp_ca`` or ``db verify --tsa-ca``) its
  signature and certificate chain are checked too.

The request, reply and signature checks are rfc3161-client's (maintained by Trail of Bits
for sigstore; Rust ASN.1 and CMS underneath).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.clock import Clock, iso_utc
from monitor.core.errors import MonitorError
from monitor.core.masking import mask_url
from monitor.store import snapshot_log
from monitor.store.models import LogTimestamp

logger = logging.getLogger(__name__)
GRANTED = (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS)


class Stamper:
    """Obtains and keeps time-stamp tokens of the log's head from one TSA."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        url: str,
        *,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.url = url
        self.clock = clock

    def _due(self) -> tuple[int, str] | None:
        with self.sessions() as session:
            seq, head = snapshot_log.head(session)
            stamped = snapshot_log.last_timestamp(session)
        return None if seq == 0 or (stamped is not None and stamped[0] == seq) else (seq, head)

    async def step(self) -> bool:
        """Time-stamp the head if the log grew since the last token; whether one was kept."""
        due = await asyncio.to_thread(self._due)
        if due is None:
            return False
        seq, head = due
        try:
            token, signed_at = await self._ask(bytes.fromhex(head))
        except (httpx.HTTPError, MonitorError, ValueError) as exc:
            logger.warning("time-stamp of the log's head (entry %d) not obtained: %s", seq, exc)
            return False
        row = LogTimestamp(
            seq=seq,
            head=head,
            tsa_url=self.url,
            token=token,
            gen_time=signed_at,
            created_at=self.clock(),
        )

        def keep() -> None:
            with self.sessions() as session, session.begin():
                snapshot_log.add_timestamp(session, row)

        await asyncio.to_thread(keep)
        logger.info("time-stamped the log's head, entry %d, at %s", seq, iso_utc(signed_at))
        return True

    async def _ask(self, head: bytes) -> tuple[bytes, datetime]:
        request = TimestampRequestBuilder().data(head).hash_algorithm(HashAlgorithm.SHA256).build()
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                self.url,
                content=request.as_bytes(),
                headers={"Content-Type": "application/timestamp-query"},
            )
        where = mask_url(self.url)
        if answer.status_code != 200:
            raise MonitorError(f"{where} answered HTTP {answer.status_code}")
        reply = decode_timestamp_response(answer.content)
        if PKIStatus(reply.status) not in GRANTED:
            raise MonitorError(f"{where} refused: {'; '.join(reply.status_string) or reply.status}")
        info = reply.tst_info
        if info.message_imprint.message != hashlib.sha256(head).digest():
            raise MonitorError(f"{where} signed another imprint than the head's")
        if info.nonce != request.nonce:
            raise MonitorError(f"{where} answered with another nonce")
        signed = info.gen_time  # GeneralizedTime is UTC
        return answer.content, signed if signed.tzinfo else signed.replace(tzinfo=UTC)


@dataclass
class TokenCheck:
    """What ``check_tokens`` found."""

    tokens: int = 0
    signatures: bool = False  # checked against a root certificate
    problems: list[str] = field(default_factory=list)


def load_ca(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM file (the TSA's root)."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise MonitorError(f"TSA certificate {path}: {exc}") from None


def check_tokens(session: Session, roots: list[x509.Certificate]) -> TokenCheck:
    """Check every kept token against the log (and, given ``roots``, its signature)."""
    out = TokenCheck(signatures=bool(roots))
    verifier = None
    if roots:
        builder = VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        verifier = builder.build()
    for row in snapshot_log.timestamps(session):
        out.tokens += 1
        what = f"time-stamp #{row.id} (entry {row.seq}, {iso_utc(row.gen_time)})"
        head = bytes.fromhex(row.head)
        try:
            reply = decode_timestamp_response(row.token)
        except ValueError:
            out.problems.append(f"{what}: the token does not decode")
            continue
        if reply.tst_info.message_imprint.message != hashlib.sha256(head).digest():
            out.problems.append(f"{what}: the token signs another head than the one kept")
        elif snapshot_log.link_at(session, row.seq) != row.head:
            out.problems.append(
                f"{what}: the log's entry {row.seq} is no longer the link the authority "
                "signed (the log was rewritten since)"
            )
        elif verifier is not None:
            try:
                verifier.verify_message(reply, head)
            except VerificationError as exc:
                out.problems.append(f"{what}: its signature does not verify ({exc})")
    return out
