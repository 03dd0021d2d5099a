"""Finding a person by any of their names, the way a person types it.

``fold(text)`` is the form names are compared in: Unicode NFKC (full-width letters and
compatibility forms become plain ones), case-folded, whitespace collapsed; so
``dong  jingwei``, ``Dong Jingwei`` and ``ＤＯＮＧ　ＪＩＮＧＷＥＩ`` are one name, and ``董经纬``
matches itself whatever normal form it was typed in.

``resolve(query, people)`` returns the one person whose name or alias folds to the same text
as ``query``. No match, or several people sharing that name, is a ``UsageError`` that lists
what the user can type instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from monitor.core.errors import UsageError

_SHOWN = 12  # candidates listed in an error, at most


def fold(text: str) -> str:
    """``text`` in the form names are compared in (see module docstring)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def resolve(query: str, people: Mapping[str, Iterable[str]], what: str = "person") -> str:
    """The canonical name (a key of ``people``) of the one person ``query`` names;
    ``people`` maps each canonical name to its other names (aliases)."""
    wanted = fold(query)
    matches = [
        name
        for name, aliases in people.items()
        if wanted in {fold(name), *(fold(a) for a in aliases)}
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"{query!r} names several people: {_listed(matches)}; use the full name")
    known = _listed(sorted(people)) if people else "none configured"
    raise UsageError(f"no {what} named {query!r} (known: {known})")


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
