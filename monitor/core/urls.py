"""URL rules shared by parsers, the store and every page or mail that shows a scraped URL.

``normalize_url`` and ``domain_of`` give an image its identity (de-duplication, soft
censorship by domain). ``safe_url`` is the one rule for what may become a link or an image
in a mail or a page: only absolute http(s) URLs, so a ``javascript:`` or ``data:`` URL from a
scraped page is shown as text and never followed. ``config_url`` is the rule for a URL a
user configures (``base_url``, ``proxy``, webhooks).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\"'<>\\`]")


def normalize_url(url: str) -> str:
    """Normalise an image URL for de-duplication.

    Lower-cases scheme and host, drops the fragment and a default port, and treats http and
    https as the same image (engines flip between them). Query strings are kept: on many
    CDNs they select the image.
    """
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http":
        scheme = "https"
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def domain_of(url: str) -> str:
    """The registrable-looking host of a URL without a leading ``www.`` ('' if none)."""
    if url.startswith("//"):
        url = "https:" + url
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # an unbalanced IPv6 bracket ("http://[x"): a scraped value, no host
        return ""
    return host[4:] if host.startswith("www.") else host


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without whitespace or quotes, else ``None``."""
    if not url:
        return None
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    # Browsers drop tabs and newlines inside URLs ("java\tscript:"): refuse them outright.
    if _URL_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def config_url(value: str, schemes: tuple[str, ...] = ("http", "https"), shown: str = "") -> str:
    """``value`` if it is an absolute URL with one of ``schemes`` and a host, else
    ``ValueError`` saying so (``shown`` replaces the value in the message: a webhook URL
    may hold a token)."""
    what = shown or f'"{value[:80]}"'
    problem = f"{what} is not a URL (use {schemes[-1]}://host/...)"
    if _URL_FORBIDDEN.search(value.replace("{query}", "")):
        raise ValueError(problem + ": no spaces or quotes")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"{what}: the scheme must be {' or '.join(schemes)}")
    if not parts.hostname:
        raise ValueError(f"{what}: no host")
    return value
