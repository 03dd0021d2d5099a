"""Everything a check derives from one response, as one pure call that never raises.

``parse_page(source, response, page)`` runs the source's parser and bounds what it found;
``explain(source, response)`` asks the source to read a 4xx body. Both return a ``Parsed``:
either a ``PageResult`` (with ``notes`` on what was dropped) or a failed status and its
reason. They run wherever the caller puts them (a worker of ``check.pool`` in production,
inline in unit tests), so they hold every step a hostile page could blow up: the parse,
URL normalisation, domains, totals, the item count. Log lines travel back in ``logs`` for
the caller to emit, because a worker process has no log configuration of its own.

The bounds (``_bounded``):

- an item whose image URL does not parse (bad port, unbalanced bracket) is skipped and
  counted in a note; when every item of a page is skipped, the page is a ``parse_error``;
- a reported total outside ``0 .. MAX_TOTAL`` (2**53, what a JSON reader and the database
  both hold exactly) is dropped to ``None`` with a note;
- a page of more than ``MAX_ITEMS`` items is ``parse_error`` "too complex": no engine
  lists that many on one page, and every item costs the round a URL normalisation and a
  row.

What hostile input does to a parser (deep nesting, huge integers, bad URLs, NUL bytes) is
named as such and logged at warning without a traceback (``core.errors.hostile_input``);
any other exception is a bug in the parser: ``parse_error`` naming it, logged with its
traceback. A ``MemoryError`` (or lxml's error for a failed allocation) means the page is
over its memory budget: ``parse_error`` "too complex".
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import socket
import struct
import traceback
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

import httpx

from monitor.core.errors import (
    Blocked,
    Misconfigured,
    ParseError,
    SessionExpired,
    hostile_input,
)
from monitor.core.logs import clip
from monitor.core.observation import ImageItem, PageResult, Status
from monitor.sources.base import Source
from monitor.sources.tree import out_of_memory

# The largest reported total kept: exact in a float, a JSON reader and a 64-bit column.
MAX_TOTAL = 2**53
# The most items one page may list (engines list 20-250; a page with more is hostile).
MAX_ITEMS = 10_000
# The reason every over-budget page carries, whichever budget it exceeded.
TOO_COMPLEX = "too complex"

# The header of a message between the pool and a worker: the pickle's length, then the
# length of the raw bytes that follow it (a task's body, sent as is: never copied into
# the pickle, so a queue of big bodies costs no second copy of each).
FRAME = struct.Struct("!QQ")
READY = b"R"  # what a worker sends once, when its imports are done

# (level, message, exception to log with its traceback, or None)
LogLine = tuple[int, str, BaseException | None]


class RemoteBug(Exception):
    """A parser's exception as a worker saw it: its formatted traceback, as text, so the
    main process logs the same traceback (live tracebacks do not cross processes)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of ``parse_page`` or ``explain``.

    ``result`` is set on success; otherwise ``status`` and ``reason`` say why not. For
    ``explain``, neither set means the source could not tell.
    """

    result: PageResult | None = None
    status: Status | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    logs: tuple[LogLine, ...] = ()
    expired: bool = False  # ``blocked`` because the engine refused our session

    def portable(self) -> Parsed:
        """This outcome with exceptions turned into ``RemoteBug`` (for a worker's reply)."""
        if not any(exc is not None for _, _, exc in self.logs):
            return self
        logs = tuple(
            (
                level,
                msg,
                None if exc is None else RemoteBug("".join(traceback.format_exception(exc))),
            )
            for level, msg, exc in self.logs
        )
        return Parsed(self.result, self.status, self.reason, self.notes, logs, self.expired)


@dataclass(frozen=True, slots=True)
class Task:
    """One response to read: the source as a pickled ``(class, name, options)`` spec, the
    response's parts, what to do with it (``page`` >= 0: parse it; -1: explain a 4xx) and
    the budgets."""

    spec: bytes
    status_code: int
    headers: list[tuple[bytes, bytes]]
    content: bytes
    encoding: str
    method: str | None
    url: str | None
    page: int
    cpu_seconds: float
    memory_bytes: int

    @classmethod
    def of(cls, spec: bytes, source: Source, response: httpx.Response, page: int) -> Task:
        """The task for ``response`` of ``source`` (pickled as ``spec``), with its budgets."""
        method: str | None = None
        url: str | None = None
        with suppress(RuntimeError):  # a response built by hand has no request
            method, url = response.request.method, str(response.request.url)
        options = source.options
        return cls(
            spec,
            response.status_code,
            list(response.headers.raw),
            response.content,
            response.encoding or "utf-8",
            method,
            url,
            page,
            options.parse_cpu.total_seconds(),
            options.parse_memory,
        )


def send_frame(sock: socket.socket, message: object, body: bytes = b"") -> None:
    """Write ``message`` and ``body`` to a blocking socket (``FRAME``, pickle, body)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(FRAME.pack(len(data), len(body)) + data)
    if body:
        sock.sendall(body)


def recv_frame(sock: socket.socket) -> tuple[object, bytes]:
    """Read one ``send_frame`` message and its body; ``EOFError`` when the pipe closed."""
    size, body = FRAME.unpack(_exactly(sock, FRAME.size))
    message = pickle.loads(_exactly(sock, size))  # noqa: S301 - our own process wrote it
    return message, _exactly(sock, body)


def _exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError("the other end closed the pipe")
        got += n
    return bytes(buffer)


def _remote(exc: BaseException | None) -> BaseException | None:
    return None if exc is None else RemoteBug("".join(traceback.format_exception(exc)))


class Parser(Protocol):
    """Reads responses for ``run_check``; never raises (see ``check.page``)."""

    def prepare(self, kinds: Iterable[str]) -> None:
        """Get ready to read responses of sources of ``kinds`` (a round is starting)."""

    async def ready(self) -> None:
        """Return when a response fetched now would not queue long for parsing."""

    async def parse(self, source: Source, response: httpx.Response, page: int) -> Parsed: ...

    async def explain(self, source: Source, response: httpx.Response) -> Parsed: ...


class InlineParser:
    """Parses on the calling thread, without budgets (unit tests of checks and sources)."""

    def prepare(self, kinds: Iterable[str]) -> None:
        return None

    async def ready(self) -> None:
        return None

    async def parse(self, source: Source, response: httpx.Response, page: int) -> Parsed:
        return parse_page(source, response, page)

    async def explain(self, source: Source, response: httpx.Response) -> Parsed:
        return explain(source, response)


def too_complex(why: str) -> Parsed:
    """A page over one of its budgets: ``parse_error`` "too complex (``why``)"."""
    return Parsed(status=Status.PARSE_ERROR, reason=f"{TOO_COMPLEX} ({why})")


def parse_page(source: Source, response: httpx.Response, page: int) -> Parsed:
    """Parse ``response`` (page ``page``) with ``source`` and bound the result; never raises."""
    notes: list[str] = []
    try:
        parsed = _bounded(source.parse(response, page), notes)
        _check_consistent(parsed, page)
    except SessionExpired as exc:  # a renewed session may help: the check asks again
        return Parsed(status=Status.BLOCKED, reason=exc.reason, expired=True)
    except Blocked as exc:
        return Parsed(status=Status.BLOCKED, reason=exc.reason)
    except Misconfigured as exc:
        return Parsed(status=Status.CONFIG_ERROR, reason=exc.reason)
    except ParseError as exc:
        return Parsed(status=Status.PARSE_ERROR, reason=exc.reason)
    except Exception as exc:
        if out_of_memory(exc):  # libxml2 names a failed allocation its own way
            return too_complex("over its memory budget")
        reason, log = bug("parse", exc, source)
        return Parsed(status=Status.PARSE_ERROR, reason=reason, logs=(log,))
    return Parsed(result=parsed, notes=tuple(notes))


def explain(source: Source, response: httpx.Response) -> Parsed:
    """The source's reading of a 4xx body: ``config_error``, ``blocked``, or nothing.

    A bug in the source is logged and reads as nothing: it must not hide the fetcher's
    verdict on the answer.
    """
    try:
        source.explain_refusal(response)
    except Misconfigured as exc:
        return Parsed(status=Status.CONFIG_ERROR, reason=exc.reason)
    except Blocked as exc:
        return Parsed(status=Status.BLOCKED, reason=exc.reason)
    except Exception as exc:
        if out_of_memory(exc):
            return Parsed()
        log = (logging.ERROR, f"bug in {source.describe()}.explain_refusal", exc)
        return Parsed(logs=(log,))
    return Parsed()


def _bounded(parsed: PageResult, notes: list[str]) -> PageResult:
    """``parsed`` without items whose URL does not parse and with a total in range.

    What was dropped is appended to ``notes`` (it becomes the observation's reason).
    """
    if len(parsed.items) > MAX_ITEMS:
        raise ParseError(f"{TOO_COMPLEX} ({len(parsed.items)} items on one page, over {MAX_ITEMS})")
    kept: list[ImageItem] = []
    skipped = 0
    for item in parsed.items:
        try:
            item.key  # noqa: B018 - normalising is the check that the URL parses
            item.with_domain()
        except (ValueError, TypeError):
            skipped += 1
            continue
        kept.append(item)
    if skipped:
        notes.append(f"skipped {skipped} item(s) with an unparseable URL")
    total = parsed.reported_total
    if total is not None and not 0 <= total <= MAX_TOTAL:
        side = "negative" if total < 0 else "above 2^53"
        notes.append(f"reported total {side}, dropped")
        total = None
    if parsed.items and not kept:
        raise ParseError(f"all {skipped} item(s) on the page have an unparseable URL")
    if skipped == 0 and total == parsed.reported_total:
        return parsed
    return dataclasses.replace(parsed, items=tuple(kept), reported_total=total)


def _check_consistent(parsed: PageResult, page: int) -> None:
    """Refuse page results that would let a count slip through as something else."""
    if parsed.no_results and parsed.items:
        raise ParseError(f"parser said no results but returned {len(parsed.items)} items")
    if page == 0 and not parsed.items and not parsed.no_results:
        raise ParseError("no items found and no recognised no-results answer")


def bug(where: str, exc: Exception, source: Source) -> tuple[str, LogLine]:
    """A short reason for a source's unexpected exception, and the line to log it with.

    An input problem (``core.errors.hostile_input``) is a warning without a traceback;
    anything else is a bug in the source, logged with its traceback.
    """
    named = hostile_input(exc)
    if named is not None:
        return f"{where}: {named}", (logging.WARNING, f"{source.describe()}.{where}: {named}", None)
    reason = f"{where} raised {type(exc).__name__}: {exc}"[:300]
    return reason, (logging.ERROR, f"bug in {source.describe()}.{where}: {clip(exc)}", exc)
