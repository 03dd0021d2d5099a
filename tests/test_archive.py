"""Public archiving (issue 12, item 7): the Save Page Now queue against a local server that
speaks the SPN2 protocol, its error answers and its rate-limit replies."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.evidence.archive import Archiver
from monitor.store import catalog
from monitor.store.models import ArchiveCapture, EvidenceHold, RawResponse
from monitor.store.outbox import enqueue
from monitor.store.snapshots import record_snapshot
from monitor.testing import LocalServer, Reply
from tests.helpers.spn2 import KEY, SECRET, TIMESTAMP, Archive, error

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class World:
    app: App
    clock: FakeClock
    archive: Archive
    server: LocalServer
    series: dict[tuple[str, str], int]

    def archiver(self) -> Archiver:
        archiver = self.app.archiver()
        assert archiver is not None
        return archiver

    def captures(self) -> list[ArchiveCapture]:
        with self.app.sessions() as session:
            rows = list(session.scalars(select(ArchiveCapture).order_by(ArchiveCapture.id)))
            session.expunge_all()
            return rows

    def see(self, role: str, *pages: str) -> None:
        """A check of the watched (or control) series that sees images on ``pages``."""
        items = [
            ImageItem(f"https://img.test/{abs(hash(p))}-{i}.jpg", None, p, "t")
            for i, p in enumerate(pages)
        ]
        with self.app.sessions() as session, session.begin():
            record_snapshot(
                session,
                series_id=self.series[("baidu", role)],
                observation=Observation(Status.OK, items=items),
                started_at=self.clock(),
                finished_at=self.clock(),
            )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    archive = Archive()
    server = archive.serve()
    config = parse_config(
        f"""\
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people: [{{name: Dong Jingwei}}]
sources:
  baidu: {{kind: baidu_images, controls: [giant panda]}}
evidence:
  archive:
    wayback:
      enabled: true
      access_key: ${{IA_KEY}}
      secret_key: ${{IA_SECRET}}
      url: {server.url}
      rate: 2/1m
      poll_every: 30s
      max_attempts: 3
""",
        "config.yaml",
        {"IA_KEY": KEY, "IA_SECRET": SECRET},
    )
    clock = FakeClock(T0)
    app = build(config, channels=[], clock=clock)
    app.migrate()
    with app.sessions() as session, session.begin():
        refs = catalog.sync(session, config)
        series = {(r.source, r.role): r.series_id for r in refs}
    try:
        yield World(app, clock, archive, server, series)
    finally:
        server.stop()


async def step(world: World, archiver: Archiver | None = None) -> Archiver:
    archiver = archiver or world.archiver()
    await archiver.step()
    return archiver


async def test_history_is_not_archived_only_what_is_seen_after_enabling(world: World) -> None:
    world.see("watch", "https://news.test/old")
    archiver = await step(world)  # the first step only sets the cursors
    assert world.captures() == [] and world.archive.submitted == []
    world.see("watch", "https://news.test/new")
    await archiver.step()
    assert [c.url for c in world.captures()] == ["https://news.test/new"]
    await archiver.aclose()


async def test_pages_of_a_watched_person_are_archived_only_once_the_status_confirms(
    world: World,
) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a", "https://news.test/a", "javascript:alert(1)")
    world.see("control", "https://zoo.test/panda")  # controls are not evidence
    await archiver.step()
    [capture] = world.captures()
    assert (capture.url, capture.trigger, capture.state) == (
        "https://news.test/a",
        "first_seen",
        "submitted",
    )
    assert capture.archive_url is None  # a submission is not an archive
    world.clock.advance(timedelta(seconds=30))
    await archiver.step()  # the job is still pending
    assert world.captures()[0].state == "submitted"
    world.clock.advance(timedelta(seconds=30))
    await archiver.step()
    [capture] = world.captures()
    assert capture.state == "archived" and capture.timestamp == TIMESTAMP
    assert capture.archive_url == f"{world.server.url}/web/{TIMESTAMP}/https://news.test/a"
    assert world.archive.submitted == ["https://news.test/a"]
    await archiver.aclose()


async def test_the_budget_holds_across_a_restart(world: World) -> None:
    archiver = await step(world)
    world.see("watch", *(f"https://news.test/{n}" for n in range(5)))
    await archiver.step()
    assert len(world.archive.submitted) == 2  # rate 2/1m
    await archiver.aclose()
    restarted = await step(world)  # a new process, same minute: the budget is spent
    assert len(world.archive.submitted) == 2
    world.clock.advance(timedelta(minutes=1))
    await restarted.step()
    assert len(world.archive.submitted) == 4
    states = [c.state for c in world.captures()]
    assert states.count("queued") == 1 and "failed" not in states
    await restarted.aclose()


async def test_a_429_stops_the_steps_submissions_and_honours_retry_after(world: World) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a", "https://news.test/b")
    world.archive.replies.append(Reply(429, "slow down", "text/plain", {"Retry-After": "120"}))
    await archiver.step()
    assert world.archive.submitted == ["https://news.test/a"]  # b was not tried
    first = world.captures()[0]
    assert first.state == "queued" and first.attempts == 0  # a refusal uses no attempt
    assert first.next_at == T0 + timedelta(seconds=120)
    assert "429" in (first.error or "")
    await archiver.aclose()


async def test_a_session_limit_answer_waits_without_using_an_attempt(world: World) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a")
    world.archive.replies.append(error("error:user-session-limit", "too many sessions"))
    await archiver.step()
    [capture] = world.captures()
    assert (capture.state, capture.attempts) == ("queued", 0)
    assert "error:user-session-limit" in (capture.error or "")
    world.clock.advance(timedelta(minutes=5))
    await archiver.step()
    assert world.captures()[0].state == "submitted"
    await archiver.aclose()


async def test_a_url_the_archive_refuses_for_good_is_failed_with_its_reason(
    world: World,
) -> None:
    world.archive.pending_polls = 0
    world.archive.job_errors["https://blocked.test/x"] = "error:blocked-url"
    archiver = await step(world)
    world.see("watch", "https://blocked.test/x")
    await archiver.step()
    world.clock.advance(timedelta(seconds=30))
    await archiver.step()
    [capture] = world.captures()
    assert capture.state == "failed" and capture.archive_url is None
    assert "error:blocked-url" in (capture.error or "")
    await archiver.aclose()


async def test_transient_failures_give_up_after_max_attempts(world: World) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a")
    for _ in range(3):
        world.archive.replies.append(Reply(503, "busy", "text/plain"))
    for _ in range(3):
        await archiver.step()
        world.clock.advance(timedelta(hours=1))
    [capture] = world.captures()
    assert capture.state == "failed" and "gave up after 3 submissions" in (capture.error or "")
    assert len(world.archive.submitted) == 3
    await archiver.aclose()


async def test_refused_keys_pause_the_job_and_are_logged_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a")
    world.archive.replies.extend([error("error:unauthorized", "no", 401)] * 2)
    with caplog.at_level(logging.ERROR, logger="monitor.evidence.archive"):
        await archiver.step()
        await archiver.step()  # paused: nothing sent
        world.clock.advance(timedelta(hours=1, seconds=1))
        await archiver.step()
    assert len(world.archive.submitted) == 2
    assert [c.state for c in world.captures()] == ["queued"]
    assert sum("refused our keys" in r.message for r in caplog.records) == 1
    await archiver.aclose()


async def test_a_drop_archives_the_engines_result_url_first_and_never_a_secret(
    world: World,
) -> None:
    archiver = await step(world)
    world.see("watch", "https://news.test/a")
    series = world.series[("baidu", "watch")]
    plain = "https://image.baidu.com/search/acjson?word=%E8%91%A3&pn=0"
    with world.app.sessions() as session, session.begin():
        alert = enqueue(session, payload={"event": "drop"}, channels=[], now=T0)
        alert.event = "drop"
        for url in (plain, plain, "https://api.test/search?q=x&key=***"):
            snap = record_snapshot(
                session,
                series_id=series,
                observation=Observation(Status.OK, items=[]),
                started_at=T0,
                finished_at=T0,
            )
            session.add(
                RawResponse(
                    snapshot_id=snap.id,
                    created_at=T0,
                    sha256="0" * 64,
                    size=0,
                    body_gz=b"",
                    reason="confirming",
                    request=json.dumps({"method": "GET", "url": url, "headers": []}),
                )
            )
            session.add(
                EvidenceHold(
                    alert_id=alert.id, role="confirming", snapshot_id=snap.id, created_at=T0
                )
            )
        alert_id = alert.id
    world.archive.replies.clear()
    await archiver.step()
    drops = [c for c in world.captures() if c.trigger == "drop"]
    assert [(c.url, c.trigger_key) for c in drops] == [(plain, f"alert:{alert_id}")]
    assert world.archive.submitted[0] == plain  # drops go before pages
    assert not any("key=" in u for u in world.archive.submitted)
    await archiver.aclose()


def test_enabling_without_keys_is_a_config_error(tmp_path: Path) -> None:
    from monitor.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"evidence\.archive\.wayback"):
        parse_config(
            "people: [{name: X}]\nsources: {b: {kind: bing_images}}\n"
            "evidence: {archive: {wayback: {enabled: true}}}\n",
            "config.yaml",
            {},
        )


async def test_evidence_archived_lists_captures_without_control_characters(
    world: World, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from monitor.cli.main import cli

    archiver = await step(world)
    world.see("watch", "https://news.test/a\x1b[31m")
    await archiver.step()
    await archiver.aclose()
    db = world.app.engine.url.database
    (tmp_path / "c.yaml").write_text(
        "people: [{name: Dong Jingwei}]\nsources: {baidu: {kind: baidu_images}}\n"
    )
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(tmp_path / "c.yaml"),
            "--database",
            f"sqlite:///{db}",
            "evidence",
            "archived",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "submitted" in result.output and "first_seen" in result.output
    assert "\x1b" not in result.output and "\\x1b" in result.output


async def test_every_image_on_an_archived_page_links_the_copy(world: World) -> None:
    from monitor.store.archive import archived_pages
    from monitor.store.models import Image

    world.archive.pending_polls = 0
    archiver = await step(world)
    world.see("watch", "https://news.test/a", "https://news.test/a", "https://news.test/b")
    await archiver.step()  # rate 2/1m: both pages submitted
    world.clock.advance(timedelta(seconds=30))
    await archiver.step()
    await archiver.aclose()
    with world.app.sessions() as session:
        ids = dict(session.execute(select(Image.id, Image.page_url)).all())
        links = archived_pages(session, ids)
    copy = f"{world.server.url}/web/{TIMESTAMP}/https://news.test/a"
    assert sorted(links.values()).count(copy) == 2
    assert len(links) == 3
