"""What counts as a picture on Wikimedia Commons, and the User-Agent its policy asks for.

Commons holds sound, video and documents beside pictures. A file counts when its MIME type
is ``image/*``; when the answer gives none (category members, old answers) the extension
decides, and an unknown extension is not a picture. Pure functions.

The policy (https://meta.wikimedia.org/wiki/User-Agent_policy) asks unattended clients for
``client/version (contact) library/version``, the contact being an e-mail address or a web
page about the client. ``has_contact`` is how the config tells one is there.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import httpx

from monitor import __version__

# File types Commons accepts that are pictures (bitmaps and drawings).
_PICTURE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "jpe", "png", "gif", "svg", "tif", "tiff", "webp", "xcf", "bmp", "avif"}
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_WEB = re.compile(r"https?://[^\s()]+")
# Addresses that are part of our own placeholder, not somebody to reach.
_NOT_A_CONTACT = ("meta.wikimedia.org/wiki/user-agent_policy",)


def is_picture(mime: str | None, name: str) -> bool:
    """True for a picture: ``image/*`` when a MIME type is known, else by extension."""
    if mime:
        mime = mime.strip().lower()
        # DjVu is a scanned document even though its MIME type says image/vnd.djvu.
        return mime.startswith("image/") and "djvu" not in mime
    path = unquote(urlsplit(name).path if "://" in name else name)
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return ext in _PICTURE_EXTENSIONS


def commons_user_agent(contact: str | None) -> str:
    """The policy's form: ``image-absence-monitor/V (contact) python-httpx/V``."""
    who = contact.strip() if contact else "no contact set"
    return f"image-absence-monitor/{__version__} ({who}) python-httpx/{httpx.__version__}"


def has_contact(user_agent: str) -> bool:
    """True when ``user_agent`` names an e-mail address or a web page to reach its operator."""
    if _EMAIL.search(user_agent):
        return True
    return any(
        not any(p in url.lower() for p in _NOT_A_CONTACT) for url in _WEB.findall(user_agent)
    )
