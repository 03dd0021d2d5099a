"""What the backtest replays: observation records from JSON Lines or from the database.

Both readers yield, in time order, either a ``Record`` (one check, ready for the detector)
or a ``BadInput`` (what is wrong and where: ``input.jsonl:17: unknown status "captcha"``);
the caller decides whether a bad record stops the run (``--strict``) or is skipped.

JSON Lines, one check per line (blank lines are ignored; unknown keys too, so newer files
still read)::

    {"t": "2024-05-01T06:00:00+08:00", "person": "...", "term": "...", "source": "baidu",
     "vantage": "default", "status": "ok", "count": 87, "reported_total": 41200,
     "domains": 31, "images": ["https://..."], "role": "watch"}

- ``t`` is ISO 8601 *with* a zone; ``status`` is one of ``monitor.core.observation.Status``;
  ``count`` (distinct images) is an integer for ``ok`` and 0 for ``no_results``, and
  null or absent for a failed check, like ``domains`` and ``images``; ``role`` is
  ``watch`` (default) or ``control``; a missing ``vantage`` is the config's vantage.
- Time must not go backwards, across the whole file, not just per series: the detector
  groups checks into rounds by time and judges a round's controls with its people, so a
  late line cannot be slotted in afterwards. Sort merged files by ``t`` first.
- Input may be gzip-compressed (recognised by its magic bytes, whatever its name).

``monitor.backtest.from_db`` reads the database's snapshots as the same records.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from monitor.core.clock import iso_utc
from monitor.core.observation import OBSERVATION_STATUSES, Status
from monitor.detector.points import Point, Role, SeriesKey

logger = logging.getLogger(__name__)

STATUSES: dict[str, Status] = {s.value: s for s in Status}
REQUIRED = ("t", "person", "term", "source", "status")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Record:
    """One check to replay; ``images`` are its image URLs when the input gave them."""

    where: str
    key: SeriesKey
    role: Role
    point: Point
    images: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class BadInput:
    """A record that cannot be replayed: where it is and what is wrong with it."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


class _Bad(ValueError):
    """Raised by the field checks; becomes a ``BadInput``."""


def show(value: Any) -> str:
    """A value as it appears in JSON, cut short for messages."""
    return json.dumps(value, ensure_ascii=False)[:80]


def _natural(value: Any) -> bool:
    return type(value) is int and value >= 0  # not isinstance: JSON true is no count


def _counts(obj: dict[str, Any], status: Status) -> tuple[int | None, int | None]:
    """``count`` and ``domains`` of a record, checked against its status."""
    count, domains = obj.get("count"), obj.get("domains")
    if status not in OBSERVATION_STATUSES:
        for name, value in (("count", count), ("domains", domains)):
            if value is not None:
                raise _Bad(f'{name} given for a failed check (status "{status.value}")')
        return None, None
    for name, value in (("count", count), ("domains", domains)):
        # domains is optional: without it the domains rule does not run for this check
        if not _natural(value) and (value is not None or name == "count"):
            raise _Bad(
                f'status "{status.value}" needs {name} as an integer >= 0, got {show(value)}'
            )
    if status is Status.NO_RESULTS and (count or domains):
        raise _Bad(f'status "no_results" has count and domains 0, got {count} and {domains}')
    if domains is not None and domains > count:
        raise _Bad(f"more domains ({domains}) than images ({count})")
    return count, domains


def _required(obj: dict[str, Any]) -> None:
    """Raise for the first required field that is missing or not a non-empty string."""
    for name in REQUIRED:
        value = obj.get(name)
        if value is None:
            raise _Bad(f"missing {name}")
        if type(value) is not str or not value:
            raise _Bad(f"{name} must be a non-empty string, got {show(value)}")


def parse_record(obj: Any, where: str, default_vantage: str) -> Record:
    """One decoded JSON value as a ``Record``; raises ``ValueError`` saying what is wrong."""
    # The hot path of a backtest (once per line): plain lookups first, messages only on error.
    if type(obj) is not dict:
        raise _Bad("not a JSON object")
    get = obj.get
    fields: list[Any] = [get(k) for k in REQUIRED]
    text, person, term, source, status_text = fields
    if not (
        type(text) is str
        and type(person) is str
        and type(term) is str
        and type(source) is str
        and type(status_text) is str
        and text
        and person
        and term
        and source
    ):
        _required(obj)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(f"t is not an ISO 8601 time: {show(text)}") from None
    if t.tzinfo is None:
        raise _Bad(f"t has no time zone: {show(text)} (add Z or +08:00)")
    status = STATUSES.get(status_text)
    if status is None:
        raise _Bad(f"unknown status {show(status_text)} (one of {', '.join(STATUSES)})")
    count, domains = _counts(obj, status)
    total = get("reported_total")
    if total is not None and not _natural(total):
        raise _Bad(f"reported_total must be an integer >= 0, got {show(total)}")
    role = get("role", "watch")
    if role != "watch" and role != "control":
        raise _Bad(f"unknown role {show(role)} (watch or control)")
    vantage = get("vantage") or default_vantage
    if type(vantage) is not str:
        raise _Bad(f"vantage must be a string, got {show(vantage)}")
    images = get("images")
    if images is not None:
        if type(images) is not list or not all(type(u) is str for u in images):
            raise _Bad("images must be a list of image URLs")
        if images and status is not Status.OK:
            raise _Bad(f'images given for status "{status.value}"')
        images = tuple(images)
    key = SeriesKey(person, term, source, vantage)
    return Record(where, key, role, Point(t, status, count, domains), images)


class JsonlReader:
    """Reads records from a JSON Lines file or ``-`` (stdin), gzip or not, in order.

    Counts what it saw: ``lines`` read, ``blank`` lines ignored, ``bad`` records reported.
    """

    def __init__(self, path: str, *, default_vantage: str) -> None:
        self.path = path
        self.name = "stdin" if path == "-" else path
        self.default_vantage = default_vantage
        self.lines = 0
        self.blank = 0
        self.bad = 0

    def open(self) -> IO[bytes]:
        """The input as bytes, decompressed when it starts with gzip's magic bytes.

        Raises ``OSError`` when the file cannot be read (the caller reports it).
        """
        # Closed by __iter__ (a context manager cannot span the generator's consumer).
        raw: IO[bytes] = sys.stdin.buffer
        if self.path != "-":
            raw = Path(self.path).open("rb")  # noqa: SIM115
        buffered = (
            raw
            if isinstance(raw, io.BufferedReader)
            else io.BufferedReader(cast(io.RawIOBase, raw))  # stdin in tests is a BytesIO
        )
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
        return buffered

    def __iter__(self) -> Iterator[Record | BadInput]:
        last_ts = float("-inf")
        last_t: datetime | None = None
        name, vantage = self.name, self.default_vantage
        decode = json.JSONDecoder().decode  # str in: no per-line encoding detection
        f = self.open()
        try:
            for n, line in enumerate(f, 1):
                self.lines = n
                if not line.strip():
                    self.blank += 1
                    continue
                where = f"{name}:{n}"
                try:
                    obj = decode(line.decode())
                except UnicodeDecodeError:
                    self.bad += 1
                    yield BadInput(where, "not UTF-8 text")
                    continue
                except ValueError as exc:
                    self.bad += 1
                    yield BadInput(where, f"not JSON: {exc}")
                    continue
                try:
                    record = parse_record(obj, where, vantage)
                except _Bad as exc:
                    self.bad += 1
                    yield BadInput(where, str(exc))
                    continue
                ts = record.point.t.timestamp()
                if ts < last_ts:
                    self.bad += 1
                    assert last_t is not None
                    yield BadInput(
                        where,
                        f"time goes backwards: {obj['t']} is before the previous record's "
                        f"{iso_utc(last_t)} (input must be sorted by t)",
                    )
                    continue
                last_ts, last_t = ts, record.point.t
                yield record
        finally:
            if self.path != "-":  # stdin belongs to the process, not to us
                f.close()
