"""One check: one term on one source, through the shared fetcher, into one ``Observation``.

``run_check`` warms the source up (once per fetcher, again when the session is older than
the source's ``session_max_age``), then reads result pages ``0 .. max_pages-1`` until a
page says there is no more, and returns an ``Observation``. A page whose parser says the
session was refused (``SessionExpired``) is asked again with a renewed session: one renewal
sent per check, ``MAX_ASKS`` asks per page, then ``blocked`` (``fetch.warmup`` tells how
checks share renewals and rest them when they are futile).
It never raises for what an engine or a parser does: every failure becomes a failed
status with a reason. The caller reads its clock before and after if it needs times.
``pages`` counts the pages requested, a failing one included. ``elapsed_ms`` is the time
the check spent on the engine (requests, retries, parsing), not the time it queued
behind other checks for the host's politeness slots.

The rules that keep "the engine shows nothing" apart from "we could not tell":

- ``no_results`` only when the parser positively recognised an empty answer on page 0;
- a page 0 with no items and no such recognition is a ``parse_error``;
- a failure on any page fails the whole check (see ``_failed``);
- what a response yields is read by a ``Parser`` (``check.pool``: worker processes with a
  CPU-time and memory budget per response, so a hostile page is ``parse_error`` "too
  complex" and never stalls the event loop); everything derived from the response is
  computed and bounded there (``check.page``): parser exceptions become failed statuses
  with a reason naming the problem (hostile input named as such, without a traceback),
  unparseable URLs are skipped and counted, totals out of range dropped. One hostile value
  never takes down the round.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from monitor.check.page import MAX_TOTAL, TOO_COMPLEX, InlineParser, Parsed, Parser, bug
from monitor.core.masking import mask_headers, mask_url
from monitor.core.observation import ImageItem, Observation, PageResult, Status
from monitor.fetch.policy import FetchPolicy, FetchResult
from monitor.sources.base import Source

if TYPE_CHECKING:
    from monitor.check.pool import ParsePool, shared_pool
    from monitor.fetch.client import Fetcher

__all__ = [
    "MAX_ASKS",
    "MAX_TOTAL",
    "TOO_COMPLEX",
    "InlineParser",
    "ParsePool",
    "Parsed",
    "Parser",
    "run_check",
    "shared_pool",
]

logger = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """``ParsePool`` and ``shared_pool``, imported on first use: a parse worker imports
    this package (its modules live here) and needs neither asyncio nor subprocess."""
    if name in ("ParsePool", "shared_pool"):
        from monitor.check import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_INLINE = InlineParser()

# How often one page is asked when the engine keeps refusing the session (Baidu's antiFlag):
# the first time, and again with sessions renewed meanwhile (by this check or another).
MAX_ASKS = 4


@dataclass(frozen=True, slots=True)
class _Asked:
    """One page asked: the fetch's result and what the parser made of the body."""

    result: FetchResult
    parsed: Parsed | None = None


async def run_check(
    source: Source,
    term: str,
    fetcher: Fetcher,
    *,
    policy: FetchPolicy | None = None,
    parser: Parser = _INLINE,
    monotonic: Callable[[], float] = time.monotonic,
) -> Observation:
    """Check ``term`` on ``source``; see the module docstring for the status rules.

    ``policy`` defaults to ``FetchPolicy.from_options(source.options)``; pass one built
    once per source to spare ~1000 checks a round the rebuilding. ``parser`` defaults to
    parsing inline, without budgets (unit tests); rounds pass the pool.
    """
    started = monotonic()
    policy = policy or FetchPolicy.from_options(source.options)
    waited = 0.0
    items: list[ImageItem] = []
    reported_total: int | None = None
    no_results = False
    response: httpx.Response | None = None
    pages = 0
    notes: list[str] = []

    def elapsed_ms() -> int:
        return max(0, round((monotonic() - started - waited) * 1000))

    def failed(status: Status, reason: str, http_status: int | None) -> Observation:
        return _failed(status, reason, http_status, pages, elapsed_ms(), response)

    try:
        warmup = source.warmup_request()
        max_age = source.session_max_age()
    except Exception as exc:
        return failed(Status.PARSE_ERROR, _bug("warmup_request", exc, source), None)
    age = max_age.total_seconds() if max_age is not None else None
    await fetcher.warm_up(source.name, warmup, policy, age)
    renewed = False  # this check sent a renewal of its own: it gets no second one

    previous: PageResult | None = None  # the page before, for engines that say where next

    async def ask(page: int) -> _Asked:
        nonlocal waited, pages, response
        if previous is None:
            request = source.build_request(term, page)
        else:
            request = source.next_request(term, page, previous)
        # Parsing lags behind: fetch no body it would only hold. Asked once the host's slot
        # is held (a check queued for its host's slot has passed no gate yet).
        result = await fetcher.fetch(request, policy, gate=parser.ready)
        waited += result.waited
        pages += 1
        # Evidence is the response that decided the outcome; after a network error there
        # is none, and an earlier page's body would mislead whoever reads the evidence.
        response = result.response
        if result.status is not None or response is None:
            return _Asked(result)
        return _Asked(result, _logged(await parser.parse(source, response, page)))

    page = 0
    while page < source.options.max_pages:
        try:
            # A refused session (Baidu's antiFlag): asked again with a renewed one, see
            # fetch.warmup for how checks share renewals; one renewal sent per check.
            asked, renewed = await fetcher.warmups.ask_renewing(
                source.name,
                source.warmup_request,
                policy,
                lambda: ask(page),  # noqa: B023 - awaited within this iteration
                lambda a: a.parsed is not None and a.parsed.expired,
                renewed=renewed,
                max_asks=MAX_ASKS,
            )
        except Exception as exc:
            return failed(Status.PARSE_ERROR, _bug("build_request", exc, source), None)
        result = asked.result
        if result.status is not None:
            status, reason = await _explained(
                source, parser, result.status, result.reason, response
            )
            return failed(status, reason, result.http_status)
        assert response is not None and asked.parsed is not None  # a successful fetch
        outcome, parsed = asked.parsed, asked.parsed.result
        if parsed is None:
            assert outcome.status is not None and outcome.reason is not None
            reason = outcome.reason
            if outcome.expired:
                why = (
                    "refused again after a fresh warm-up"
                    if renewed
                    else "not renewed: refused lately"
                )
                reason = f"{reason} ({why})"
            return failed(outcome.status, reason, response.status_code)
        notes.extend(outcome.notes)
        items.extend(parsed.items)
        if page == 0:
            reported_total = parsed.reported_total
            no_results = parsed.no_results
        if not parsed.has_more or not parsed.items:
            break
        previous = parsed
        page += 1

    assert response is not None
    return Observation(
        status=Status.NO_RESULTS if no_results else Status.OK,
        reason="; ".join(notes)[:300] or None,
        items=items,
        reported_total=reported_total,
        http_status=response.status_code,
        pages=pages,
        elapsed_ms=elapsed_ms(),
        **_evidence(response),
    )


async def _explained(
    source: Source,
    parser: Parser,
    status: Status,
    reason: str | None,
    response: httpx.Response | None,
) -> tuple[Status, str]:
    """The fetcher's verdict on an error answer, or the source's reading of its body.

    Only 4xx answers are asked about: a 5xx or a network failure says nothing about our
    configuration. A source that cannot tell keeps the fetcher's status and reason.
    """
    reason = reason or str(status)
    if response is None or not 400 <= response.status_code < 500:
        return status, reason
    told = _logged(await parser.explain(source, response))
    if told.status is not None and told.reason is not None:
        return told.status, told.reason
    return status, reason


def _logged(outcome: Parsed) -> Parsed:
    """``outcome``, its log lines emitted here (a worker has no log configuration)."""
    for level, message, exc in outcome.logs:
        logger.log(level, "%s", message, exc_info=exc)
    return outcome


def _failed(
    status: Status,
    reason: str,
    http_status: int | None,
    pages: int,
    elapsed_ms: int,
    response: httpx.Response | None,
) -> Observation:
    """A failed check: no items and no total, whatever earlier pages found.

    Why all or nothing: the stored figure is "distinct images on the first N pages". If
    page 2 fails and we stored page 1's images as the count, the series would drop by a
    page's worth of images for a reason that has nothing to do with the engine removing
    anything — exactly the false "images disappeared" signal the monitor exists to avoid.
    The last response is kept as evidence of what went wrong.
    """
    return Observation(
        status=status,
        reason=reason,
        http_status=http_status,
        pages=pages,
        elapsed_ms=elapsed_ms,
        **_evidence(response),
    )


def _evidence(response: httpx.Response | None) -> dict[str, Any]:
    """The ``raw*`` fields of an observation: the body, its type, where it came from and the
    request as sent, secrets masked (what the evidence store keeps)."""
    if response is None:
        return {}
    out: dict[str, Any] = {
        "raw": response.content,
        "raw_content_type": response.headers.get("content-type"),
    }
    try:
        request = response.request
    except RuntimeError:  # a response built by hand (a test's), not one the fetcher read
        return out
    sent = {
        "method": request.method,
        "url": mask_url(str(request.url)),
        "headers": mask_headers(request.headers.multi_items()),
    }
    out["raw_url"] = mask_url(str(response.url))
    out["raw_request"] = json.dumps(sent, ensure_ascii=False)
    return out


def _bug(where: str, exc: Exception, source: Source) -> str:
    """Log a source's unexpected exception (``check.page.bug``) and return its reason."""
    reason, (level, message, logged) = bug(where, exc, source)
    logger.log(level, "%s", message, exc_info=logged)
    return reason
