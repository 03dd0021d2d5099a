"""A short fault campaign (``bench/faults.py`` and its parts) against the real daemon: kill -9
at random moments and while an alert's POST is in flight, the receiver down, a second
``check`` alongside, SIGSTOP/SIGCONT; channels down on simulated time; a full disk; a 429
storm and a gzip bomb from one engine. Nothing lost, nothing doubled under another delivery
id, the database intact after every kill, the other host unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import fault_delivery, fault_disk, fault_engines
from bench.faults import campaign

pytestmark = pytest.mark.e2e


def test_kills_and_a_receiver_down_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    figures = campaign(kills=3, down=2.0, stop_s=1.0, seed=7, tmp=tmp_path, period=1e9)
    # Three kills at random moments and one while the drop's POST was held by the receiver.
    assert figures["kills"] == 4 and figures["integrity ok"] == 4
    assert figures["kills mid-send"] >= 1
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


def test_channels_down_on_simulated_time_deliver_everything_later_once(tmp_path: Path) -> None:
    figures = asyncio.run(fault_delivery.run(tmp_path, down_minutes=10, dispatch_every="30s"))
    assert figures["alerts created while down"] >= 1
    assert figures["dispatcher steps that tried, webhook down"] >= 2  # it kept trying
    assert figures["webhook: arrived after it came back (s)"] is not None
    assert figures["email: arrived after it came back (s)"] is not None
    assert figures["webhook delivered"] == figures["email delivered"] == figures["alerts created"]
    assert figures["lost"] == 0 and figures["twice, different ids"] == 0
    assert figures["twice, same delivery id"] == 0 and figures["mails twice"] == 0


def test_a_full_disk_is_one_line_writes_nothing_half_and_recovers(tmp_path: Path) -> None:
    figures = fault_disk.campaign(tmp_path, full_s=2.0)
    assert "refused the write" in (figures["error line"] or "")
    assert "nothing of it was written" in figures["error line"]
    assert figures["error lines with a traceback"] == 0
    assert figures["rounds stored while full"] == 0 and figures["running while full"] is True
    assert figures["integrity while full"] == "ok" and figures["rounds whole"] is True
    assert figures["next round stored after space returned (s)"] is not None
    assert figures["daemon exit code"] == 0
    assert figures["integrity at the end"] == "ok" and figures["rounds whole at the end"]


def test_a_429_storm_and_a_gzip_bomb_leave_the_other_host_alone(tmp_path: Path) -> None:
    [storm] = fault_engines.campaign(tmp_path / "storm", seconds=9.0, cases=["429 storm"])
    [bomb] = fault_engines.campaign(tmp_path / "bomb", seconds=5.0, cases=["gzip bomb"])
    assert storm["requests"] >= 2
    assert storm["sooner than the rate"] == 0 and storm["sooner than Retry-After"] == 0
    for case in (storm, bomb):
        assert case["exit code"] == 0
        assert case["good checks"] >= 3 and case["good not ok"] == 0
        assert case["good round lag max s"] < 2.0
    assert set(bomb["bad statuses"]) <= {"parse_error", "network_error", "blocked"}
