"""The daemon's path to person alerts (``RoundCommit`` -> ``rounds.alerting``): a person's
terms dropping in different rounds make one drop, and the person recovers with the last of
them; the later term's evidence is held by the person's alert. Real SQLite, real detector."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog
from monitor.store.models import Alert, EvidenceHold
from tests.helpers.delivery import Inbox
from tests.helpers.report import keep_thumbnail
from tests.helpers.thumbnails import photo

START = datetime(2021, 6, 1, tzinfo=UTC)


def make(tmp_path: Path, extra: str = "") -> App:
    config = parse_config(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people:\n  - {name: Dong Jingwei, aliases: [董经纬]}\n  - {name: Chen Yixin}\n"
        "sources: {baidu: {kind: baidu_images}}\n" + extra,
        "config.yaml",
        {},
    )
    app = build(config, channels=None if extra else [], clock=FakeClock(START))
    app.migrate()
    return app


def images(term: str, n: int) -> list[ImageItem]:
    return [ImageItem(f"https://img.example.cn/{term.encode().hex()}/{i}.jpg") for i in range(n)]


def play(app: App, plan: list[tuple[int, int]], channels: list[str]) -> list[list[str]]:
    """Rounds of counts for (Dong Jingwei, 董经纬), Chen Yixin at 30 throughout; the events
    of the alerts stored after each round."""
    with app.sessions() as session, session.begin():
        refs = {r.term: r for r in catalog.sync(session, app.config) if r.role == "watch"}
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=channels)
    kinds = []
    for n, (latin, chinese) in enumerate(plan):
        at = START + n * timedelta(hours=6)
        counts = {"Dong Jingwei": latin, "董经纬": chinese, "Chen Yixin": 30}
        checked = [
            Checked(ref, Observation(Status.OK, items=images(term, counts[term])), at, at)
            for term, ref in refs.items()
        ]
        commit("baidu", checked, at, "scheduled")
        with app.sessions() as session:
            kinds.append([a.event for a in session.scalars(select(Alert).order_by(Alert.id))])
    return kinds


def test_terms_dropping_in_turn_make_one_drop_and_one_recovery(tmp_path: Path) -> None:
    app = make(tmp_path)
    plan = [(30, 30)] * 10 + [(3, 30)] * 2 + [(3, 3)] * 3 + [(30, 3)] * 2 + [(30, 30)] * 2
    kinds = play(app, plan, ["email"])
    with app.sessions() as session:
        alerts = list(session.scalars(select(Alert).order_by(Alert.id)))
        holds = list(session.scalars(select(EvidenceHold)))
    assert [a.event for a in alerts] == ["drop", "recovered"]
    drop, recovered = (a.payload for a in alerts)
    assert drop["person"] == recovered["person"] == "Dong Jingwei"
    assert drop["term"] == "Dong Jingwei"  # the first to drop; 董经纬 was normal then
    assert {t["term"]: t["state"] for t in drop["terms"]} == {
        "Dong Jingwei": "dropped",
        "董经纬": "normal",
    }
    assert recovered["term"] == "董经纬"  # the person is back when their last term is
    # The drop of 董经纬 two rounds later raised nothing new: its confirming checks are
    # held by the person's drop alert (with the pre-drop answer of both terms).
    held_by_drop = [h for h in holds if h.alert_id == alerts[0].id and h.snapshot_id]
    assert len({h.snapshot_id for h in held_by_drop if h.role == "confirming"}) == 4
    assert kinds.index(["drop"]) == 11 and kinds.index(["drop", "recovered"]) == 18


@pytest.mark.e2e
def test_the_mail_of_a_drop_carries_its_kept_thumbnail_inline(tmp_path: Path) -> None:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make(
            tmp_path,
            f"alerts:\n  email: {{host: 127.0.0.1, port: {port}, security: none,\n"
            "    from: m@demo.invalid, to: [a@demo.invalid]}\n"
            "evidence: {keep_thumbnails: true}\n",
        )
        play(app, [(30, 30)] * 10 + [(3, 3)] * 2, ["email"])
        # One vanished image (lost under both names) has a kept copy.
        keep_thumbnail(app, b"Dong Jingwei".hex() + "/10.jpg", photo(10))
        clock = app.clock
        assert isinstance(clock, FakeClock)
        clock.advance(timedelta(days=30))  # past the rounds: the alert is due
        assert asyncio.run(app.dispatcher.step()).delivered == 1
    finally:
        controller.stop()
    [mail] = inbox.mails
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html_part.get_content())
    [inline] = [p for p in mail.walk() if p.get("Content-ID")]
    assert srcs == ["cid:" + str(inline["Content-ID"]).strip("<>")]
    assert inline.get_content_type() == "image/png" and inline.get_content() == photo(10)
