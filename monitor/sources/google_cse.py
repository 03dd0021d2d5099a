"""Google Custom Search JSON API with ``searchType=image`` (``/customsearch/v1``).

``searchInformation.totalResults`` (a string) is the reported total; each item gives the
image (``link``), its page (``image.contextLink``), a thumbnail and a title. Zero results is
a body without ``items`` whose ``totalResults`` is ``"0"`` (PARSING.md §9.5). Errors come as
``{"error": {"code", "message", "errors": [{"reason"}], "status"}}``, usually with HTTP 4xx
(read by ``explain_refusal``): quota and rate refusals are ``Blocked``; a rejected key, an API
not enabled, and the 403 "This project does not have the access to Custom Search JSON API"
are ``Misconfigured`` (``config_error``), because no retry will ever get an answer; anything
else is a ``ParseError``.

Google closed the JSON API to new customers in January 2026 and ends it for everyone on
``SERVICE_ENDS`` (2027-01-01); projects without access get that 403 (the body, quoted in
mixelpixx/Nimrod issue #7, is the golden case ``no-access-403``). ``config check`` warns while
a ``google_cse`` source is enabled.

The API key is a secret: it travels in the ``X-Goog-Api-Key`` header (which Google APIs
accept in place of ``key=``) so that it never appears in a URL that is logged or stored as
evidence, and ``describe()`` leaves it out.
"""

from __future__ import annotations

import logging
from datetime import date
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
    parse_int,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

# Reasons and statuses Google uses for "too many requests / out of quota".
_QUOTA_REASONS = frozenset(
    {"ratelimitexceeded", "dailylimitexceeded", "quotaexceeded", "userratelimitexceeded"}
)
_QUOTA_STATUSES = frozenset({"RESOURCE_EXHAUSTED"})
# Reasons and statuses that mean "this key or project will never be served".
_CONFIG_REASONS = frozenset({"keyinvalid", "accessnotconfigured", "keyexpired"})
_CONFIG_STATUSES = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})
_NO_ACCESS = "does not have the access to custom search json api"
SERVICE_ENDS = date(2027, 1, 1)  # Google ends the Custom Search JSON API for everyone


class GoogleCseOptions(SourceOptions):
    """Google CSE options: credentials (from the environment), page size and SafeSearch."""

    api_key: SecretStr
    # The engine id is an identifier, not a credential (it is public in embed snippets), and
    # the API takes it only as a URL parameter; kept secret-typed so reprs do not show it.
    cx: SecretStr
    num: int = Field(default=10, ge=1, le=10)  # the API's ceiling
    safe: Literal["active", "off"] = "off"

    @model_validator(mode="after")
    def _credentials_when_enabled(self) -> GoogleCseOptions:
        # ${GOOGLE_API_KEY:-} gives "" when unset: fine for a disabled source, not otherwise.
        if self.enabled and not (self.api_key.get_secret_value() and self.cx.get_secret_value()):
            raise ValueError("api_key and cx must be set (from the environment) when enabled")
        return self


class GoogleCse(Source):
    """Google image results through a Programmable Search Engine (``cx``) and an API key."""

    kind: ClassVar[str] = "google_cse"
    keys: ClassVar[str] = (
        "items[] (link image, image.contextLink page, image.thumbnailLink, title); total "
        "searchInformation.totalResults; error.errors[].reason"
    )
    family: str = "google"
    default_base_url: ClassVar[str] = "https://www.googleapis.com"
    Options: ClassVar[type[SourceOptions]] = GoogleCseOptions
    options: GoogleCseOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, GoogleCseOptions))

    def build_request(self, term: str, page: int) -> httpx.Request:
        o = self.options
        params: dict[str, str | int] = {
            "cx": o.cx.get_secret_value(),
            "q": term,
            "searchType": "image",
            "num": o.num,
            "start": 1 + page * o.num,  # 1-based; the API serves at most 100 results
            "safe": o.safe,
        }
        headers = browser_headers(o, accept="application/json")
        headers["X-Goog-Api-Key"] = o.api_key.get_secret_value()
        url = self.url(self.default_base_url + "/customsearch/v1")
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        data = load_json(require_body(response_text(response)))
        if not isinstance(data, dict):
            raise ParseError("JSON is not an object")
        if "error" in data:
            _raise_error(data["error"])
        info = data.get("searchInformation")
        total = parse_int(info.get("totalResults")) if isinstance(info, dict) else None
        if total is None:
            raise ParseError("no searchInformation.totalResults")
        items_json = data.get("items")
        if items_json is None:
            if total == 0:
                return PageResult(items=(), reported_total=0, no_results=True)
            if page > 0:
                # Past the last page Google still repeats the (estimated) total.
                return PageResult(items=(), reported_total=total)
            raise ParseError(f"totalResults is {total} but there are no items")
        if not isinstance(items_json, list):
            raise ParseError("items is not a list")
        items = tuple(_item(i) for i in items_json)
        queries = data.get("queries")
        more = isinstance(queries, dict) and bool(queries.get("nextPage"))
        return PageResult(items=items, reported_total=total, has_more=more)

    def explain_refusal(self, response: httpx.Response) -> None:
        try:
            data = load_json(require_body(response_text(response)))
        except ParseError:
            return  # not Google's JSON error (a proxy's page): the fetcher's verdict stands
        if isinstance(data, dict) and "error" in data:
            try:
                _raise_error(data["error"])
            except ParseError:
                return  # an error we cannot classify: keep the fetcher's status

    def describe(self) -> str:
        # Neither the key nor the engine id: describe() ends up in logs.
        return f"{self.name} ({self.kind}, searchType=image)"


def _raise_error(error: Any) -> None:
    if not isinstance(error, dict):
        raise ParseError("API error without details")
    code = error.get("code")
    message = " ".join(str(error.get("message", "")).split())[:200]
    status = str(error.get("status", ""))
    reasons = {
        str(e.get("reason", "")).lower() for e in error.get("errors") or [] if isinstance(e, dict)
    }
    if code == 429 or status in _QUOTA_STATUSES or reasons & _QUOTA_REASONS:
        raise Blocked(f"quota or rate limit ({code} {status}): {message}")
    if _NO_ACCESS in message.lower():
        raise Misconfigured(
            f"no access to the Custom Search JSON API ({code}): Google closed it to new "
            f"projects and ends it on {SERVICE_ENDS.isoformat()}; use another source "
            "(e.g. brave_images) or a project that still has access"
        )
    if code in (400, 401, 403) and (status in _CONFIG_STATUSES or reasons & _CONFIG_REASONS):
        raise Misconfigured(f"key or project refused ({code} {status}): {message}")
    if "api key not valid" in message.lower():
        raise Misconfigured(f"API key not valid ({code} {status}): {message}")
    raise ParseError(f"API error {code} {status}: {message}")


def _item(raw: Any) -> ImageItem:
    if not isinstance(raw, dict):
        raise ParseError("an item is not an object")
    link = raw.get("link")
    if not isinstance(link, str) or not link:
        raise ParseError("an item has no link")
    image = raw.get("image")
    if not isinstance(image, dict):
        image = {}
    page = image.get("contextLink") or None
    display = raw.get("displayLink")
    domain = domain_of(page) if page else domain_of(f"//{display}") if display else ""
    title = raw.get("title")
    return ImageItem(
        image_url=link,
        thumb_url=image.get("thumbnailLink") or None,
        page_url=page,
        title=strip_tags(title) if isinstance(title, str) and title.strip() else None,
        domain=domain or None,
    )
