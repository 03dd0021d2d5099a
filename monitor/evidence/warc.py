"""The WARC file of an evidence bundle (ISO 28500, written with warcio): for each kept
response a ``request`` record (the request as sent, secrets masked) and the ``response``
record concurrent to it (the status and content type kept, and the body byte for byte), and
for each kept thumbnail a ``resource`` record; each at its original URL and fetch time.

The monitor keeps a response's body, status and content type, not the engine's other
headers: a response record's header block is rebuilt from those (README.txt says so).
Extension headers name the snapshot and role (``X-Absence-Snapshot``, ``X-Absence-Role``)
so a verifier can tie each response to its snapshot-log entry.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from monitor import __version__
from monitor.store.bundle_reads import KeptImage, KeptResponse

SNAPSHOT = "X-Absence-Snapshot"
ROLE = "X-Absence-Role"


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _status_line(status: int | None) -> str:
    code = status or 200
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _request_headers(r: KeptResponse) -> tuple[str, str, StatusAndHeaders]:
    """The request's URL, method and header block (as sent, masked; a response from before
    requests were kept is asked with a bare GET of its final URL)."""
    sent = json.loads(r.request) if r.request else {}
    url = str(sent.get("url") or r.final_url or "")
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [(str(k), str(v)) for k, v in sent.get("headers") or [("Host", parts.netloc)]]
    method = str(sent.get("method") or "GET")
    line = StatusAndHeaders(
        f"{method} {target}", headers, protocol="HTTP/1.1", is_http_request=True
    )
    return url, method, line


def write_warc(
    responses: Sequence[KeptResponse], images: Sequence[tuple[KeptImage, bytes]]
) -> bytes:
    """The WARC (gzip per record, ``.warc.gz``) of ``responses`` and ``images``."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    writer.write_record(
        writer.create_warcinfo_record(
            "evidence.warc.gz",
            {"software": f"absence-monitor {__version__}", "format": "WARC File Format 1.1"},
        )
    )
    for r in responses:
        body = gzip.decompress(r.body_gz)
        url, _, request_line = _request_headers(r)
        http = StatusAndHeaders(
            _status_line(r.http_status),
            [
                ("Content-Type", r.content_type or "application/octet-stream"),
                ("Content-Length", str(len(body))),
            ],
            protocol="HTTP/1.1",
        )
        extra = {"WARC-Date": _date(r.finished_at), SNAPSHOT: str(r.snapshot_id), ROLE: r.role}
        response = writer.create_warc_record(
            r.final_url or url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict=extra,
        )
        request = writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=request_line,
            warc_headers_dict={
                **extra,
                "WARC-Date": _date(r.started_at),
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        writer.write_record(request)
        writer.write_record(response)
    for image, data in images:
        writer.write_record(
            writer.create_warc_record(
                image.thumb_url or image.image_url,
                "resource",
                payload=io.BytesIO(data),
                length=len(data),
                warc_content_type=image.content_type,
                warc_headers_dict={"WARC-Date": _date(image.fetched_at), ROLE: "thumbnail"},
            )
        )
    return out.getvalue()


def response_digests(warc: bytes) -> dict[int, str]:
    """The SHA-256 of each response record's body in ``warc``, by its snapshot."""
    import hashlib

    out: dict[int, str] = {}
    for record in ArchiveIterator(io.BytesIO(warc)):
        snapshot = record.rec_headers.get_header(SNAPSHOT)
        if record.rec_type == "response" and snapshot:
            out[int(snapshot)] = hashlib.sha256(record.content_stream().read()).hexdigest()
    return out
