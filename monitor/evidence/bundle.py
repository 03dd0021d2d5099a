"""``evidence export``: one alert's evidence as a zip a reader can check without the monitor.

The bundle (files in this order; ``manifest.json`` lists every other one with its SHA-256)::

    README.txt        what each file is and how to verify it
    alert.json        the alert's payload as delivered
    evidence.warc.gz  request and response records of each kept response, resource records
                      of the kept thumbnails (``monitor.evidence.warc``)
    history.csv       the person's snapshots on that source (``history --format csv``)
    vanished.csv      the vanished images: first and last seen, where each is still seen
    SHA256SUMS        the files' hashes for ``sha256sum -c``
    manifest.json     files and hashes, tool version, vantage, the responses and thumbnails,
                      the snapshot-log entries of the responses' snapshots, and a seal: the
                      SHA-256 of the rest of the manifest (``monitor.evidence.bundle_check``)

The alert's case (``monitor.store.bundle_reads``) is the alert and the alerts of its
episodes, so a drop's bundle holds its recovery too, and the other way round.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor import __version__
from monitor.alerts.payload import upgrade
from monitor.core.clock import iso_utc
from monitor.core.errors import MonitorError
from monitor.core.loghash import canonical
from monitor.evidence.bundle_text import README, VANISHED_FIELDS, WHAT
from monitor.evidence.warc import write_warc
from monitor.store.bundle_reads import Case, KeptImage, case_of
from monitor.store.reads import HISTORY_FIELDS, history_rows
from monitor.store.snapshot_log import entries, head

FORMAT = "absence-monitor evidence bundle"


@dataclass(frozen=True, slots=True)
class Exported:
    """What ``export`` wrote."""

    path: Path
    size: int
    responses: int
    thumbnails: int
    entries: int


def seal(manifest: dict[str, Any]) -> str:
    """The SHA-256 of a manifest without its ``seal`` (canonical JSON)."""
    return hashlib.sha256(canonical({k: v for k, v in manifest.items() if k != "seal"})).hexdigest()


def export(
    sessions: sessionmaker[Session],
    alert_id: int,
    output: Path,
    *,
    thumbnail_dir: Path | None,
    vantage: str | None,
    now: datetime,
) -> Exported:
    """Write the bundle of ``alert_id`` to ``output`` (a ``.zip``); raises ``MonitorError``
    for an unknown alert or a missing output directory."""
    if not output.parent.is_dir():
        raise MonitorError(f"evidence export: directory {output.parent} does not exist")
    with sessions() as session:
        case = case_of(session, alert_id)
        if case is None:
            raise MonitorError(f"no alert #{alert_id} (see `absence-monitor alerts list`)")
        history = history_rows(session, case.person, case.source, 0) if case.person else []
        log = entries(session, [r.snapshot_id for r in case.responses])
        log_head = head(session)
    images = [(i, data) for i in case.images if (data := _read(thumbnail_dir, i)) is not None]
    files = {
        "README.txt": README.encode(),
        "alert.json": _json(dict(upgrade(case.payload))),
        "evidence.warc.gz": write_warc(case.responses, images),
        "history.csv": _csv(HISTORY_FIELDS, history),
        "vanished.csv": _csv(VANISHED_FIELDS, _vanished(case, images)),
    }
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()
    ).encode()
    manifest = _manifest(case, files, images, log, log_head, vantage, now)
    files["manifest.json"] = _json(manifest)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(zipfile.ZipInfo(name, now.timetuple()[:6]), data, zipfile.ZIP_DEFLATED)
    return Exported(output, output.stat().st_size, len(case.responses), len(images), len(log))


def _manifest(
    case: Case,
    files: dict[str, bytes],
    images: list[tuple[KeptImage, bytes]],
    log: list[dict[str, Any]],
    log_head: tuple[int, str],
    vantage: str | None,
    now: datetime,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "tool": {"name": "absence-monitor", "version": __version__},
        "exported_at": iso_utc(now),
        "alert_id": case.alert_id,
        "alerts": case.alerts,
        "person": case.person,
        "source": case.source,
        "vantage": vantage
        or "none configured (the network location these answers came from was not recorded)",
        "files": [
            {"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d), "what": WHAT[n]}
            for n, d in files.items()
        ],
        "responses": [
            {
                "snapshot_id": r.snapshot_id,
                "role": r.role,
                "term": r.term,
                "url": r.final_url,
                "fetched_at": iso_utc(r.finished_at),
                "http_status": r.http_status,
                "content_type": r.content_type,
                "sha256": r.sha256,
            }
            for r in case.responses
        ],
        "thumbnails": [
            {
                "image_url": i.image_url,
                "thumb_url": i.thumb_url,
                "fetched_at": iso_utc(i.fetched_at),
                "content_type": i.content_type,
                "sha256": i.sha256,
            }
            for i, _ in images
        ],
        "archived": case.archived,
        "snapshot_log": {
            "rule": "link = sha256(previous link + '\\n' + entry as compact JSON, keys sorted)",
            "entries": log,
            "head_at_export": {"seq": log_head[0], "link": log_head[1]},
        },
    }
    manifest["seal"] = seal(manifest)
    return manifest


def _read(directory: Path | None, image: KeptImage) -> bytes | None:
    """A kept thumbnail's bytes, if its file is still there and still the same."""
    if directory is None:
        return None
    try:
        data = (directory / image.path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == image.sha256 else None


def _vanished(case: Case, images: list[tuple[KeptImage, bytes]]) -> list[dict[str, Any]]:
    kept = {i.image_url: i.sha256 for i, _ in images}
    return [
        {
            **{k: v.get(k) for k in VANISHED_FIELDS},
            "still_seen_on": "; ".join(v.get("still_seen_on") or []),
            "terms": "; ".join(v.get("terms") or []),
            "thumbnail_sha256": kept.get(str(v.get("image_url"))),
        }
        for v in case.vanished
    ]


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode()


def _csv(fields: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
