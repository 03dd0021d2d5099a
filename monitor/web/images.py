"""Where a page's picture comes from: a kept copy, else nothing remote unless asked for.

Contract of ``Pictures(embedded, remote=...).of(image_id, thumb_url, image_url)`` (handed to
the templates as ``pictures``): opening a report or the overview must not tell the engine
who reads it, so

- a kept copy (a ``data:`` URI made by ``report_page.embedded_thumbnails``) is the ``src``;
- without one, the ``src`` is ``None`` and the page shows a placeholder with the engine's
  URL as (escaped) text, so the reader can still open it on purpose;
- only with ``remote=True`` (``report --remote-images``, which prints a warning) does the
  engine's thumbnail (else the image) become the ``src``, and only through ``safe_url``.

``img_src_policy(remote)`` is the matching CSP ``img-src``: ``data:`` only by default, so a
remote image that slipped into the markup still could not load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.core.urls import safe_url


@dataclass(frozen=True, slots=True)
class Picture:
    """What to show for one image: ``src`` (None: a placeholder) and the original URL."""

    src: str | None
    kept: bool  # the src is a kept copy embedded in the page
    original: str | None  # the engine's URL, shown as text next to a placeholder


@dataclass(frozen=True, slots=True)
class Pictures:
    """The pictures of one page: its kept copies (image id -> ``data:`` URI) and whether the
    reader opted in to remote images."""

    embedded: Mapping[int, str] = field(default_factory=dict)
    remote: bool = False

    def of(self, image_id: int | None, thumb_url: str | None, image_url: str | None) -> Picture:
        """The picture of one image (see module docstring)."""
        original = thumb_url or image_url
        kept = self.embedded.get(image_id) if image_id is not None else None
        if kept:
            return Picture(kept, True, original)
        if self.remote:
            src = safe_url(thumb_url) or safe_url(image_url)
            if src is not None:
                return Picture(src, False, original)
        return Picture(None, False, original)


def img_src_policy(remote: bool) -> str:
    """The CSP ``img-src`` of a page: remote images load only when the reader opted in."""
    return "img-src https: http: data:" if remote else "img-src data:"
