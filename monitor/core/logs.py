"""Logging setup: text for people, JSON lines for log shippers; secrets always masked.

Scraped text is hostile and may be megabytes long: every log line that carries some (an
engine's field, a reason built from a page, a scraped URL or host) passes it through
``clip``, which keeps the first ``SCRAPED_MAX`` (200) characters and says how long the
original was: ``abc… (40,000 chars)``; a check's reason is bounded at ``REASON_MAX`` (500).
The HTTP client's own lines (loggers ``httpx`` and ``httpcore``, shown with ``-vv``) get the
same bound on each argument (``ClipFilter``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from monitor.core.clock import iso_utc
from monitor.core.masking import MaskingFilter, mask

SCRAPED_MAX = 200  # characters of scraped text a log line shows
# A check's reason is prose around at most SCRAPED_MAX scraped characters (clipped where the
# reason is made); this bounds the whole of it in the check's log line.
REASON_MAX = 500


def clip(text: object, limit: int = SCRAPED_MAX) -> str:
    """``text`` as a string of at most ``limit`` characters plus, when cut, an ellipsis and
    the original length (``"abc… (40,000 chars)"``)."""
    shown = str(text)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(shown):,} chars)"


class ClipFilter(logging.Filter):
    """Clips every argument of the HTTP client's records (loggers ``httpx``, ``httpcore``
    and their children) to ``SCRAPED_MAX`` characters: httpx logs each request's URL, and
    thumbnail URLs are scraped."""

    LIBRARIES = ("httpx", "httpcore")

    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.partition(".")[0] in self.LIBRARIES
        if library and isinstance(record.args, tuple):
            record.args = tuple(
                a if isinstance(a, int | float) else _clipped(a) for a in record.args
            )
        return True


def _clipped(value: object) -> object:
    text = str(value)
    # Masked before it is cut: half a secret would no longer match the mask.
    return clip(mask(text)) if len(text) > SCRAPED_MAX else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _skip = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": iso_utc(datetime.fromtimestamp(record.created, UTC), timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._skip and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(verbose: int = 0, fmt: str = "text") -> None:
    """Configure the root logger once: ``-v`` for info, ``-vv`` for debug."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ClipFilter())
    handler.addFilter(MaskingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep that for -vv.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose > 1 else logging.WARNING)
    # Alembic announces each of its plugins and its dialect at INFO on every start.
    logging.getLogger("alembic").setLevel(logging.INFO if verbose > 1 else logging.WARNING)
