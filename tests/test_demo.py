"""The demo: its engines speak what the real parsers read, and its story produces exactly the
alerts it promises (and none of the ones it must not), each delivered once per channel."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import re
import socket
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from monitor.core.errors import Blocked, MonitorError, ParseError
from monitor.core.observation import PageResult
from monitor.demo import script
from monitor.demo.engines import Behaviour, SimulatedEngine, State
from monitor.demo.formats import encode_objurl
from monitor.demo.results import pool, state_media
from monitor.demo.run import Demo, DemoResult, run_demo
from monitor.sources import load
from monitor.sources.baidu import decode_objurl
from monitor.sources.base import Source
from monitor.testing import Request

# --- the engines against the real parsers (no sockets: the handler is called directly) -----

SOURCES = {
    "baidu-acjson": ("baidu", "baidu_images", {"endpoint": "acjson"}),
    "baidu-html": ("baidu", "baidu_images", {"endpoint": "html"}),
    "bing": ("bing", "bing_images", {}),
    "commons": ("commons", "wikimedia_commons", {}),
}
STATE_MEDIA = {"xinhuanet.com", "people.com.cn", "news.cctv.com"}


@pytest.fixture(params=list(SOURCES))
def pair(request: pytest.FixtureRequest) -> Any:
    engine_kind, kind, options = SOURCES[request.param]
    engine = SimulatedEngine(engine_kind, script.subject_of)
    cls = load(kind)
    opts = cls.Options.model_validate({"kind": kind, "base_url": engine.url, **options})
    yield engine, cls(request.param, opts)
    engine.server.httpd.server_close()


def answer(engine: SimulatedEngine, source: Source, term: str) -> PageResult:
    """Page 0 of ``term`` as the source asks for it, answered by the engine, parsed."""
    req = source.build_request(term, 0)
    query = parse_qs(req.url.query.decode(), keep_blank_values=True)
    reply = engine.server.handler(Request(req.method, req.url.path, query, {}, b""))
    response = httpx.Response(
        reply.status,
        content=reply.encoded(),
        headers={"content-type": reply.content_type},
        request=req,
    )
    return source.parse(response, 0)


def test_normal_engine_lists_the_pool_slice_the_parser_reads_back(pair: Any) -> None:
    engine, source = pair
    engine.behave(Behaviour(tick=3))
    parsed = answer(engine, source, "董经纬")
    expected = engine.hits("董经纬", State.NORMAL, 3)
    assert [i.image_url for i in parsed.items] == [h.image_url for h in expected]
    assert [i.page_url for i in parsed.items] == [h.page_url for h in expected]
    assert all(
        i.title and "董经纬" in i.title for i in parsed.items if source.kind != "wikimedia_commons"
    )
    assert len(parsed.items) >= 6 and not parsed.no_results


def test_soft_censored_engine_keeps_only_three_state_media_pictures(pair: Any) -> None:
    engine, source = pair
    engine.behave(Behaviour(subjects={script.WATCHED: State.SOFT_CENSORED}))
    parsed = answer(engine, source, script.WATCHED)
    assert len(parsed.items) == 3
    assert {i.with_domain().domain for i in parsed.items} == STATE_MEDIA
    assert len(answer(engine, source, script.COMPARISON).items) >= 6  # others untouched


def test_erased_engine_gives_its_real_no_results_answer(pair: Any) -> None:
    engine, source = pair
    engine.behave(Behaviour(subjects={script.WATCHED: State.ERASED}))
    parsed = answer(engine, source, script.WATCHED)
    assert parsed.no_results and parsed.items == ()


def test_layout_changed_engine_is_a_parse_error_never_zero(pair: Any) -> None:
    engine, source = pair
    engine.behave(Behaviour(State.LAYOUT_CHANGED))
    with pytest.raises(ParseError):
        answer(engine, source, script.COMPARISON)


@pytest.mark.parametrize("endpoint", ["baidu-acjson", "baidu-html"])
def test_baidu_captcha_round_is_blocked_for_every_query(endpoint: str) -> None:
    engine = SimulatedEngine("baidu", script.subject_of)
    try:
        cls = load("baidu_images")
        options = {"kind": "baidu_images", "base_url": engine.url, **SOURCES[endpoint][2]}
        source = cls(endpoint, cls.Options.model_validate(options))
        engine.behave(Behaviour(State.CAPTCHA))
        for term in (script.WATCHED, "熊猫"):
            with pytest.raises(Blocked, match="百度安全验证"):
                answer(engine, source, term)
    finally:
        engine.server.httpd.server_close()


def test_captcha_is_refused_for_engines_without_a_known_captcha_page() -> None:
    engine = SimulatedEngine("bing", script.subject_of)
    try:
        with pytest.raises(ValueError, match="no known captcha"):
            engine.behave(Behaviour(State.CAPTCHA))
    finally:
        engine.server.httpd.server_close()


def test_objurl_encoding_round_trips_through_baidus_decoder() -> None:
    urls = [
        u for h in pool(script.WATCHED) + state_media("熊猫") for u in (h.image_url, h.page_url)
    ]
    assert all(decode_objurl(encode_objurl(u)) == u for u in urls)
    assert encode_objurl("http://x").startswith("ippr_z2C$qAzdH3FAzdH3F")  # as Baidu writes it


def test_flip_template_cut_to_its_first_item_is_still_a_page_the_parser_reads() -> None:
    from monitor.demo.formats import _flip_parts

    cls = load("baidu_images")
    source = cls("b", cls.Options.model_validate({"kind": "baidu_images", "endpoint": "html"}))
    request = httpx.Request("GET", "https://image.baidu.com/search/flip")
    before, envelope, after = _flip_parts()
    page = before + json.dumps(envelope, ensure_ascii=False).replace("</", "<\\/") + after
    response = httpx.Response(200, text=page, request=request)
    parsed = source.parse(response, 0)
    assert [i.image_url for i in parsed.items] == ["http://img.cwq.com/201611/581c95c35ca62.png"]


# --- the whole demo, in process, without pauses ----------------------------------------------


OUTPUT: dict[int, str] = {}
# Every address the demo's process connected to, and every name it looked up.
CONNECTED: list[object] = []
RESOLVED: list[object] = []


def _loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def demo() -> DemoResult:
    """The demo, in process; a guard on ``socket.connect`` and on name lookups records every
    attempt and refuses (raises) any that is not 127.0.0.0/8 or [::1]: no test reaches out."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_lookup = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        CONNECTED.append(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise ConnectionRefusedError(f"test guard: no connection to {address!r}")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        CONNECTED.append(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise ConnectionRefusedError(f"test guard: no connection to {address!r}")
        return real_connect_ex(sock, address)

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        RESOLVED.append(host)
        if host not in ("127.0.0.1", "::1", "localhost", None) and not _loopback(host):
            raise socket.gaierror(f"test guard: no lookup of {host!r}")
        return real_lookup(host, *args, **kwargs)

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", lookup)
        result = asyncio.run(Demo(out=out, pause=0).run())
    OUTPUT[id(result)] = out.getvalue()
    return result


@pytest.mark.e2e
def test_demo_connects_to_nothing_but_loopback_thumbnails_included(demo: DemoResult) -> None:
    assert CONNECTED, "the guard saw no connection at all: it is not in the path"
    assert [a for a in CONNECTED if not _loopback(a)] == []
    assert [h for h in RESOLVED if h not in ("127.0.0.1", "::1", "localhost")] == []
    # Thumbnails were kept (served by the engines on 127.0.0.1) and the report embeds them.
    assert demo.report is not None
    text = demo.report.read_text(encoding="utf-8")
    assert text.count('src="data:image/png;base64,') >= 3
    assert not re.search(r"<img[^>]+src=\"https?:", text)


def output(demo: DemoResult) -> str:
    """What the run printed."""
    return OUTPUT[id(demo)]


def received(demo: DemoResult) -> list[dict[str, Any]]:
    """Every alert as the webhook sink received it (signature verified)."""
    return [a for post in demo.webhook.posts for a in post.alerts]


def of(alerts: list[dict[str, Any]], event: str, source: str | None = None) -> list[dict[str, Any]]:
    return [a for a in alerts if a["event"] == event and (source is None or a["source"] == source)]


def round_of(alert: dict[str, Any]) -> int:
    from monitor.core.clock import parse_iso

    return script.round_at(parse_iso(alert["checked_at"]))


@pytest.mark.e2e
def test_demo_exits_zero_with_everything_as_scripted(demo: DemoResult) -> None:
    assert demo.verdict.problems == []
    assert demo.exit_code == 0
    assert "Everything happened as scripted." in output(demo)


@pytest.mark.e2e
def test_demo_drops_dong_jingwei_on_baidu_with_vanished_images_still_seen_elsewhere(
    demo: DemoResult,
) -> None:
    # Two names, one erasure: one drop for the person, both names' figures inside.
    [drop] = of(received(demo), "drop")
    assert (drop["source"], drop["person"]) == ("baidu", "Dong Jingwei")
    assert round_of(drop) == script.CENSORED.start  # confirmed by the 45-minute re-check
    assert drop["classification"] == "single_source"
    assert drop["observed"] == 3
    figures = {t["term"]: t for t in drop["terms"]}
    assert set(figures) == {"Dong Jingwei", "董经纬"}
    for term in figures.values():
        assert (term["event"], term["observed"]) == ("drop", 3)
        assert term["baseline"] >= 25 and term["ratio"] < 0.15
        assert len(term["confirming_checks"]) == 2
    vanished = drop["vanished_images"]
    urls = [v["image_url"] for v in vanished]
    assert len(urls) == len(set(urls)) >= 25  # each image once, though both names lost it
    assert all(v["terms"] and set(v["terms"]) <= {"Dong Jingwei", "董经纬"} for v in vanished)
    assert any(len(v["terms"]) == 2 for v in vanished)  # merged: lost under both names
    assert not {v["domain"] for v in vanished} & STATE_MEDIA
    still = Counter(s for v in vanished for s in v["still_seen_on"])
    assert still["bing"] >= 20 and still["commons"] >= 1
    # Other sources once each, with the names' figures inside; no alias as corroboration.
    assert [o["source"] for o in drop["other_sources"]] == ["bing", "commons"]
    assert all(len(o["terms"]) == 2 for o in drop["other_sources"])
    assert "other watched series" not in drop["reason"]


@pytest.mark.e2e
def test_demo_mails_the_drop_once_with_the_documented_subject_and_no_remote_image(
    demo: DemoResult,
) -> None:
    [mail] = [m for m in demo.smtp.mails if "−" in m.subject]
    assert re.fullmatch(
        r"\[absence\] Dong Jingwei \(董经纬\) on baidu: 3 images, −\d+% vs 14-day median",
        mail.subject,
    )
    plain, rich = (mail.message.get_body(preferencelist=(k,)) for k in ("plain", "html"))
    assert plain is not None and rich is not None
    text, html = plain.get_content(), rich.get_content()
    assert "- “Dong Jingwei”: 3 images vs baseline" in text
    assert "- “董经纬”: 3 images vs baseline" in text
    assert text.count("first seen") == 10  # ten images, then where the rest are
    assert re.search(r"… and \d+ more in the report", text)
    assert not re.search(r"<img[^>]+src=[\"']?https?://", html, re.I)


@pytest.mark.e2e
def test_demo_reports_bing_unhealthy_then_recovered_and_no_drop_there(demo: DemoResult) -> None:
    alerts = received(demo)
    unhealthy = of(alerts, "source_unhealthy")
    recovered = of(alerts, "source_recovered")
    assert [(a["source"], round_of(a)) for a in unhealthy] == [
        ("bing", script.LAYOUT_CHANGED.start + 3)
    ]
    assert [(a["source"], round_of(a)) for a in recovered] == [("bing", script.LAYOUT_CHANGED.stop)]
    assert [a for a in alerts if a["source"] == "bing" and a["event"] in ("drop", "partial")] == []


@pytest.mark.e2e
def test_demo_reports_dong_jingwei_recovered_on_baidu(demo: DemoResult) -> None:
    [recovered] = of(received(demo), "recovered")
    assert (recovered["source"], recovered["person"], round_of(recovered)) == (
        "baidu",
        "Dong Jingwei",
        script.RESTORED,
    )
    assert {t["term"]: t["event"] for t in recovered["terms"]} == {
        "Dong Jingwei": "recovered",
        "董经纬": "recovered",
    }


@pytest.mark.e2e
def test_demo_raises_nothing_about_chen_yixin(demo: DemoResult) -> None:
    assert [a for a in received(demo) if a["person"] == script.COMPARISON] == []


@pytest.mark.e2e
def test_demo_raises_nothing_in_baidus_captcha_round(demo: DemoResult) -> None:
    assert [a for a in received(demo) if round_of(a) == script.CAPTCHA] == []
    captcha_line = next(line for line in output(demo).splitlines() if "baidu 7 blocked" in line)
    assert "bing 6 ok" in captcha_line  # only Baidu failed that round, and it did fail


@pytest.mark.e2e
def test_demo_alerts_are_exactly_the_four_expected(demo: DemoResult) -> None:
    events = Counter(a["event"] for a in received(demo))
    assert events == {"drop": 1, "source_unhealthy": 1, "source_recovered": 1, "recovered": 1}


@pytest.mark.e2e
def test_each_alert_reaches_the_smtp_sink_and_the_webhook_sink_exactly_once(
    demo: DemoResult,
) -> None:
    stored = [int(a.payload["alert_id"]) for a in demo.alerts]
    assert len(stored) == 4
    assert demo.smtp.alert_counts() == Counter(stored)
    assert demo.webhook.alert_counts() == Counter(stored)
    assert demo.webhook.rejected == 0
    assert all(set(a.deliveries.values()) == {"delivered"} for a in demo.alerts)
    subjects = {m.subject for m in demo.smtp.mails}
    assert any(s.startswith("[absence] Dong Jingwei (董经纬) on baidu: 3 images") for s in subjects)
    assert all(m.recipients == ["analyst@demo.invalid"] for m in demo.smtp.mails)


@pytest.mark.e2e
def test_demo_removes_its_temporary_database(demo: DemoResult) -> None:
    assert not (demo.workdir / "demo.db").exists()


def test_demo_refuses_to_reuse_a_kept_database(tmp_path: Path) -> None:
    (tmp_path / "demo.db").write_bytes(b"")
    with pytest.raises(MonitorError, match="exists already"):
        asyncio.run(Demo(out=io.StringIO(), pause=0, keep=str(tmp_path)).run())


def test_demo_refuses_a_speed_that_is_not_positive() -> None:
    with pytest.raises(MonitorError, match="positive"):
        run_demo(speed=0)


@pytest.mark.e2e
def test_verdict_fails_the_demo_when_alerts_differ_from_the_script(demo: DemoResult) -> None:
    from monitor.demo.verdict import Produced, judge

    kept = [a for a in demo.alerts if a.payload["event"] != "drop"]
    fake = {**kept[0].payload, "event": "drop", "person": script.COMPARISON, "source": "bing"}
    changed = [*kept, Produced(script.CAPTCHA, fake, {"email": "delivered"})]
    verdict = judge(changed, demo.smtp.alert_counts(), demo.webhook.alert_counts(), 0)
    problems = "\n".join(verdict.problems)
    assert "drop on baidu Dong Jingwei" in problems and "got 0" in problems
    assert f"no alert about {script.COMPARISON}" in problems
    assert "no drop on Bing" in problems
