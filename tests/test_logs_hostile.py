"""Hostile text in log lines (issue 14, item 0): the masker is linear with the same results as
before, scraped text is clipped, and a webhook's URL token never shows in ``-vv`` lines.

How fast ``mask`` is on 5k-40k characters is measured by ``bench/masking.py``, not here.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from monitor.alerts.payload import Message, build_payload
from monitor.channels.webhook import WebhookChannel
from monitor.core import logs, masking
from monitor.core.logs import SCRAPED_MAX, clip
from monitor.fetch.client import Fetcher, FetchPolicy
from monitor.testing import LocalServer, Reply

# The masker as it was before it was made linear: the oracle for "identical results".
_OLD_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.IGNORECASE
)


def old_mask(text: str, also: Iterable[str] = ()) -> str:
    for secret in sorted({*masking._secrets, *(s for s in also if s)}, key=len, reverse=True):
        text = text.replace(secret, masking.MASK)
    text = _OLD_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{masking.MASK}@", text)
    return masking._QUERY_SECRET.sub(lambda m: f"{m['k']}{masking.MASK}", text)


def test_mask_gives_the_same_results_as_the_quadratic_masker_on_random_texts() -> None:
    rng = random.Random(14)
    pieces = ["a", "Z", "1", "+", ".", "-", ":", "/", "//", "@", " ", "?", "&", "=", "#"]
    pieces += ["http", "://", "token=", "key=", "u:pw@", "s3cret", "图"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 25)))
        assert masking.mask(text, also=["s3cret"]) == old_mask(text, also=["s3cret"]), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1http://u:pw@h/x", "1http://u:***@h/x"),  # digits before the scheme stay
        ("x.9git+ssh://me:pw@h", "x.9git+ssh://me:***@h"),
        ("aaaa" * 10_000 + "https://u:pw@h", "aaaa" * 10_000 + "https://u:***@h"),
        ("a1" * 5_000 + " https://u:pw@h", "a1" * 5_000 + " https://u:***@h"),
    ],
)
def test_mask_hides_a_url_password_after_any_prefix(text: str, expected: str) -> None:
    assert masking.mask(text) == expected


def test_clip_keeps_short_text_and_cuts_long_text_with_its_length() -> None:
    assert clip("short") == "short"
    cut = clip("x" * 40_000)
    assert cut == "x" * SCRAPED_MAX + "… (40,000 chars)"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger set up as the CLI does with ``-vv``, writing into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {n: logging.getLogger(n).level for n in ("httpx", "apscheduler")}
    buffer = io.StringIO()
    stderr, sys.stderr = sys.stderr, buffer
    try:
        logs.setup(verbose=2)
    finally:
        sys.stderr = stderr
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_a_failed_fetch_of_a_long_scraped_url_is_logged_clipped(captured: io.StringIO) -> None:
    url = "https://img.example/" + "p" * 40_000
    transport = httpx.MockTransport(lambda request: httpx.Response(404))

    async def go() -> None:
        async with Fetcher(transport=transport) as fetcher:
            policy = FetchPolicy(interval=0, concurrency=1, timeout=5, retries=0)
            result = await fetcher.fetch(httpx.Request("GET", url), policy)
            assert not result.ok

    asyncio.run(go())
    lines = captured.getvalue().splitlines()
    assert lines
    assert all(len(line) < 700 for line in lines), max(map(len, lines))
    assert any("(40,020 chars)" in line for line in lines)  # our line and httpx's


def test_a_webhook_url_token_never_shows_in_vv_http_log_lines(captured: io.StringIO) -> None:
    tokens = ("T0AB12CD3", "B0CD34EF5", "q8Xv2LmN4pR7sT1uW9yZ3aB6")
    with LocalServer(lambda req: Reply(200, b"ok", "text/plain")) as server:
        hook = WebhookChannel(url=f"{server.url}/services/{'/'.join(tokens)}", name="chat")
        payload = build_payload(
            event="test", alert_id=0, checked_at=datetime(2026, 1, 1, tzinfo=UTC), reason="t"
        )
        asyncio.run(hook.send(Message("d-1", [payload], hook.name)))
        assert [r.path for r in server.requests] == [f"/services/{'/'.join(tokens)}"]
    text = captured.getvalue()
    assert "HTTP Request: POST" in text  # httpx did log the request
    assert "httpcore" in text  # and so did httpcore, at -vv
    for token in tokens:
        assert token not in text
