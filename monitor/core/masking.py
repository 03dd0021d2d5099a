"""The one masker: secrets never leave the process in logs, CLI output or channel errors.

- ``SECRET_KEYS``: the one list of secret key names. The config loader registers every value
  it substitutes from the environment into a key of that name; URLs have the query values
  of these names masked.
- ``register(value)`` remembers a secret; ``mask(text)`` hides registered secrets (and any
  given ``also``), URL passwords and secret query values in free text; ``MaskingFilter``
  does so for every log record.
- ``mask_headers(pairs)`` is request headers safe to keep: the values of credential-like
  headers (``Authorization``, ``Cookie``, any name with ``key``, ``token`` or ``secret``)
  hidden, every other value through ``mask``.
- ``mask_url(url)`` is a URL safe to show; ``credential=True`` is for URLs that are
  credentials themselves (webhooks, Apprise), whose every query value and token-like path
  segment is hidden too. ``url_secrets(url)`` lists what that hides, so a peer's error text
  that echoes the URL can be masked as well; ``register_url(url)`` registers those of a
  channel's URL, so log lines that show it (httpx's, with ``-vv``) have them masked.

Google's ``cx`` is not a secret key: it identifies a search engine and is public in embed
snippets, and logs are more useful with it (``sources/google_cse.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "access_token", "key", "api_key", "apikey", "sig"}
)

_secrets: set[str] = set()
# A scheme is tried only from the start of a run of scheme characters (the lookbehind), its
# first letter after any leading digits: a scheme ends where its run ends (at "://"), so a
# later start in the same run cannot match where the first letter did not. Trying every
# position made mask() quadratic on long words (40k letters took seconds; bench/masking.py).
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.-])(?P<lead>[0-9+.-]*)(?P<scheme>[a-z][a-z0-9+.-]*://)"
    r"(?P<user>[^:/@\s]*):[^@/\s]+@",
    re.IGNORECASE,
)
_QUERY_SECRET = re.compile(
    r"(?P<k>[?&](?:" + "|".join(sorted(SECRET_KEYS)) + r")=)[^&#\s]+", re.IGNORECASE
)
# Path segments this long, or mixing letters and digits, look like tokens (Slack, Discord...).
_TOKENISH = re.compile(r"^(?=.*\d)(?=.*[A-Za-z]).{8,}$|^.{16,}$")
# Shorter values are not masked: replacing them would garble ordinary text.
_MIN_SECRET = 4


def register(value: str) -> None:
    """Remember ``value`` as a secret (unless it is shorter than 4 characters)."""
    if len(value) >= _MIN_SECRET:
        _secrets.add(value)


def mask(text: str, also: Iterable[str | None] = ()) -> str:
    """``text`` with registered secrets and ``also``, URL passwords and secret query values
    masked. Longer secrets go first, so one that contains another is masked whole."""
    for secret in sorted({*_secrets, *(s for s in also if s)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['lead']}{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['k']}{MASK}", text)


def mask_url(url: object, *, credential: bool = False) -> str:
    """``url`` safe to show: a password and secret query values masked, no fragment.

    With ``credential``, every query value and token-like path segment is masked too:
    ``https://u:pw@hooks.example/services/T0AB12CD3/B0CD34EF5?token=x`` becomes
    ``https://u:***@hooks.example/services/T0***/B0***?token=***``; so are tokens where a
    host or port would be, as Apprise URLs have them (``tgram://123456:AA***/987``).
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable url>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if parts.password:
        userinfo = f"{parts.username}:{MASK}"
    path = parts.path
    if credential:
        hostport = _hostport(hostport)[0]
        path = "/".join(_hide(s) if _TOKENISH.match(s) else s for s in path.split("/"))
    netloc = userinfo + at + hostport
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if credential or any(k.lower() in SECRET_KEYS for k, _ in pairs):
        hidden = [(k, MASK if credential or k.lower() in SECRET_KEYS else v) for k, v in pairs]
        query = urlencode(hidden, safe="*")
    # The fragment is never sent to a server, and OAuth puts tokens there.
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def url_secrets(url: str) -> list[str]:
    """What ``mask_url(url, credential=True)`` hides: password, query values, token segments."""
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    found += [s for s in parts.path.split("/") if _TOKENISH.match(s)]
    found += _hostport(parts.netloc.rpartition("@")[2])[1]
    return [f for f in found if len(f) >= _MIN_SECRET]


def register_url(url: str) -> None:
    """Register the token-like parts of a credential URL (its password, and the query values,
    path segments and Apprise host or port tokens that ``mask_url(url, credential=True)``
    hides), so every log line masks them: the HTTP client's own ``-vv`` lines show the
    request URL as it is. Short plain values (``?format=json``) are left alone: masking them
    everywhere would garble ordinary text."""
    try:
        parts = urlsplit(url)
        found_parts = url_secrets(url)
    except ValueError:  # not a URL: nothing in it looks like one of its parts
        return
    if parts.password:
        register(parts.password)
    for found in found_parts:
        if _TOKENISH.match(found):
            register(found)


_SECRET_HEADER = re.compile(r"authorization|cookie|key|token|secret|passw|signature", re.I)


def is_secret_header(name: str) -> bool:
    """Whether a header of this name carries a credential (its value is never shown)."""
    return bool(_SECRET_HEADER.search(name))


def mask_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers safe to keep as evidence (see module docstring), in their order."""
    return [(k, MASK if is_secret_header(k) else mask(v)) for k, v in pairs]


def _hostport(hostport: str) -> tuple[str, list[str]]:
    """``hostport`` with tokens hidden, and those tokens: Apprise URLs put them where a host
    or a port would be (``tgram://123456:AAH.../chat``, ``slack://T1JJ3T3L2/...``)."""
    if hostport.startswith("["):  # an IPv6 literal: its colons are not ports
        return hostport, []
    host, colon, port = hostport.partition(":")
    tokens = []
    if "." not in host and _TOKENISH.match(host):  # a host name has a dot, or is plain
        tokens.append(host)
        host = _hide(host)
    if port and not port.isdigit():  # a port is digits
        tokens.append(port)
        port = _hide(port)
    return host + colon + port, tokens


def _hide(token: str) -> str:
    return token[:2] + MASK


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True
