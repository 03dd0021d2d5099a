"""``evidence verify``: check a bundle (``monitor.evidence.bundle``) file by file.

In order, the first problem first: the manifest is there, is JSON and matches its seal;
every file it lists is in the zip, readable, with its SHA-256; nothing else is in the zip;
each snapshot-log entry gives its link and follows the entry before it when both are there;
each response in the WARC has the SHA-256 the manifest and its log entry name.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from monitor.core.errors import MonitorError
from monitor.core.loghash import link
from monitor.evidence.bundle import seal
from monitor.evidence.warc import response_digests

MANIFEST = "manifest.json"


def verify_bundle(path: Path) -> list[str]:
    """What does not match in the bundle at ``path`` (empty: everything does); raises
    ``MonitorError`` when it is not a zip at all."""
    try:
        bundle = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise MonitorError(f"evidence verify: {path} does not exist") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise MonitorError(f"evidence verify: {path} is not a zip file ({exc})") from None
    with bundle:
        manifest, problems = _manifest(bundle)
        if manifest is None:
            return problems
        contents = _files(bundle, manifest, problems)
        _entries(manifest, problems)
        warc = contents.get("evidence.warc.gz")
        if warc is not None:
            _responses(manifest, warc, problems)
    return problems


def _read(bundle: zipfile.ZipFile, name: str) -> bytes | str:
    """The bytes of ``name``, or what is wrong with it."""
    try:
        return bundle.read(name)
    except KeyError:
        return "missing from the bundle"
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"damaged ({exc})"


def _manifest(bundle: zipfile.ZipFile) -> tuple[dict[str, Any] | None, list[str]]:
    data = _read(bundle, MANIFEST)
    if isinstance(data, str):
        return None, [f"{MANIFEST}: {data}"]
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None, [f"{MANIFEST}: not valid JSON (damaged or edited)"]
    if not isinstance(manifest, dict) or manifest.get("seal") != seal(manifest):
        return None, [f"{MANIFEST}: its contents do not match its seal (edited or damaged)"]
    return manifest, []


def _files(
    bundle: zipfile.ZipFile, manifest: dict[str, Any], problems: list[str]
) -> dict[str, bytes]:
    import hashlib

    contents: dict[str, bytes] = {}
    listed = {MANIFEST}
    for f in manifest.get("files") or []:
        name = str(f.get("name"))
        listed.add(name)
        data = _read(bundle, name)
        if isinstance(data, str):
            problems.append(f"{name}: {data}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != f.get("sha256"):
            problems.append(
                f"{name}: SHA-256 {digest[:16]}… does not match the manifest's "
                f"{str(f.get('sha256'))[:16]}…"
            )
            continue
        contents[name] = data
    for name in bundle.namelist():
        if name not in listed:
            problems.append(f"{name}: not listed in the manifest")
    return contents


def _entries(manifest: dict[str, Any], problems: list[str]) -> None:
    log = (manifest.get("snapshot_log") or {}).get("entries") or []
    by_seq = {e.get("seq"): e for e in log}
    for e in log:
        what = f"snapshot-log entry {e.get('seq')} (snapshot {e.get('snapshot_id')})"
        if link(str(e.get("previous")), e.get("entry") or {}) != e.get("link"):
            problems.append(f"{what}: its fields do not give its link")
        before = by_seq.get((e.get("seq") or 0) - 1)
        if before is not None and before.get("link") != e.get("previous"):
            problems.append(f"{what}: does not follow entry {before.get('seq')}")


def _responses(manifest: dict[str, Any], warc: bytes, problems: list[str]) -> None:
    try:
        found = response_digests(warc)
    except Exception as exc:  # warcio raises plain exceptions for a damaged archive
        problems.append(f"evidence.warc.gz: not a readable WARC ({type(exc).__name__})")
        return
    logged = {
        e.get("snapshot_id"): (e.get("entry") or {}).get("body_sha256")
        for e in (manifest.get("snapshot_log") or {}).get("entries") or []
    }
    for r in manifest.get("responses") or []:
        snapshot = r.get("snapshot_id")
        actual = found.get(snapshot)
        if actual is None:
            problems.append(f"evidence.warc.gz: no response of snapshot {snapshot}")
        elif actual != r.get("sha256") or (snapshot in logged and logged[snapshot] != actual):
            problems.append(
                f"evidence.warc.gz: the response of snapshot {snapshot} hashes to "
                f"{actual[:16]}…, its log entry names {str(logged.get(snapshot))[:16]}…"
            )
