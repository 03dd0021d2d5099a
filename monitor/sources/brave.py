"""Brave Search API, image endpoint (``GET /res/v1/images/search``): a paid, stable API.

With Bing's and Google's search APIs closed, this is the one a newsroom can pay for to get
Western image results with a contract behind them. Its index is Brave's own, so it is its
own independence family (``brave``), not ``bing`` or ``google``.

Request: ``q`` and ``count`` (1-200, one page: the image endpoint has no offset), with
``safesearch`` (``off`` or ``strict``; the API defaults to strict, which would hide news
photos), ``spellcheck=false`` so that Brave never searches a corrected name instead of the
one asked for, and optional ``country`` and ``search_lang``. The key travels in the
``X-Subscription-Token`` header, read from the environment; it is never in a URL or a log.

Answer: ``{"type": "images", "query": {...}, "results": [...]}``; each result has ``title``,
``url`` (the page), ``source`` (its host), ``thumbnail.src`` (Brave's proxied thumbnail),
``properties.url`` (the image itself) and ``meta_url.hostname``. ``results: []`` in an
``images`` answer is a positive empty answer. Errors are ``{"type": "ErrorResponse",
"error": {"status", "code", "detail"}}``: 401/403 and a rejected token or plan are
``Misconfigured``; 429 (rate or monthly quota) is ``blocked`` and the fetcher honours
``Retry-After``. Sources: Brave's API documentation (api-dashboard.search.brave.com,
image-search) and public clients quoted in tests/fixtures/sources/brave_images/PROVENANCE.md.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from monitor.core.errors import Blocked, Misconfigured, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.core.urls import domain_of
from monitor.sources.base import Source, SourceOptions
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    load_json,
    require_body,
    response_text,
    strip_tags,
)

BRAVE_USER_AGENT = "image-absence-monitor/0.1 (image search monitor) python-httpx"
# Error codes that mean "this token or plan will never be served" (Brave's error.code).
_CONFIG_CODES = frozenset(
    {"SUBSCRIPTION_TOKEN_INVALID", "SUBSCRIPTION_NOT_FOUND", "OPTION_NOT_IN_PLAN", "UNAUTHORIZED"}
)
_RATE_CODES = frozenset({"RATE_LIMITED", "QUOTA_LIMITED"})


class BraveOptions(SourceOptions):
    """Brave options: the subscription token (from the environment), count, locale."""

    user_agent: str = BRAVE_USER_AGENT
    accept_language: str = "en-US,en;q=0.8"
    api_key: SecretStr
    count: int = Field(default=100, ge=1, le=200)  # the API's ceiling per request
    safesearch: Literal["off", "strict"] = "off"
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$|^ALL$")
    search_lang: str | None = Field(default=None, min_length=2, max_length=7)

    @model_validator(mode="after")
    def _key_when_enabled(self) -> BraveOptions:
        # ${BRAVE_API_KEY:-} gives "" when unset: fine for a disabled source, not otherwise.
        if self.enabled and not self.api_key.get_secret_value():
            raise ValueError("api_key must be set (from the environment) when enabled")
        return self


class BraveImages(Source):
    """Image results of the Brave Search API for a term, with a subscription token."""

    kind: ClassVar[str] = "brave_images"
    keys: ClassVar[str] = (
        "results[] (properties.url image, thumbnail.src, url page, title, "
        "meta_url.hostname); error JSON for 401/403/429"
    )
    family: str = "brave"
    default_base_url: ClassVar[str] = "https://api.search.brave.com"
    Options: ClassVar[type[SourceOptions]] = BraveOptions
    options: BraveOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, BraveOptions))

    def build_request(self, term: str, page: int) -> httpx.Request:
        # One page only (no offset on this endpoint): every page is the same request, and
        # parse never sets has_more, so a second page is never asked for.
        o = self.options
        params: dict[str, str | int] = {
            "q": term,
            "count": o.count,
            "safesearch": o.safesearch,
            "spellcheck": "false",
        }
        if o.country:
            params["country"] = o.country.upper()
        if o.search_lang:
            params["search_lang"] = o.search_lang
        headers = browser_headers(o, accept="application/json")
        headers["X-Subscription-Token"] = o.api_key.get_secret_value()
        url = self.url(self.default_base_url + "/res/v1/images/search")
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        data = load_json(require_body(response_text(response)))
        if not isinstance(data, dict):
            raise ParseError("JSON is not an object")
        if data.get("type") == "ErrorResponse" or "error" in data:
            _raise_error(data.get("error"), response.status_code)
        if data.get("type") != "images":
            raise ParseError(f"not an images answer (type {str(data.get('type'))[:30]!r})")
        results = data.get("results")
        if not isinstance(results, list):
            raise ParseError("no 'results' list in the images answer")
        if not results:
            return PageResult(items=(), no_results=True)
        items = [item for r in results if (item := _item(r)) is not None]
        if not items:
            raise ParseError(f"none of {len(results)} results carries properties.url")
        return PageResult(items=tuple(items))

    def explain_refusal(self, response: httpx.Response) -> None:
        error: Any = None
        try:
            data = load_json(require_body(response_text(response)))
            error = data.get("error") if isinstance(data, dict) else None
        except ParseError:
            pass  # a bare 401 from a proxy still means the token was not accepted
        if response.status_code in (401, 403):
            detail = _detail(error)
            raise Misconfigured(
                f"subscription token refused (HTTP {response.status_code}{detail}): "
                "check BRAVE_API_KEY and the plan"
            )
        if error is not None:
            try:
                _raise_error(error, response.status_code)
            except ParseError:
                return  # an error we cannot classify: the fetcher's verdict stands

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, count={self.options.count})"  # never the token


def _detail(error: Any) -> str:
    if not isinstance(error, dict):
        return ""
    code = str(error.get("code") or "")
    detail = " ".join(str(error.get("detail") or "").split())[:160]
    return "".join(f", {x}" for x in (code, detail) if x)


def _raise_error(error: Any, http_status: int) -> None:
    if not isinstance(error, dict):
        raise ParseError("error answer without details")
    code = str(error.get("code") or "").upper()
    status = error.get("status", http_status)
    if code in _RATE_CODES or status == 429:
        raise Blocked(f"rate or quota limit (HTTP {status}{_detail(error)})")
    if code in _CONFIG_CODES or status in (401, 403):
        raise Misconfigured(f"token or plan refused (HTTP {status}{_detail(error)})")
    raise ParseError(f"API error (HTTP {status}{_detail(error)})")


def _item(raw: Any) -> ImageItem | None:
    if not isinstance(raw, dict):
        raise ParseError("a result is not an object")
    props = raw.get("properties")
    image = props.get("url") if isinstance(props, dict) else None
    if not isinstance(image, str) or not image:
        return None  # a result without the image itself is not a counted image
    thumb = raw.get("thumbnail")
    thumb_url = thumb.get("src") if isinstance(thumb, dict) else None
    meta = raw.get("meta_url")
    host = meta.get("hostname") if isinstance(meta, dict) else None
    page = raw.get("url")
    page_url = page if isinstance(page, str) and page else None
    named = host if isinstance(host, str) and host else raw.get("source")
    domain = domain_of(f"//{named}") if isinstance(named, str) and named else ""
    domain = domain or domain_of(page_url or image)
    title = raw.get("title")
    return ImageItem(
        image_url=image,
        thumb_url=thumb_url if isinstance(thumb_url, str) and thumb_url else None,
        page_url=page_url,
        title=strip_tags(title) if isinstance(title, str) and title.strip() else None,
        domain=domain or None,
    )
