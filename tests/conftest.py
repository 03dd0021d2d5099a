"""Shared fixtures. Helpers shared by test modules live in ``tests/helpers/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core import masking

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty registry of secrets (``core.masking``) for one test, the previous one back
    afterwards: what the test registers is masked in no other test."""
    monkeypatch.setattr(masking, "_secrets", set())
