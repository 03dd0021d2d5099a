"""The source contract: build requests for a query term, parse responses into results.

A source does no I/O. The pipeline asks it for the request of page ``n`` of a term
(``build_request`` for the first, ``next_request`` with the page before for the others), has
the shared fetcher send it, and hands the response back to ``parse``:

- ``parse`` returns a ``PageResult`` with the items found (``no_results=True`` only when the
  engine positively says nothing was found: a recognised empty answer);
- it raises ``Blocked`` for a captcha, verification page or anti-spider answer, also when it
  came with HTTP 200 (the fetcher has already mapped 403 and persistent 429 to ``blocked``);
- it raises ``ParseError`` for anything it does not recognise. Never zero by accident;
- it raises ``Misconfigured`` when the engine refuses the source's key or API access.

An HTTP error answer (4xx) never reaches ``parse``: the fetcher maps it to ``blocked`` or
``http_error``. A source whose engine says more in such a body (an API's JSON error) reads
it in ``explain_refusal``, which may raise ``Misconfigured`` or ``Blocked`` instead.

Each source kind is one module with one subclass of ``Source``, registered by its ``kind``
string in ``monitor.sources.REGISTRY``. Options live in a pydantic model, ``Options``,
validated at config load (unknown keys are errors).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from monitor.core.observation import PageResult
from monitor.core.units import Rate, format_duration, parse_duration, parse_rate
from monitor.core.urls import config_url


def _duration(v: Any) -> timedelta:
    return v if isinstance(v, timedelta) else parse_duration(v)


def _rate(v: Any) -> Rate:
    return v if isinstance(v, Rate) else parse_rate(v)


Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration)]
RateField = Annotated[Rate, BeforeValidator(_rate), PlainSerializer(str)]

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_TEXT = re.compile(r"[\x20-\x7e]*")


def header_text(value: str) -> str:
    """``value`` if it can be sent as an HTTP header value (printable ASCII), else
    ``ValueError`` naming the first character that cannot."""
    if not _HEADER_TEXT.fullmatch(value):
        bad = next(c for c in value if not _HEADER_TEXT.fullmatch(c))
        raise ValueError(
            f"U+{ord(bad):04X} cannot be sent in an HTTP header (printable ASCII only)"
        )
    return value


class SourceOptions(BaseModel):
    """Options every source has; a kind adds its own by subclassing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    enabled: bool = True
    base_url: str | None = None  # replaces scheme and host: mirrors, proxies, test servers
    every: Duration = timedelta(hours=6)
    controls: tuple[str, ...] = ()
    rate: RateField = Rate(1, timedelta(seconds=5))
    concurrency: int = Field(default=1, ge=1, le=64)
    max_pages: int = Field(default=1, ge=1, le=5)
    timeout: Duration = timedelta(seconds=20)
    connect_timeout: Duration = timedelta(seconds=10)
    max_bytes: int = Field(default=8_000_000, ge=1024)
    retries: int = Field(default=2, ge=0, le=10)
    # After a 429: how many more tries (None: ``retries``) and how long the whole host
    # waits first (None: the backoff, or Retry-After). For APIs whose 429 is load shedding.
    throttle_retries: int | None = Field(default=None, ge=0, le=10)
    throttle_wait: Duration | None = None
    proxy: str | None = None
    # Budgets for reading one response (monitor.check.pool): past either, the check is
    # parse_error "too complex", never zero.
    parse_cpu: Duration = timedelta(seconds=10)
    parse_memory: int = Field(default=768_000_000, ge=64_000_000)
    user_agent: str = DEFAULT_USER_AGENT
    accept_language: str = "zh-CN,zh;q=0.9,en;q=0.8"
    headers: dict[str, str] = Field(default_factory=dict)
    detection: dict[str, Any] = Field(default_factory=dict)  # validated by config.py

    @field_validator("user_agent", "accept_language")
    @classmethod
    def _header_value(cls, value: str) -> str:
        return header_text(value)

    @field_validator("headers")
    @classmethod
    def _header_values(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f'"{name[:40]}" is not an HTTP header name')
            header_text(text)
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else config_url(value)

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        return None if value is None else config_url(value, ("http", "https", "socks5", "socks5h"))


class Source:
    """Base class of all sources. Subclasses set ``kind``, ``Options`` and implement
    ``build_request`` and ``parse``. They must not perform I/O."""

    kind: ClassVar[str] = ""
    # What ``parse`` reads (fields, selectors, markers), in one line: ``keyed_on``.
    keys: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    Options: ClassVar[type[SourceOptions]] = SourceOptions
    # chinese, bing, google or independent: groups sources by independence for
    # corroboration. A class default; html and feed sources set it per instance.
    family: str = "independent"

    def __init__(self, name: str, options: SourceOptions) -> None:
        self.name = name
        self.options = options

    def url(self, default: str) -> str:
        """``default`` with scheme and host replaced by ``base_url`` when one is set."""
        base = self.options.base_url
        if not base:
            return default
        b = urlsplit(base)
        d = urlsplit(default)
        path = b.path.rstrip("/") + d.path if b.path not in ("", "/") else d.path
        return urlunsplit((b.scheme, b.netloc, path, d.query, d.fragment))

    def configured_urls(self) -> list[str]:
        """The addresses the user configured for this source (``base_url``; the whole URL
        for html and feed sources): the only internal hosts thumbnails may come from."""
        return [self.options.base_url] if self.options.base_url else []

    def warmup_request(self) -> httpx.Request | None:
        """A request to send before the first query (e.g. for cookies): once per process,
        again when older than ``session_max_age``, and once more when ``parse`` raises
        ``SessionExpired``."""
        return None

    def session_max_age(self) -> timedelta | None:
        """How long a warm-up's session is trusted (``None``: for the process's life)."""
        return None

    def build_request(self, term: str, page: int) -> httpx.Request:
        """The request for result page ``page`` (0-based) of ``term``."""
        raise NotImplementedError

    def next_request(self, term: str, page: int, previous: PageResult) -> httpx.Request:
        """The request for page ``page`` > 0, after ``previous`` said there is more. The
        default counts pages; an engine that names where its next page starts (360's
        ``lastindex``) reads ``previous.next_offset``."""
        return self.build_request(term, page)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        """Parse one response; raise ``Blocked`` or ``ParseError`` as described above."""
        raise NotImplementedError

    def explain_refusal(self, response: httpx.Response) -> None:
        """Read an error answer (4xx) the fetcher failed; raise ``Misconfigured`` or
        ``Blocked`` when its body says which it is. The default reads nothing."""
        return None

    def keyed_on(self) -> str:
        """What ``parse`` keys on, in one line (``probe`` prints it beside the answer)."""
        return self.keys or (type(self).__doc__ or self.kind).strip().splitlines()[0]

    def describe(self) -> str:
        """A one-line description safe to log (no secrets)."""
        return f"{self.name} ({self.kind})"
