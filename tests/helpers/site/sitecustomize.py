"""Loaded by every Python process a test starts (``conftest.py`` puts this directory on
``PYTHONPATH``): the socket guard of ``tests/helpers/netguard.py``, so a subprocess never
reaches outside the machine either. Refusals go to stderr, one line each."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_absence_netguard", Path(__file__).resolve().parent.parent / "netguard.py"
)
if _spec is not None and _spec.loader is not None:
    _guard = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_guard)
    _guard.install()
    sys.modules["_absence_netguard"] = _guard
