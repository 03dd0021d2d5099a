"""What one check of one query on one source observed.

``Status`` is the closed set the whole project uses. Only ``OK`` and ``NO_RESULTS`` are
observations of a count; every other status is a failed check and is never read as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from monitor.core.urls import domain_of, normalize_url


class Status(StrEnum):
    """Outcome of one check."""

    OK = "ok"
    NO_RESULTS = "no_results"  # the engine positively said nothing was found
    BLOCKED = "blocked"  # captcha, verification page, anti-spider answer, 403, persistent 429
    HTTP_ERROR = "http_error"
    NETWORK_ERROR = "network_error"
    PARSE_ERROR = "parse_error"  # layout changed, truncated, not JSON, too large
    # The engine refuses our key or API access for good (401, Google's "no access" 403):
    # not a refusal that passes, so neither ``blocked`` nor anything a retry can fix.
    CONFIG_ERROR = "config_error"

    @property
    def is_observation(self) -> bool:
        """True when the check observed a count (``ok`` or ``no_results``)."""
        return self in OBSERVATION_STATUSES


# The one definition of a valid check: the engine answered and said how many (maybe none).
OBSERVATION_STATUSES = frozenset({Status.OK, Status.NO_RESULTS})
# The same, as the strings stored in ``snapshots.status`` (for SQL ``IN``).
OBSERVATION_VALUES = tuple(sorted(s.value for s in OBSERVATION_STATUSES))


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One result: the image, its thumbnail, the page it sits on, and that page's title."""

    image_url: str
    thumb_url: str | None = None
    page_url: str | None = None
    title: str | None = None
    domain: str | None = None

    @property
    def key(self) -> str:
        """The de-duplication key: the normalised image URL."""
        return normalize_url(self.image_url)

    def with_domain(self) -> ImageItem:
        """Fill ``domain`` from the page URL (or the image URL) when the parser did not."""
        if self.domain:
            return self
        d = domain_of(self.page_url or self.image_url)
        return ImageItem(self.image_url, self.thumb_url, self.page_url, self.title, d or None)

    def __reduce__(self) -> tuple[type[ImageItem], tuple[str | None, ...]]:
        # Pickled by its fields in order: every parsed item crosses from a parse worker to
        # the main process, and a slotted dataclass's own pickling walks ``fields()`` for
        # each one (a fifth of the main process's cost per parsed page).
        return ImageItem, (self.image_url, self.thumb_url, self.page_url, self.title, self.domain)


@dataclass(frozen=True, slots=True)
class PageResult:
    """What a parser found on one response page.

    ``has_more`` tells the source whether another page of results can be requested;
    ``next_offset`` is where the engine says that page starts (360's ``lastindex`` + 1),
    ``None`` when the source counts offsets itself.
    """

    items: tuple[ImageItem, ...]
    reported_total: int | None = None
    has_more: bool = False
    no_results: bool = False
    next_offset: int | None = None


@dataclass(slots=True)
class Observation:
    """The outcome of one check, failed or not, ready to be stored as a snapshot."""

    status: Status
    reason: str | None = None
    items: list[ImageItem] = field(default_factory=list)
    reported_total: int | None = None
    http_status: int | None = None
    pages: int = 0
    elapsed_ms: int = 0
    raw: bytes | None = None  # body of the last response read, for evidence
    raw_content_type: str | None = None
    raw_url: str | None = None  # where that body came from, after redirects (masked)
    raw_request: str | None = None  # the request as sent: JSON of method, url, headers (masked)
    # ``distinct_items`` and their keys, once computed: a check's items never change after
    # it (the log line, the snapshot's plan and the round's table each ask for them).
    _distinct: list[ImageItem] | None = field(default=None, init=False, repr=False, compare=False)
    _keys: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status is not Status.OK and self.status is not Status.NO_RESULTS and self.items:
            raise ValueError("a failed check carries no items")
        if self.status is Status.NO_RESULTS and self.items:
            raise ValueError("no_results carries no items")

    @property
    def distinct_items(self) -> list[ImageItem]:
        """Items de-duplicated by normalised image URL, first occurrence wins."""
        return self._distinct if self._distinct is not None else self._dedupe()

    @property
    def distinct_keys(self) -> list[str]:
        """The ``key`` of each of ``distinct_items``, in their order."""
        if self._distinct is None:
            self._dedupe()
        return self._keys

    def _dedupe(self) -> list[ImageItem]:
        seen: set[str] = set()
        out: list[ImageItem] = []
        for item in self.items:
            k = item.key
            if k not in seen:
                seen.add(k)
                out.append(item.with_domain())
                self._keys.append(k)
        self._distinct = out
        return out

    @property
    def image_count(self) -> int | None:
        """Distinct images parsed; ``None`` for a failed check (never zero)."""
        if not self.status.is_observation:
            return None
        return len(self.distinct_items)

    @property
    def domain_count(self) -> int | None:
        """Distinct source domains; ``None`` for a failed check."""
        if not self.status.is_observation:
            return None
        return len({i.domain for i in self.distinct_items if i.domain})
