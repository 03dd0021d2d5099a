"""SSRF: a thumbnail URL from a scraped page never makes the monitor fetch an internal address.

For loopback, a real listener on 127.0.0.1 proves that no connection arrived. For every other
address the test injects a resolver and an ``httpx.MockTransport`` that record what would have
been contacted: no test opens a socket to anything but 127.0.0.0/8 or [::1].
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from monitor.app import App
from monitor.core.observation import ImageItem
from monitor.fetch.client import Fetcher
from monitor.fetch.guard import AddressGuard, configured_hosts, internal_kind, literal_address
from monitor.store.models import Image
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.thumbnails import keep, make_app, photo, seed

PUBLIC = "93.184.216.34"
NAMES = {
    "cdn.example": [PUBLIC],
    "sneaky.example": ["127.0.0.1"],
    "intranet.example": ["10.1.2.3"],
    "home.example": ["192.168.1.10"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": [PUBLIC, "fd00::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
}


class Recorder:
    """An injected resolver that answers from ``NAMES`` and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in NAMES:
            raise OSError("Name or service not known")
        return NAMES[host]


def guard(allowed: set[str] | None = None) -> tuple[AddressGuard, Recorder, list[str]]:
    resolver, refusals = Recorder(), []
    g = AddressGuard(
        allowed or set(), resolver=resolver, on_refusal=lambda h, r: refusals.append(h)
    )
    return g, resolver, refusals


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/x.png", "loopback"),
        ("http://[::1]/x.png", "loopback"),
        ("http://0x7f000001/x.png", "loopback"),
        ("http://127.1/x.png", "loopback"),
        ("http://2130706433/x.png", "loopback"),
        ("http://10.0.0.5/x.png", "private"),
        ("http://192.168.0.1/x.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00::1]/x.png", "private"),
        ("http://[fe80::1]/x.png", "link-local"),
        ("http://224.0.0.1/x.png", "multicast"),
        ("http://0.0.0.0/x.png", "unspecified"),
        ("http://240.0.0.1/x.png", "reserved"),
        ("http://100.64.0.1/x.png", "non-global"),
        ("http://[::ffff:10.0.0.1]/x.png", "private"),
        ("http://sneaky.example/x.png", "loopback"),
        ("http://intranet.example/x.png", "private"),
        ("http://home.example/x.png", "private"),
        ("http://metadata.example/x.png", "link-local"),
        ("http://mixed.example/x.png", "private"),  # one internal answer is enough
        ("http://mapped.example/x.png", "loopback"),
    ],
)
async def test_internal_addresses_are_refused(url: str, kind: str) -> None:
    g, _, refusals = guard()
    reason = await g(httpx.URL(url))
    assert reason is not None and f"is a {kind} address" in reason
    assert len(refusals) == 1


async def test_public_hosts_and_configured_base_url_hosts_are_allowed() -> None:
    allowed = configured_hosts(["http://127.0.0.1:8080/x?q={query}", "http://localhost/"])
    assert allowed == {"127.0.0.1:8080", "localhost:80"}
    g, resolver, _ = guard(allowed)
    assert await g(httpx.URL("https://cdn.example/t.jpg")) is None
    assert await g(httpx.URL("http://127.0.0.1:8080/anything")) is None  # a configured origin
    assert await g(httpx.URL("http://localhost/x")) is None
    assert resolver.asked == ["cdn.example"]  # configured hosts are not even resolved
    # Another port on the same loopback address is another service: refused.
    assert "loopback" in (await g(httpx.URL("http://127.0.0.1:6379/")) or "")
    assert "does not resolve" in (await g(httpx.URL("http://nowhere.example/")) or "")
    assert "not http(s)" in (await g(httpx.URL("ftp://cdn.example/x")) or "")


def test_numeric_spellings_and_kinds() -> None:
    assert str(literal_address("0x7f000001")) == "127.0.0.1"
    assert literal_address("cdn.example") is None
    addr = literal_address(PUBLIC)
    assert addr is not None and internal_kind(addr) is None


def thumb_app(tmp_path: Path, *urls: str) -> tuple[App, list[Image]]:
    app = make_app(tmp_path)
    images = seed(
        app, "baidu", [ImageItem(f"https://img.test/full/{n}.jpg", u) for n, u in enumerate(urls)]
    )
    return app, images


async def test_a_loopback_thumbnail_is_never_fetched(tmp_path: Path) -> None:
    def handler(req: Request) -> Reply:
        return Reply(200, photo(1), "image/png")

    with LocalServer(handler) as server:
        port = server.url.rsplit(":", 1)[1]
        app, images = thumb_app(
            tmp_path,
            f"{server.url}/direct.png",
            f"http://localhost:{port}/by-name.png",
            f"http://0x7f000001:{port}/hex.png",
            f"http://sneaky.example:{port}/resolves-to-loopback.png",
        )
        g, _, refusals = guard()
        async with Fetcher() as fetcher:  # a real client: it would connect if asked to
            assert await keep(app, fetcher, images, guard=g) == 0
        assert server.requests == []  # nothing arrived at the listener
    assert sorted(refusals) == ["0x7f000001", "127.0.0.1", "localhost", "sneaky.example"]


async def test_redirects_to_internal_addresses_are_not_followed(tmp_path: Path) -> None:
    targets = {
        "/to-private": "http://10.0.0.5/secret.png",
        "/to-home": "http://192.168.1.1/router.png",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/iam",
        "/to-name": "http://sneaky.example/x.png",
        "/to-v6": "http://[::1]/x.png",
    }
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        location = targets.get(request.url.path)
        if location is not None:
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, content=photo(2), headers={"Content-Type": "image/png"})

    app, images = thumb_app(tmp_path, *(f"https://cdn.example{p}" for p in targets))
    g, _, refusals = guard()
    async with Fetcher(transport=httpx.MockTransport(handler)) as fetcher:
        assert await keep(app, fetcher, images, guard=g) == 0
    assert sorted(sent) == sorted(f"https://cdn.example{p}" for p in targets)  # first hops only
    assert len(refusals) == len(targets)


async def test_a_redirect_to_a_loopback_listener_never_reaches_it(tmp_path: Path) -> None:
    def secret(req: Request) -> Reply:
        return Reply(200, photo(3), "image/png")

    with LocalServer(secret) as inside:

        def hop(req: Request) -> Reply:
            return Reply(302, "", "text/plain", {"Location": f"{inside.url}/secret.png"})

        with LocalServer(hop) as outside:
            port = outside.url.rsplit(":", 1)[1]
            # The first hop's host is configured (``localhost``); the redirect's is not.
            app, images = thumb_app(tmp_path, f"http://localhost:{port}/t.png")
            g, _, refusals = guard({f"localhost:{port}"})
            async with Fetcher() as fetcher:
                assert await keep(app, fetcher, images, guard=g) == 0
            assert len(outside.requests) == 1
        assert inside.requests == []
    assert refusals == ["127.0.0.1"]


async def test_an_allowed_redirect_is_followed_and_kept(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(301, headers={"Location": "https://cdn.example/final.png"})
        return httpx.Response(200, content=photo(4), headers={"Content-Type": "image/png"})

    app, images = thumb_app(tmp_path, "https://cdn.example/moved")
    g, _, refusals = guard()
    async with Fetcher(transport=httpx.MockTransport(handler)) as fetcher:
        assert await keep(app, fetcher, images, guard=g) == 1
    assert refusals == []


async def test_refusals_are_counted_each_time_and_logged_once_per_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g, _, refusals = guard()
    with caplog.at_level(logging.WARNING, logger="monitor.fetch.guard"):
        for path in ("a", "b", "c"):
            assert await g(httpx.URL(f"http://10.0.0.5/{path}")) is not None
        assert await g(httpx.URL("http://192.168.0.1/x")) is not None
    assert refusals == ["10.0.0.5"] * 3 + ["192.168.0.1"]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and "10.0.0.5" in logged[0] and "192.168.0.1" in logged[1]
