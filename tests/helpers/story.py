"""A demo-like history written through the daemon's own round commit (real detector, real
person alerts, real evidence holds), for the tests of the report's story and gallery.

Rounds every 6 hours from 2021-06-01 on baidu and bing; Dong Jingwei (alias 董经纬) and
Chen Yixin (alias 陈一新) on both:

- rounds 0-9: everything normal. Dong's 30 photos under both names on baidu, and one more
  (``ZH_ONLY``) under 董经纬 alone; 20 of them on bing.
- round 5: six of Chen Yixin's baidu images are replaced by six others (his count stays
  30): images leave his results, but he is never alerted.
- rounds 10-17: baidu shows only three state-media pictures for both of Dong's names: one
  drop for the person (round 11), both names' figures inside.
- rounds 18-21: no round at all on either source (a silence of 30 hours).
- rounds 22-27: baidu shows Dong's photos again; the state-media pictures leave the
  results (they must not count as vanished); one recovery (round 23).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog

START = datetime(2021, 6, 1, tzinfo=UTC)
STEP = timedelta(hours=6)
ROUNDS = 28
CENSORED = range(10, 18)
SILENT = range(18, 22)
DONG, DONG_ZH, CHEN = "Dong Jingwei", "董经纬", "Chen Yixin"
ZH_ONLY = "https://img.example.cn/dong/zh-only.jpg"
STATE_MEDIA = [f"https://www.xinhuanet.com/photo/{k}.jpg" for k in range(3)]


def dong_photos(n: int = 30) -> list[ImageItem]:
    return [
        ImageItem(
            f"https://img.example.cn/dong/{i}.jpg",
            None,
            f"https://news.example.cn/dong/{i}.html",
            f"Dong Jingwei photo {i}",
        )
        for i in range(n)
    ]


def chen_photos(round_no: int) -> list[ImageItem]:
    first = 6 if round_no >= 5 else 0
    return [ImageItem(f"https://img.example.cn/chen/{i}.jpg") for i in range(first, first + 30)]


def items(source: str, term: str, n: int) -> list[ImageItem]:
    if term in (CHEN, "陈一新"):
        return chen_photos(n)[:20] if source == "bing" else chen_photos(n)
    if source == "bing":
        return dong_photos(20)
    if n in CENSORED:
        return [ImageItem(u, None, u.replace(".jpg", ".html"), "Xinhua") for u in STATE_MEDIA]
    extra = [ImageItem(ZH_ONLY, None, None, "only under the Chinese name")]
    return dong_photos() + (extra if term == DONG_ZH else [])


def config_text(db: Path) -> str:
    return (
        f"database: {{url: 'sqlite:///{db}'}}\n"
        "people:\n"
        "  - {name: Dong Jingwei, aliases: [董经纬]}\n"
        "  - {name: Chen Yixin, aliases: [陈一新]}\n"
        "sources:\n"
        "  baidu: {kind: baidu_images, every: 6h}\n"
        "  bing: {kind: bing_images, every: 6h}\n"
    )


def seed_story(
    tmp_path: Path, rounds: int = ROUNDS, bing_blocked: range = range(0)
) -> App:
    """The history in the module docstring, cut after ``rounds`` rounds, with bing answering
    a captcha in the rounds of ``bing_blocked``; the app's clock is just after the last round."""
    config = parse_config(config_text(tmp_path / "story.db"), "config.yaml", {})
    clock = FakeClock(START + rounds * STEP)
    app = build(config, channels=[], clock=clock)
    app.migrate()
    with app.sessions() as session, session.begin():
        refs = [r for r in catalog.sync(session, config) if r.role == "watch"]
    commit = RoundCommit(app.sessions, config, {"baidu": "chinese", "bing": "bing"}, channels=[])
    for n in range(rounds):
        if n in SILENT:
            continue
        at = START + n * STEP
        for source in ("baidu", "bing"):
            checked = []
            for ref in (r for r in refs if r.source == source):
                found = items(source, ref.term, n)
                body = " ".join(i.image_url for i in found).encode()
                obs = Observation(Status.OK, items=found, raw=body, raw_content_type="text/plain")
                if source == "bing" and n in bing_blocked:
                    obs = Observation(Status.BLOCKED, reason="captcha page")
                checked.append(Checked(ref, obs, at, at))
            commit(source, checked, at, "scheduled")
    return app
