"""Wikimedia Commons through the MediaWiki Action API (``/w/api.php``).

Two ways to count a person's files:

- search (default): files in the File namespace (6) matching the term, via
  ``generator=search`` with ``prop=imageinfo``; ``query.searchinfo.totalhits`` is the
  reported total, ``continue.gsroffset`` says there is another page (PARSING.md §4).
- ``category``: the files of one category (typically the person's own, e.g.
  ``Category:Dong Jingwei``), via ``list=categorymembers`` beside ``prop=categoryinfo`` on
  the category page. The wiki's stated ``categoryinfo.files`` is the reported total; the
  count is the files actually listed, never the stated number.

Only pictures count. The search asks for ``filetype:bitmap|drawing`` (as SearXNG's
``searx/engines/wikicommons.py`` does, searxng/searxng commit 48f31c1010d9) and the parser
counts a file only when its MIME type (``iiprop=mime``) is an image: audio, video, PDF and
DjVu files are not pictures of a person (``commons_files``). Category members carry no
MIME type, so there the file name's extension decides.

The Wikimedia User-Agent policy asks for ``client/version (contact) library/version``: the
``contact`` setting (an e-mail address or a web page) goes into the default User-Agent, and
a source on Wikimedia's own servers whose User-Agent names no contact is a config error
(a ``base_url`` source, a mirror or test server, is exempt).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from monitor.core.errors import Blocked, ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Source, SourceOptions, header_text
from monitor.sources.commons_files import commons_user_agent, has_contact, is_picture
from monitor.sources.parsing import (
    browser_headers,
    coerce_options,
    load_json,
    require_body,
    response_text,
    strip_tags,
)

logger = logging.getLogger(__name__)

COMMONS_USER_AGENT = commons_user_agent(None)  # no contact: refused for the real Commons
# Errors that mean "the wiki declined to serve us now", not "the answer changed shape".
# maxlag: we send maxlag=5 as Wikimedia asks of unattended clients; when replicas lag the
# API refuses with HTTP 200 plus Retry-After. It says nothing about the term and nothing
# about the format, so it is neither a count nor a parse error (which would send someone to
# look for a layout change). ``blocked`` is the project's status for "the engine refused
# us, come back later", the same as a 429; the detector already treats it as a failed check.
_REFUSAL_CODES = frozenset({"maxlag", "ratelimited"})
_CATEGORY_LIMIT = 500  # cmlimit ceiling for clients without the apihighlimits right


class WikimediaOptions(SourceOptions):
    """Commons options: contact, page size, thumbnail width, maxlag, file types, category."""

    user_agent: str = COMMONS_USER_AGENT
    # Who Wikimedia can reach about this client: an e-mail address or a web page.
    contact: str | None = Field(default=None, min_length=3)
    # CirrusSearch's file-type filter; None searches every file (the parser still counts
    # only pictures).
    filetype: str | None = Field(default="bitmap|drawing", pattern=r"^[a-z|]+$")
    # With iiurlwidth the API scales at most 50 thumbnails per request, so 50 is the ceiling.
    limit: int = Field(default=50, ge=1, le=50)
    thumb_width: int = Field(default=320, ge=20, le=2000)
    maxlag: int | None = Field(default=5, ge=0)  # None: leave it out (interactive use only)
    # Category name with or without "Category:", "{query}" stands for the term.
    category: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _user_agent_with_contact(cls, data: object) -> object:
        # The default User-Agent carries the contact; a user's own User-Agent is kept.
        if isinstance(data, dict) and data.get("contact") and "user_agent" not in data:
            contact = str(data["contact"])
            if contact.isascii() and contact.isprintable():  # else `contact` says what is wrong
                return {**data, "user_agent": commons_user_agent(contact)}
        return data

    @field_validator("contact")
    @classmethod
    def _sendable_contact(cls, value: str | None) -> str | None:
        return None if value is None else header_text(value)

    @model_validator(mode="after")
    def _contact_for_wikimedia(self) -> WikimediaOptions:
        if self.enabled and self.base_url is None and not has_contact(self.user_agent):
            raise ValueError(
                "Wikimedia's User-Agent policy needs a contact: set contact (your e-mail "
                "address or a page about this monitor), or a user_agent that names one"
            )
        return self


class WikimediaCommons(Source):
    """Files on Wikimedia Commons matching a term, or the files of a category."""

    kind: ClassVar[str] = "wikimedia_commons"
    keys: ClassVar[str] = (
        "query.pages[] with imageinfo[] (url, thumburl, descriptionurl; mime image/* only); "
        "total query.searchinfo.totalhits or categoryinfo.files"
    )
    family: str = "independent"
    default_base_url: ClassVar[str] = "https://commons.wikimedia.org"
    Options: ClassVar[type[SourceOptions]] = WikimediaOptions
    options: WikimediaOptions

    def __init__(self, name: str, options: SourceOptions) -> None:
        super().__init__(name, coerce_options(options, WikimediaOptions))

    def category_title(self, term: str) -> str | None:
        """``Category:<name>`` for ``term`` when the category option is set."""
        template = self.options.category
        if template is None:
            return None
        name = template.replace("{query}", term).strip()
        if name.lower().startswith("category:"):
            name = name[len("category:") :].strip()
        return f"Category:{name}"

    def build_request(self, term: str, page: int) -> httpx.Request:
        o = self.options
        params: dict[str, str | int] = {"action": "query", "format": "json"}
        category = self.category_title(term)
        if category is not None:
            # categoryinfo must be asked of the category page itself (titles=), and titles=
            # cannot be combined with a generator, so the members come from list= and carry
            # no imageinfo. Their continuation token is opaque, so only page 0 exists.
            params |= {
                "titles": category,
                "prop": "categoryinfo",
                "list": "categorymembers",
                "cmtitle": category,
                "cmtype": "file",
                "cmlimit": _CATEGORY_LIMIT,
            }
        else:
            params |= {
                "generator": "search",
                "gsrsearch": f"filetype:{o.filetype} {term}" if o.filetype else term,
                "gsrnamespace": 6,
                "gsrlimit": o.limit,
                "gsrinfo": "totalhits|suggestion",
                "prop": "imageinfo",
                "iiprop": "url|mime",
                "iiurlwidth": o.thumb_width,
            }
            if page:
                # Search continuation is a plain offset (continue.gsroffset), so page n can
                # be asked for without carrying the previous response around.
                params["gsroffset"] = page * o.limit
        if o.maxlag is not None:
            params["maxlag"] = o.maxlag
        url = self.url(self.default_base_url + "/w/api.php")
        headers = browser_headers(o, accept="application/json")
        return httpx.Request("GET", url, params=params, headers=headers)

    def parse(self, response: httpx.Response, page: int) -> PageResult:
        data = load_json(require_body(response_text(response)))
        if not isinstance(data, dict):
            raise ParseError("JSON is not an object")
        _raise_api_error(data)
        query = data.get("query")
        if not isinstance(query, dict):
            raise ParseError("no 'query' object in the API answer")
        if self.options.category is not None:
            return _parse_category(query, _wiki_origin(response), self.options.thumb_width)
        return _parse_search(data, query, page)

    def describe(self) -> str:
        if self.options.category is not None:
            return f"{self.name} ({self.kind}, category {self.options.category})"
        return super().describe()


def _raise_api_error(data: dict[str, Any]) -> None:
    """Raise for ``{"error": {...}}`` (errorformat=bc) or ``{"errors": [...]}`` answers."""
    error = data.get("error")
    if error is None and isinstance(data.get("errors"), list) and data["errors"]:
        error = data["errors"][0]
    if error is None:
        return
    if not isinstance(error, dict):
        raise ParseError("API error without details")
    code = str(error.get("code", "?"))
    info = strip_tags(str(error.get("info") or error.get("text") or ""))[:200]
    if code in _REFUSAL_CODES:
        raise Blocked(f"API refused: {code}: {info}")
    raise ParseError(f"API error {code}: {info}")


def _parse_search(data: dict[str, Any], query: dict[str, Any], page: int) -> PageResult:
    info = query.get("searchinfo")
    total = info.get("totalhits") if isinstance(info, dict) else None
    # We always ask for gsrinfo=totalhits; without it this is not the answer we asked for.
    if not isinstance(total, int) or isinstance(total, bool):
        raise ParseError("no searchinfo.totalhits in the answer")
    pages = _pages(query)
    more = isinstance(data.get("continue"), dict) and "gsroffset" in data["continue"]
    if not pages:
        if total == 0:
            return PageResult(items=(), reported_total=0, no_results=True)
        if page > 0:
            # Past the end of a result list that shrank since page 0: nothing more to read.
            return PageResult(items=(), reported_total=total)
        raise ParseError(f"totalhits is {total} but the answer lists no pages")
    pages.sort(key=lambda p: p.get("index", 0))
    files = [item for p in pages if (item := _search_item(p)) is not None]
    if not files:
        raise ParseError(f"none of {len(pages)} pages carries imageinfo.url")
    # Sound, video and documents are files of the person, not pictures: not counted.
    items = tuple(item for item, mime in files if is_picture(mime, item.image_url))
    if not items and page == 0:
        # A recognised answer whose files are none of them pictures: zero images, said by
        # the wiki itself (it listed them all), not a parse failure.
        return PageResult(items=(), reported_total=total, no_results=True)
    return PageResult(items=items, reported_total=total, has_more=more)


def _pages(query: dict[str, Any]) -> list[dict[str, Any]]:
    """``query.pages`` as a list: keyed by pageid (formatversion 1) or a list (version 2)."""
    pages = query.get("pages")
    if pages is None:
        return []
    if isinstance(pages, dict):
        pages = list(pages.values())
    if not isinstance(pages, list):
        raise ParseError("query.pages is neither an object nor a list")
    return [p for p in pages if isinstance(p, dict)]


def _search_item(p: dict[str, Any]) -> tuple[ImageItem, str | None] | None:
    infos = p.get("imageinfo")
    if not isinstance(infos, list) or not infos or not isinstance(infos[0], dict):
        return None  # a description page without a file (or a hidden file): not an image
    info = infos[0]
    url = info.get("url")
    if not isinstance(url, str) or not url:
        return None
    title = str(p.get("title", ""))
    mime = info.get("mime")
    item = ImageItem(
        image_url=url,
        thumb_url=info.get("thumburl") or None,
        page_url=info.get("descriptionurl") or p.get("fullurl") or None,
        title=strip_tags(title.removeprefix("File:")) or None,
    )
    return item, mime if isinstance(mime, str) else None


def _parse_category(query: dict[str, Any], origin: str, thumb_width: int) -> PageResult:
    cat = next((p for p in _pages(query) if p.get("ns") == 14), None)
    if cat is None:
        raise ParseError("the category page is missing from query.pages")
    if "invalid" in cat:
        raise ParseError(f"invalid category title: {cat.get('invalidreason', '')}")
    info = cat.get("categoryinfo")
    files = info.get("files") if isinstance(info, dict) else None
    if files is not None and (not isinstance(files, int) or isinstance(files, bool)):
        raise ParseError("categoryinfo.files is not a number")
    members = query.get("categorymembers")
    if not isinstance(members, list):
        raise ParseError("no 'categorymembers' list in the answer")
    titles = [t for t in map(_file_title, members) if t is not None]
    # No MIME type in a members list: the file name's extension decides what is a picture.
    items = [_category_item(origin, t, thumb_width) for t in titles if is_picture(None, t)]
    if titles and not items:
        return PageResult(items=(), reported_total=files, no_results=True)  # no pictures
    if items:
        if files is not None and files > len(items):
            logger.debug("category lists %d of %d files (one request)", len(items), files)
        return PageResult(items=tuple(items), reported_total=files)
    if not files:
        # No member listed and the wiki counts none (or has no such category at all):
        # a positive, recognised empty answer.
        return PageResult(items=(), reported_total=files, no_results=True)
    raise ParseError(f"categoryinfo counts {files} files but categorymembers lists none")


def _file_title(member: Any) -> str | None:
    title = member.get("title") if isinstance(member, dict) else None
    return title if isinstance(title, str) and title.startswith("File:") else None


def _category_item(origin: str, title: str, thumb_width: int) -> ImageItem:
    # list=categorymembers gives titles only. Special:FilePath is the wiki's own stable
    # address of a file's original (and, with ?width=, of a thumbnail), so the key is real.
    name = quote(title.removeprefix("File:").replace(" ", "_"))
    return ImageItem(
        image_url=f"{origin}/wiki/Special:FilePath/{name}",
        thumb_url=f"{origin}/wiki/Special:FilePath/{name}?width={thumb_width}",
        page_url=f"{origin}/wiki/File:{name}",
        title=title.removeprefix("File:"),
    )


def _wiki_origin(response: httpx.Response) -> str:
    """``scheme://host`` of the wiki that answered (Commons, a mirror or a test server)."""
    try:
        parts = urlsplit(str(response.url))
    except RuntimeError:
        return "https://commons.wikimedia.org"
    return f"{parts.scheme}://{parts.netloc}"
