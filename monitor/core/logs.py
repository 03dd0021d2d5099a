"""Logging setup: text for people, JSON lines for log shippers; secrets always masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from monitor.core.clock import iso_utc
from monitor.core.masking import MaskingFilter


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
