"""Secrets known to this process, masked wherever text leaves it (logs, CLI output).

``config.py`` registers every value it substitutes from the environment into a secret-looking
key; ``MaskingFilter`` replaces them in log records; ``mask()`` does so for any string.
"""

from __future__ import annotations

import logging
import re

_secrets: set[str] = set()
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.I
)
_QUERY_SECRET = re.compile(
    r"(?P<k>[?&](?:key|api_key|apikey|token|secret|password|access_token|sig)=)[^&#\s]+", re.I
)
MASK = "***"


def register(value: str) -> None:
    """Remember ``value`` as a secret (values shorter than 4 characters are not masked:
    masking them would garble ordinary text)."""
    if len(value) >= 4:
        _secrets.add(value)


def mask(text: str) -> str:
    """``text`` with registered secrets, URL passwords and secret query values masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['k']}{MASK}", text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True
