"""Person-level alerts (``monitor.alerts.people``): a person's names and aliases are evidence
for one event. Pure tests of the grouping, the merging and the one-drop-per-episode rule as
the backtest applies it (the daemon's path is the demo's scenario in ``test_demo.py``), and of
the mail that carries the kept thumbnails inline."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from monitor.alerts import render
from monitor.alerts.payload import Message, upgrade, vanished_image
from monitor.alerts.people import Standing, group_events, merge_vanished
from monitor.alerts.schema import validate_payload
from monitor.backtest.payloads import ImageTracker, Payloads
from monitor.channels.mail import MAX_THUMB_BYTES, build_email
from monitor.core.observation import ImageItem
from monitor.detector.events import Confirmation, Event, PeerSummary
from monitor.detector.settings import DetectionSettings

T0 = datetime(2021, 6, 4, 6, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def ev(kind: str, term: str, observed: int = 3, at: datetime = T0, **kw: Any) -> Event:
    fields: dict[str, Any] = {
        "event": kind,
        "source": "baidu",
        "family": "chinese",
        "t": at,
        "reason": f"{term} changed",
        "person": "Dong Jingwei",
        "term": term,
        "vantage": "default",
        "metric": "images",
        "observed": observed,
        "baseline": 30.0,
        "baseline_window_days": 14,
        "ratio": round(observed / 30, 4),
        "episode_start": T0,
        "episode_state": {"drop": "open", "partial": "partial"}.get(kind, "resolved"),
        "confirming": (Confirmation(at, "ok", observed, None, None),),
    }
    fields.update(kw)
    return Event(**fields)


def test_one_rounds_drops_of_a_persons_terms_are_one_group_headed_by_the_deepest() -> None:
    incident = Event("source_incident", "baidu", "chinese", T0, "controls fell")
    groups = group_events([ev("drop", "Dong Jingwei", 5), incident, ev("drop", "董经纬", 3)])
    assert [[e.term for e in g] for g in groups] == [["董经纬", "Dong Jingwei"], [None]]


def test_other_people_and_other_events_are_not_grouped_together() -> None:
    other = ev("drop", "陈一新", person="Chen Yixin")
    groups = group_events([ev("drop", "董经纬"), other, ev("recovered", "Dong Jingwei", 30)])
    assert [len(g) for g in groups] == [1, 1, 1]


def test_a_person_gets_one_drop_per_episode_and_recovers_with_the_last_term() -> None:
    payloads = Payloads(ImageTracker([DetectionSettings()]))
    day = timedelta(days=1)
    rounds = [
        [ev("drop", "董经纬", 3)],
        [ev("drop", "Dong Jingwei", 4, at=T0 + day)],  # the same person, already down
        [ev("recovered", "董经纬", 30, at=T0 + 2 * day)],  # the alias is still down
        [ev("recovered", "Dong Jingwei", 29, at=T0 + 3 * day)],
    ]
    sent = [payloads.payloads(r, lambda g: []) for r in rounds]
    assert [[p["event"] for p in r] for r in sent] == [["drop"], [], [], ["recovered"]]
    assert [p["alert_id"] for r in sent for p in r] == [1, 2]


def test_a_group_payload_carries_every_terms_figures_and_the_headline() -> None:
    payloads = Payloads(ImageTracker([DetectionSettings()]))
    [p] = payloads.payloads([ev("drop", "Dong Jingwei", 5), ev("drop", "董经纬", 3)], lambda g: [])
    assert (p["term"], p["observed"], p["ratio"]) == ("董经纬", 3, 0.1)
    assert [(t["term"], t["observed"], t["event"]) for t in p["terms"]] == [
        ("董经纬", 3, "drop"),
        ("Dong Jingwei", 5, "drop"),
    ]


def test_an_image_lost_under_two_names_is_listed_once_with_both() -> None:
    day = timedelta(days=1)
    shared = ImageItem("https://img.example.cn/1.jpg", title="会议")
    merged = merge_vanished(
        {
            "董经纬": [vanished_image(shared, T0 - 9 * day, T0 - day, ["bing"])],
            "Dong Jingwei": [
                vanished_image(shared, T0 - 20 * day, T0 - 2 * day, ["commons"]),
                vanished_image(ImageItem("https://img.example.cn/2.jpg"), T0, T0),
            ],
        }
    )
    first = merged[0]
    assert [m["image_url"] for m in merged] == [shared.image_url, "https://img.example.cn/2.jpg"]
    assert first["terms"] == ["董经纬", "Dong Jingwei"]
    assert first["still_seen_on"] == ["bing", "commons"]
    assert (first["first_seen"], first["last_seen"]) == (
        "2021-05-15T06:00:00Z",
        "2021-06-03T06:00:00Z",
    )


def _message(n: int) -> Message:
    payloads = Payloads(ImageTracker([DetectionSettings()]))
    [p] = payloads.payloads([ev("drop", "董经纬")], lambda g: [])
    p["vanished_images"] = [
        vanished_image(
            ImageItem(f"https://img.example.cn/{i}.jpg", f"https://t.example.cn/{i}.jpg"), T0, T0
        )
        for i in range(n)
    ]
    return Message("d-1", [p], "email")


def test_a_mail_shows_kept_thumbnails_inline_and_never_a_remote_image() -> None:
    kept = {
        "https://img.example.cn/0.jpg": (PNG, "image/png"),
        "https://img.example.cn/1.jpg": (b"x" * (MAX_THUMB_BYTES + 1), "image/png"),  # too big
    }
    asked: list[list[str]] = []

    def lookup(alert_ids: Any, urls: Any) -> dict[str, tuple[bytes, str]]:
        assert list(alert_ids) == [1]
        asked.append(list(urls))
        return {u: kept[u] for u in urls if u in kept}

    mail = build_email(
        _message(12), sender="m@demo.invalid", to=["a@demo.invalid"], now=T0, thumbnails=lookup
    )
    assert asked == [[f"https://img.example.cn/{i}.jpg" for i in range(10)]]  # the ten shown
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    inline = [p for p in mail.walk() if p.get("Content-ID")]
    assert [p.get_content_type() for p in inline] == ["image/png"]
    assert srcs == ["cid:" + str(inline[0]["Content-ID"]).strip("<>")]
    assert inline[0].get_content() == PNG
    assert "… and 2 more in the report" in html


def test_without_kept_thumbnails_a_mail_has_no_image_at_all() -> None:
    mail = build_email(_message(3), sender="m@demo.invalid", to=["a@demo.invalid"], now=T0)
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "<img" not in html_part.get_content()


def test_a_stale_series_alert_carries_no_term_figures() -> None:
    from monitor.alerts.events import payload_of

    stale = ev("stale", "董经纬", episode_start=None, confirming=())
    payload = payload_of(stale, alert_id=1, episode=None)
    assert (payload["event"], payload["term"], payload["terms"]) == ("stale", "董经纬", [])


V1_DROP = json.loads(
    '{"schema_version":1,"event":"drop","alert_id":7,"person":"董经纬","term":"董经纬",'
    '"source":"baidu_images","vantage":null,"observed":12,"baseline":400.0,'
    '"baseline_window_days":14,"ratio":0.03,"metric":"images","classification":"corroborated",'
    '"episode":{"id":3,"started_at":"2024-05-01T11:00:00Z","state":"open"},'
    '"confirming_checks":[{"checked_at":"2024-05-01T12:00:07Z","status":"ok","observed":12}],'
    '"vanished_images":[{"image_url":"https://img.example.cn/1.jpg","thumb_url":null,'
    '"page_url":null,"title":null,"domain":null,"first_seen":"2024-04-01T00:00:00Z",'
    '"last_seen":"2024-05-01T00:00:00Z","still_seen_on":["bing_images"]}],'
    '"other_sources":[{"source":"bing_images","family":"bing","status":"ok","observed":380,'
    '"baseline":402,"state":"normal"},{"source":"bing_images","family":"bing","status":"ok",'
    '"observed":370,"baseline":400,"state":"normal"}],'
    '"controls":[],"people_involved":[],"reason":"12 images vs median 400",'
    '"checked_at":"2024-05-01T12:00:07Z"}'
)


def test_an_alert_queued_under_schema_1_goes_out_in_schema_2() -> None:
    payload = upgrade(V1_DROP)
    assert validate_payload(payload) is payload
    assert payload["schema_version"] == 2
    [term] = payload["terms"]
    assert (term["term"], term["event"], term["observed"], term["episode_id"]) == (
        "董经纬",
        "drop",
        12,
        3,
    )
    assert payload["vanished_images"][0]["terms"] == ["董经纬"]
    [bing] = payload["other_sources"]
    assert [t["observed"] for t in bing["terms"]] == [380, 370]
    text = render.text_body(Message("d-1", [payload], "email"))
    assert "- “董经纬”: 12 images vs baseline 400 (−97%), drop" in text
    assert upgrade(payload) is payload  # current payloads pass unchanged


def test_a_schema_2_alert_stored_before_terms_were_dated_gains_checked_at_and_this_round() -> None:
    payload = upgrade(V1_DROP)
    undated = {
        **payload,
        "terms": [
            {k: v for k, v in payload["terms"][0].items() if k not in ("checked_at", "this_round")}
        ],
    }
    dated = upgrade(undated)
    assert validate_payload(dated) is dated
    [term] = dated["terms"]
    assert (term["checked_at"], term["this_round"]) == ("2024-05-01T12:00:07Z", True)


def standing(term: str, observed: int, at: datetime, this_round: bool) -> Standing:
    figures = PeerSummary("baidu", "chinese", term, "default", "ok", observed, 30.0, "normal")
    return Standing(figures, at, this_round)


def test_a_name_not_checked_in_the_alerts_round_is_marked_with_its_last_check() -> None:
    payloads = Payloads(ImageTracker([DetectionSettings()]))
    earlier = T0 - timedelta(hours=6)
    [p] = payloads.payloads(
        [ev("drop", "Dong Jingwei", 3)], lambda g: [standing("董经纬", 29, earlier, False)]
    )
    assert validate_payload(p) is p
    latin, chinese = p["terms"]
    assert (latin["checked_at"], latin["this_round"]) == ("2021-06-04T06:00:00Z", True)
    assert (chinese["checked_at"], chinese["this_round"]) == ("2021-06-04T00:00:00Z", False)
    text = render.text_body(Message("d-1", [p], "email"))
    assert (
        "- “董经纬”: 29 images vs baseline 30 (−3%), normal "
        "(last checked 2021-06-04 00:00 UTC, not in this round)"
    ) in text


def test_the_backtest_lists_a_name_back_earlier_in_the_persons_recovery_as_the_daemon_does() -> (
    None
):
    payloads = Payloads(ImageTracker([DetectionSettings()]))
    day = timedelta(days=1)
    later = T0 + 3 * day
    rounds = [
        ([ev("drop", "董经纬", 3)], []),
        ([ev("drop", "Dong Jingwei", 4, at=T0 + day)], []),
        ([ev("recovered", "董经纬", 30, at=T0 + 2 * day)], []),  # the other name is down
        (
            [ev("recovered", "Dong Jingwei", 29, at=later)],
            [standing("董经纬", 31, later, True)],
        ),
    ]
    sent = [payloads.payloads(events, partial(lambda q, g: q, quiet)) for events, quiet in rounds]
    assert [[p["event"] for p in r] for r in sent] == [["drop"], [], [], ["recovered"]]
    [recovered] = sent[3]
    assert validate_payload(recovered) is recovered
    latin, chinese = recovered["terms"]
    assert (latin["term"], latin["event"]) == ("Dong Jingwei", "recovered")
    assert (chinese["term"], chinese["event"], chinese["episode_id"]) == ("董经纬", "recovered", 1)
    assert chinese["reason"].startswith("recovered 2021-06-06T06:00:00Z while another name")
    text = render.text_body(Message("d-1", [recovered], "email"))
    assert "- “董经纬”: 31 images vs baseline 30 (+3%), recovered; recovered 2021-06-06" in text
