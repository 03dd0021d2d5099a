"""The daemon's jobs: every step is scheduled, retention included, each coalesced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.daemon.jobs import PRUNE_DELAY, schedule_jobs
from monitor.daemon.service import Daemon

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _jobs(tmp_path: Path) -> dict[str, object]:
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\npeople: [{{name: X}}]\n"
        "sources: {bing: {kind: bing_images, every: 6h}, baidu: {kind: baidu_images}}\n",
        "config.yaml",
        {},
    )
    app = build(config, channels=[], clock=FakeClock(NOW))
    scheduler = AsyncIOScheduler(timezone=UTC)
    schedule_jobs(scheduler, Daemon(app), app.config, app.clock, {})
    return {job.id: job for job in scheduler.get_jobs()}


def test_every_step_of_the_daemon_is_a_job(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path)
    assert set(jobs) == {
        "round:bing",
        "round:baidu",
        "rechecks",
        "dispatch",
        "retention",
        "heartbeat",
    }
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1  # type: ignore[attr-defined]


def test_retention_runs_daily_and_not_right_after_a_start(tmp_path: Path) -> None:
    job = _jobs(tmp_path)["retention"]
    trigger = job.trigger  # type: ignore[attr-defined]
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(days=1)  # evidence.prune_every's default
    assert trigger.start_date == NOW + PRUNE_DELAY
    assert job.args[0].__name__ == "prune_step"  # type: ignore[attr-defined]


def test_every_job_starts_from_the_injected_clock_not_the_wall_clock(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path)
    for name in ("rechecks", "dispatch", "heartbeat"):
        trigger = jobs[name].trigger  # type: ignore[attr-defined]
        assert trigger.start_date == NOW, name  # NOW is a simulated day in 2026
