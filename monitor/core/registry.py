"""Plugin registries: explicit dicts ``kind -> "module:Class"``, imported lazily.

Sources and channels each keep one such dict (no directory scanning, no metaclass magic);
``load_plugin`` is the one loader both use. An unknown kind is a ``LookupError`` naming the
known ones (config.py turns it into a config error at load time).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def load_plugin(registry: Mapping[str, str], kind: str, base: type[T], what: str) -> type[T]:
    """Import and return the class registered for ``kind``; it must subclass ``base``."""
    try:
        target = registry[kind]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise LookupError(f'unknown {what} kind "{kind}" (known: {known})') from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{target} is not a {base.__name__}")
    return cls
