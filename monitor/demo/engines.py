"""Simulated search engines on 127.0.0.1, each answering in its real format.

A ``SimulatedEngine`` is a ``LocalServer`` (a real HTTP peer) whose answers depend on a script:
``engine.behave(default, per_subject, tick)`` sets, for the next requests, how it treats
each subject (a person, or a control term). ``State`` is what the demo can make an engine
do; ``subject_of`` maps a query term to its subject (a person's names all find that person).

The three kinds speak what the real sources parse: ``baidu`` serves ``/`` (the warm-up),
``/search/acjson`` and ``/search/flip``; ``bing`` serves ``/images/async`` (and
``/images/search``); ``commons`` serves ``/w/api.php`` (search only). Every engine also
serves ``/picture/...``: the images and thumbnails the answers list, which ``pictures.py``
points at the engines' shared ``pictures`` origin on 127.0.0.1 (so the thumbnails the
monitor keeps never come from outside). Anything else is a 404, which the monitor records
as an ``http_error``, never as zero images.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.demo import formats, pictures
from monitor.demo.results import Hit, pool, state_media, variation
from monitor.testing import LocalServer, Reply, Request

logger = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


class State(StrEnum):
    """What an engine does for a subject (or, for the last two, for every query)."""

    NORMAL = "normal"  # many images from many domains
    SOFT_CENSORED = "soft_censored"  # only a few state-media pictures
    ERASED = "erased"  # the engine's real "no results" answer
    CAPTCHA = "captcha"  # a verification page instead of results (Baidu only)
    LAYOUT_CHANGED = "layout_changed"  # a page the parser does not recognise


ENGINE_WIDE = frozenset({State.CAPTCHA, State.LAYOUT_CHANGED})


@dataclass(frozen=True)
class Behaviour:
    """An engine's script for one round: a default state, per-subject states, a tick that
    makes counts wobble from round to round."""

    default: State = State.NORMAL
    subjects: Mapping[str, State] = field(default_factory=dict)
    tick: int = 0

    def state_for(self, subject: str) -> State:
        if self.default in ENGINE_WIDE:
            return self.default
        return self.subjects.get(subject, self.default)


@dataclass(frozen=True)
class Kind:
    """How one engine slices the pool: ``start``/``stop`` of its normal result list."""

    name: str
    start: int
    stop: int
    commons_only: bool = False


KINDS = {
    "baidu": Kind("baidu", 0, 30),
    "bing": Kind("bing", 5, 27),
    "commons": Kind("commons", 0, 40, commons_only=True),
}


class SimulatedEngine:
    """One simulated engine on 127.0.0.1; ``url`` is its ``base_url``."""

    def __init__(self, kind: str, subject_of: Callable[[str], str]) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown engine kind {kind!r} (known: {', '.join(KINDS)})")
        self.kind = KINDS[kind]
        self.subject_of = subject_of
        self._behaviour = Behaviour()
        # Where the answers' images and thumbnails are served (set by ``Engines``; None:
        # the saved answers' own URLs, as the parser tests read them).
        self.pictures: str | None = None
        self._lock = threading.Lock()
        self.server = LocalServer(self._handle)
        no_delay(self.server)

    @property
    def url(self) -> str:
        return self.server.url

    def behave(self, behaviour: Behaviour) -> None:
        """Answer the next requests according to ``behaviour``."""
        if behaviour.default is State.CAPTCHA and self.kind.name != "baidu":
            raise ValueError(f"{self.kind.name} has no known captcha page to serve")
        with self._lock:
            self._behaviour = behaviour

    def hits(self, term: str, state: State, tick: int) -> tuple[Hit, ...]:
        """What the engine lists for ``term`` in ``state`` (normal list wobbles by tick)."""
        subject = self.subject_of(term)
        k = self.kind
        if state is State.SOFT_CENSORED:
            hits = state_media(subject)
        elif k.commons_only:
            hits = tuple(h for h in pool(subject) if h.on_commons)
        else:
            hits = pool(subject)[k.start : k.stop - variation(term, tick)]
        return tuple(pictures.local_hit(h, self.pictures) for h in hits)

    def _handle(self, req: Request) -> Reply:
        if req.path.startswith(pictures.PREFIX):
            return Reply(200, pictures.picture(req.path), "image/png")
        with self._lock:
            behaviour = self._behaviour
        route = {"baidu": self._baidu, "bing": self._bing, "commons": self._commons}
        reply = route[self.kind.name](req, behaviour)
        if isinstance(reply.body, str):
            reply = dataclasses.replace(reply, body=pictures.localise(reply.body, self.pictures))
        return reply

    def _term(self, req: Request, *names: str) -> str | None:
        for name in names:
            values = req.query.get(name)
            if values:
                return values[0]
        return None

    def _baidu(self, req: Request, b: Behaviour) -> Reply:
        if req.path == "/":
            return Reply(
                200,
                "<!DOCTYPE html><title>百度图片-发现多彩世界</title>",
                HTML,
                {"Set-Cookie": "BAIDUID=DEMO0000000000000000000000000000:FG=1; Path=/"},
            )
        page = req.path == "/search/flip"
        term = self._term(req, "word", "queryWord")
        if req.path not in ("/search/acjson", "/search/flip") or term is None:
            return Reply(404, "Not Found", "text/plain")
        state = b.state_for(self.subject_of(term))
        if state is State.CAPTCHA:
            return Reply(200, formats.baidu_captcha_page(), HTML)
        if state is State.ERASED:
            return Reply(200, formats.baidu_no_results(term, page=page), HTML if page else JSON)
        hits = self.hits(term, state, b.tick)
        total = 40 * len(hits) + variation(term, b.tick, 97)
        if state is State.LAYOUT_CHANGED:
            body = formats.baidu_redesigned(term, hits, total, page=page)
        elif page:
            body = formats.baidu_flip(term, hits, total)
        else:
            body = formats.baidu_acjson(term, hits, total)
        return Reply(200, body, HTML if page else JSON)

    def _bing(self, req: Request, b: Behaviour) -> Reply:
        term = self._term(req, "q")
        if req.path not in ("/images/async", "/images/search") or term is None:
            return Reply(404, "Not Found", "text/plain")
        state = b.state_for(self.subject_of(term))
        if state is State.ERASED:
            return Reply(200, formats.bing_no_results(term), HTML)
        hits = self.hits(term, state, b.tick)
        if state is State.LAYOUT_CHANGED:
            return Reply(200, formats.bing_redesigned(term, hits), HTML)
        return Reply(200, formats.bing_async(term, hits, more=len(hits) > 3), HTML)

    def _commons(self, req: Request, b: Behaviour) -> Reply:
        term = self._term(req, "gsrsearch")
        if req.path != "/w/api.php" or term is None:
            return Reply(404, "Not Found", "text/plain")
        # CirrusSearch keywords (filetype:bitmap|drawing) filter, they are not the term.
        term = " ".join(w for w in term.split() if not w.startswith("filetype:"))
        state = b.state_for(self.subject_of(term))
        if state is State.ERASED:
            return Reply(200, formats.commons_no_results(term), JSON)
        hits = self.hits(term, state, b.tick)
        if state is State.LAYOUT_CHANGED:
            return Reply(200, formats.commons_redesigned(term, hits), JSON)
        offset = int(self._term(req, "gsroffset") or 0)
        limit = int(self._term(req, "gsrlimit") or 50)
        return Reply(200, formats.commons_search(term, hits, offset=offset, limit=limit), JSON)


def no_delay(server: LocalServer) -> LocalServer:
    """Turn off Nagle's algorithm on the server's sockets (accepted sockets inherit it).

    ``http.server`` writes headers and body in separate sends; with Nagle on, the body
    waits for the client's delayed ACK, 40 ms per request on Linux loopback, which made
    a round of the demo take seconds instead of milliseconds.
    """
    server.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server


class Engines:
    """The demo's engines, started and stopped together (a context manager)."""

    def __init__(self, kinds: Mapping[str, str], subject_of: Callable[[str], str]) -> None:
        self.by_name = {name: SimulatedEngine(kind, subject_of) for name, kind in kinds.items()}

    def __getitem__(self, name: str) -> SimulatedEngine:
        return self.by_name[name]

    def __enter__(self) -> Engines:
        for engine in self.by_name.values():
            engine.server.start()
        origin = next(iter(self.by_name.values())).url if self.by_name else None
        for engine in self.by_name.values():
            engine.pictures = origin
        return self

    def __exit__(self, *exc: object) -> None:
        # Each stop waits up to serve_forever's 0.5 s poll; stopping them together waits once.
        stops = [threading.Thread(target=engine.server.stop) for engine in self.by_name.values()]
        for thread in stops:
            thread.start()
        for thread in stops:
            thread.join()
