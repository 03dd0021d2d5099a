"""The daemon's path to person alerts (``RoundCommit`` -> ``rounds.alerting``): a person's
terms dropping in different rounds make one drop, and the person recovers with the last of
them; the later term's evidence is held by the person's alert, which covers every term's
episode; a term back while another is down raises nothing and shows in the final recovery;
a re-check round's alert lists every name. Real SQLite, real detector."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Sequence
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
from monitor.store.alert_episodes import covered_episodes
from monitor.store.models import Alert, Episode, EvidenceHold
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


def play(
    app: App, plan: Sequence[tuple[int | None, int | None]], channels: list[str]
) -> list[list[str]]:
    """Rounds of counts for (Dong Jingwei, 董经纬), Chen Yixin at 30 throughout; ``None``:
    that name is not checked (a re-check round, which leaves Chen Yixin out too). The events
    of the alerts stored after each round."""
    with app.sessions() as session, session.begin():
        refs = {r.term: r for r in catalog.sync(session, app.config) if r.role == "watch"}
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=channels)
    kinds = []
    for n, (latin, chinese) in enumerate(plan):
        at = START + n * timedelta(hours=6)
        recheck = latin is None or chinese is None
        counts = {"Dong Jingwei": latin, "董经纬": chinese, "Chen Yixin": None if recheck else 30}
        checked = [
            Checked(ref, Observation(Status.OK, items=images(term, count)), at, at)
            for term, ref in refs.items()
            if (count := counts[term]) is not None
        ]
        commit("baidu", checked, at, "recheck" if recheck else "scheduled")
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


def test_a_name_back_while_another_is_down_raises_nothing_and_shows_in_the_recovery(
    tmp_path: Path,
) -> None:
    app = make(tmp_path)
    # Dong Jingwei drops, 董经纬 follows, Dong Jingwei is back (董经纬 still down), then 董经纬.
    plan = [(30, 30)] * 10 + [(3, 30)] * 2 + [(3, 3)] * 3 + [(30, 3)] * 2 + [(30, 30)] * 2
    kinds = play(app, plan, ["email"])
    with app.sessions() as session:
        drop, recovered = session.scalars(select(Alert).order_by(Alert.id))
        episodes = {e.series_id: e for e in session.scalars(select(Episode))}
        by_term = (
            {c.term: c.episode_id for c in covered_episodes(session, drop.id)},
            {c.term: c.episode_id for c in covered_episodes(session, recovered.id)},
        )
        holds = list(session.scalars(select(EvidenceHold).where(EvidenceHold.alert_id == drop.id)))
    assert kinds[16] == ["drop"]  # Dong Jingwei is back in round 16: no alert
    assert all(e.state == "resolved" for e in episodes.values()) and len(episodes) == 2
    # Both names' episodes belong to the drop alert and to the recovery, in the store.
    assert by_term[0] == by_term[1] and set(by_term[0]) == {"Dong Jingwei", "董经纬"}
    terms = {t["term"]: t for t in recovered.payload["terms"]}
    assert terms["董经纬"]["event"] == "recovered" and terms["董经纬"]["confirming_checks"]
    latin = terms["Dong Jingwei"]
    assert latin["event"] == "recovered"  # it came back in an earlier round, within the episode
    assert latin["episode_id"] == by_term[0]["Dong Jingwei"]
    assert (latin["state"], latin["observed"], latin["this_round"]) == ("normal", 30, True)
    closed = episodes[next(s for s, e in episodes.items() if e.id == latin["episode_id"])]
    assert closed.closed_at is not None
    assert latin["reason"].startswith(f"recovered {closed.closed_at:%Y-%m-%dT%H:%M:%S}Z")
    # The first recovered answer of Dong Jingwei is evidence the person's drop alert holds.
    assert [h.role for h in holds].count("recovery") == 1


def test_a_partial_after_one_name_is_back_lists_that_name_as_recovered(tmp_path: Path) -> None:
    app = make(tmp_path)
    plan = [(30, 30)] * 10 + [(3, 30)] * 2 + [(3, 3)] * 3 + [(30, 3)] * 2 + [(30, 15)] * 3
    kinds = play(app, plan, ["email"])
    assert kinds[-1] == ["drop", "partial"]
    with app.sessions() as session:
        drop, partial = session.scalars(select(Alert).order_by(Alert.id))
        covered = {c.term: c.episode_id for c in covered_episodes(session, drop.id)}
    terms = {t["term"]: t for t in partial.payload["terms"]}
    assert (terms["董经纬"]["event"], terms["董经纬"]["state"]) == ("partial", "partial")
    latin = terms["Dong Jingwei"]
    assert (latin["event"], latin["episode_id"]) == ("recovered", covered["Dong Jingwei"])
    assert latin["reason"].startswith("recovered ")


def test_a_recheck_rounds_alert_lists_every_name_with_its_latest_figures(
    tmp_path: Path,
) -> None:
    app = make(tmp_path)
    # A first sign of Dong Jingwei in a scheduled round, confirmed by a re-check of that name
    # alone: 董经纬 was last checked in the scheduled round.
    kinds = play(app, [(30, 30)] * 10 + [(3, 30), (3, None)], ["email"])
    assert kinds[-1] == ["drop"]
    with app.sessions() as session:
        [drop] = session.scalars(select(Alert))
    terms = {t["term"]: t for t in drop.payload["terms"]}
    assert set(terms) == {"Dong Jingwei", "董经纬"}
    assert terms["Dong Jingwei"]["this_round"] is True
    assert terms["Dong Jingwei"]["checked_at"] == "2021-06-03T18:00:00Z"
    chinese = terms["董经纬"]
    assert (chinese["event"], chinese["state"], chinese["observed"]) == (None, "normal", 30)
    assert chinese["this_round"] is False
    assert chinese["checked_at"] == "2021-06-03T12:00:00Z"  # the scheduled round before


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
