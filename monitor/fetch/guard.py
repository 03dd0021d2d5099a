"""The address guard: a scraped URL never makes the monitor fetch an internal address.

Contract of ``AddressGuard(allowed_hosts, resolver=..., on_refusal=...)``, called as
``await guard(url)`` -> ``None`` (go) or the one-line reason it refused:

- a ``host:port`` in ``allowed_hosts`` (``configured_hosts``: those of the configured
  ``base_url``s, and of html/feed sources' ``url``: the demo's and the tests' engines on
  127.0.0.1) is allowed as it is;
- any other host is resolved (``resolver``: injectable; default the event loop's
  ``getaddrinfo``), and refused if *any* address it resolves to is loopback, private,
  link-local, multicast, reserved or unspecified (IPv4-mapped IPv6 judged as the IPv4 inside;
  numeric hosts such as ``0x7f000001`` or ``127.1`` judged as the address they spell), or if
  it does not resolve;
- the fetcher calls it before the first request and before following each redirect
  (``FetchPolicy.guard`` -> ``send_guarded``, which follows redirects one by one and drops
  credentials when one changes host); ``on_refusal(host, reason)`` counts each refusal
  (metrics), and the first refusal of a host is logged, later ones are not.

Each ``host:port``'s verdict (the checked addresses, or the refusal) is kept for ``ttl``
seconds (a round's thumbnails of one CDN are resolved once, not once each), at most
``max_hosts`` of them. That cache cannot open a door: the connection itself is checked too.
``send_guarded`` hands the guard to the transport (request extension ``GUARD``), and
``fetch.pools`` connects a guarded request only to the addresses the guard checked (pinned:
no second lookup that DNS rebinding could answer differently), and sends one on a kept-alive
connection only if that connection's peer address passes (``peer_allowed``). A refusal
at connection time (the name's verdict changed since the request's check) raises
``Refused``. Through a proxy the proxy resolves the name: only the check by name holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx

from monitor.core.logs import clip
from monitor.core.lru import LRU

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The request extension that carries the guard to the transport (``fetch.pools``).
GUARD = "monitor.address_guard"


class Refused(httpx.TransportError):
    """The transport refused a connection the address guard does not allow (the reason)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, if it is numeric in any form a resolver accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the legacy IPv4 spellings: 0x7f000001, 2130706433, 127.1, 0177.0.0.1
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def internal_kind(address: IPAddress) -> str | None:
    """Why ``address`` is internal (``loopback``, ``private``, ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), 192.0.0.0/24
        return "non-global"
    return None


_PORTS = {"http": 80, "https": 443}


def configured_hosts(urls: Iterable[str]) -> set[str]:
    """``host:port`` of the configured sources' URLs: the only internal origins fetched (the
    port counts: another service on the same loopback address is not the configured one)."""
    out = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname:
            out.add(f"{parts.hostname.lower()}:{parts.port or _PORTS.get(parts.scheme, 80)}")
    return out


class AddressGuard:
    """Refuses URLs whose host is, or resolves to, an internal address (module docstring).

    ``internal(address)`` says why an address is internal, or None (``internal_kind``;
    tests widen the public world to one loopback address with it)."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = (),
        *,
        resolver: Resolver = system_resolver,
        on_refusal: Callable[[str, str], None] | None = None,
        ttl: float = 60.0,
        max_hosts: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
        internal: Callable[[IPAddress], str | None] = internal_kind,
    ) -> None:
        self.allowed = frozenset(h.lower() for h in allowed_hosts)
        self.resolver = resolver
        self.on_refusal = on_refusal
        self.ttl = ttl
        self.internal = internal
        self._monotonic = monotonic
        self._verdicts: LRU[str, tuple[float, list[str] | str]] = LRU(max_hosts)
        self._logged: set[str] = set()

    async def __call__(self, url: httpx.URL) -> str | None:
        host = url.host.lower().strip("[]")
        if url.scheme not in ("http", "https"):
            return self._refuse(host, f"{url.scheme}: is not http(s)")
        verdict = await self.addresses(host, url.port or _PORTS[url.scheme])
        return verdict if isinstance(verdict, str) else None

    async def addresses(self, host: str, port: int) -> list[str] | str | None:
        """What ``host:port`` may be reached at: ``None`` for an allowed origin (by its
        name), else its checked addresses, or the reason it is refused (a refusal)."""
        key = f"{host}:{port}"
        if key in self.allowed:
            return None
        now = self._monotonic()
        cached = self._verdicts.get(key)
        if cached is None or cached[0] <= now:
            cached = (now + self.ttl, await self._judge(host, port))
            self._verdicts[key] = cached
        verdict = cached[1]
        return self._refuse(host, verdict) if isinstance(verdict, str) else verdict

    def peer_allowed(self, host: str, port: int, peer: str) -> bool:
        """Whether a connection to the address ``peer`` may carry a request for
        ``host:port`` (a kept-alive one, opened for a request that was not guarded)."""
        if f"{host}:{port}" in self.allowed:
            return True
        address = literal_address(peer.split("%")[0])
        return address is not None and self.internal(address) is None

    async def _judge(self, host: str, port: int) -> list[str] | str:
        """The addresses ``host`` resolves to, all public; else why not."""
        literal = literal_address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                found = await self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                return f"{host} does not resolve ({exc})"
            addresses = [a for a in (literal_address(f.split("%")[0]) for f in found) if a]
            if not addresses:
                return f"{host} does not resolve"
        for address in addresses:
            kind = self.internal(address)
            if kind is not None:
                shown = host if literal is not None else f"{host} ({address})"
                return f"refused: {shown} is a {kind} address"
        return [str(a) for a in addresses]

    def _refuse(self, host: str, reason: str) -> str:
        if self.on_refusal is not None:
            self.on_refusal(host, reason)
        if host not in self._logged:
            self._logged.add(host)
            logger.warning(
                "not fetching from %s: %s (logged once per host)", clip(host), clip(reason)
            )
        return reason


async def send_guarded(
    client: httpx.AsyncClient,
    request: httpx.Request,
    guard: Callable[[httpx.URL], Awaitable[str | None]],
    max_redirects: int,
) -> httpx.Response | str:
    """Send ``request``, following redirects only to URLs ``guard`` allows; a refusal is
    returned as its reason (the response that redirected there is closed unread). An
    ``AddressGuard`` goes along to the transport, which checks each connection too."""
    if isinstance(guard, AddressGuard):
        request.extensions = {**request.extensions, GUARD: guard}
    for _ in range(max_redirects + 1):
        refused = await guard(request.url)
        if refused is not None:
            return refused
        response = await client.send(request, stream=True, follow_redirects=False)
        if not response.has_redirect_location:
            return response
        await response.aclose()
        target = request.url.join(response.headers["Location"])
        headers = httpx.Headers(request.headers)
        headers.pop("Host", None)
        if target.host != request.url.host:  # credentials stay with their host
            for name in ("Authorization", "Cookie"):
                headers.pop(name, None)
        request = httpx.Request("GET", target, headers=headers, extensions=request.extensions)
    raise httpx.TooManyRedirects("too many redirects", request=request)
