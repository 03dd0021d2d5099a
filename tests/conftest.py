"""Shared fixtures. Helpers shared by test modules live in ``tests/helpers/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.core import masking
from tests.helpers import netguard
from tests.helpers.backends import db_url  # noqa: F401  (SQLite and PostgreSQL, for any test)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty registry of secrets (``core.masking``) for one test, the previous one back
    afterwards: what the test registers is masked in no other test."""
    monkeypatch.setattr(masking, "_secrets", set())


@pytest.fixture(autouse=True, scope="session")
def _only_loopback() -> Iterator[None]:
    """No test reaches outside the machine: a name lookup of anything but a loopback name,
    or a connection to anything but 127.0.0.0/8 and [::1], raises in the test process (what
    the address guard or a scraped URL would otherwise have sent out)."""
    with pytest.MonkeyPatch.context() as mp:
        netguard.install(mp.setattr)
        site = str(Path(__file__).parent / "helpers" / "site")
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")])))
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say what the socket guard refused (a test that tried to leave the machine)."""
    if netguard.REFUSED:
        print(f"\nnetguard refused: {sorted(set(netguard.REFUSED))}")
