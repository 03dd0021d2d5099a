"""A short fault campaign (``bench/faults.py``) against the real daemon: kill -9 at random
moments, the receiver down, a second ``check`` alongside, SIGSTOP/SIGCONT; nothing lost,
nothing doubled under another delivery id, the database intact after every kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults import campaign

pytestmark = pytest.mark.e2e


def test_kills_and_a_receiver_down_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    figures = campaign(kills=3, down=2.0, stop_s=1.0, seed=7, tmp=tmp_path, period=1e9)
    assert figures["kills"] == 3 and figures["integrity ok"] == 3
    assert figures["integrity at the end"] == "ok"
    assert figures["drained"] is True and figures["final daemon exit code"] == 0
    assert figures["second check exit code"] == 0
    assert figures["running after SIGSTOP/SIGCONT"] is True
    assert figures["lost"] == 0 and figures["twice, different ids"] == 0
    assert figures["twice, same delivery id"] <= figures.get("kills mid-send", 0)
    assert figures["network_error checks"] == 0
    assert figures["drop found while the receiver was down"] and figures["recovered"]
    assert figures["alerts created"] >= 2
    assert figures["alerts delivered"] == figures["alerts created"]
