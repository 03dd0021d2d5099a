"""Vantage-aware alerts: a drop alert says what the other vantage points see of the person
on the same source at the same time ("cn-beijing: 3, de: 40"), and whether the drop is
``vantage_specific`` or seen from ``all_vantages``. One SQLite database holds two vantages'
series (written by two configs that differ only in ``vantage:``), real detector, real
``RoundCommit`` and ``write_alert``; the texts are rendered from the stored payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.alerts import render
from monitor.alerts.payload import Message, upgrade
from monitor.alerts.schema import AlertPayload, OtherVantage, validate_payload
from monitor.alerts.vantages import vantage_scope
from monitor.cli.main import cli
from monitor.store.models import Alert
from tests.helpers.vantages import Vantage, both, two_vantages, two_vantages_on


def alerts(v: Vantage) -> list[AlertPayload]:
    with v.app.sessions() as session:
        rows = session.scalars(select(Alert).order_by(Alert.id))
        return [validate_payload(upgrade(a.payload)) for a in rows]


def drops_of(v: Vantage, vantage: str) -> list[AlertPayload]:
    return [a for a in alerts(v) if a["event"] == "drop" and a["vantage"] == vantage]


def texts(payload: AlertPayload) -> tuple[str, str, str]:
    message = Message(delivery_id="d-1", alerts=[payload], channel="email")
    return render.subject(message), render.text_body(message), render.html_body(message)


def test_a_drop_seen_from_one_vantage_only_is_vantage_specific_and_names_both_counts(
    tmp_path: Path, db_url: str
) -> None:
    with two_vantages_on(db_url, tmp_path) as (cn, de):  # SQLite and PostgreSQL
        for n in range(10, 13):
            de.round(n, both(40))
            cn.round(n, both(3))
        [drop] = drops_of(cn, "cn-beijing")
        assert drops_of(cn, "de") == []
        assert drop["vantage_scope"] == "vantage_specific"
        [other] = drop["vantages"]
        assert other["vantage"] == "de" and other["sees_drop"] is False
        assert other["state"] == "normal"
        figures = {t["term"]: (t["status"], t["observed"], t["state"]) for t in other["terms"]}
        assert figures == {"Dong Jingwei": ("ok", 40, "normal"), "董经纬": ("ok", 40, "normal")}
        # The other vantage's check of the alert's round, not a later one.
        assert {t["checked_at"] for t in other["terms"]} <= {drop["checked_at"]}
        assert all(t["snapshot_id"] is not None for t in other["terms"])
        subject, text, html = texts(drop)
        assert subject.endswith("(only from cn-beijing)")
        assert "“董经纬” cn-beijing: 3 (dropped), de: 40 (normal)" in text
        assert "Seen from cn-beijing, not from de (vantage_specific)." in text
        assert "This source from each vantage" in text
        assert "cn-beijing: 3 (dropped), de: 40 (normal)" in html


def test_a_drop_seen_from_every_vantage_is_all_vantages(tmp_path: Path) -> None:
    cn, de = two_vantages(tmp_path)
    for n in range(10, 13):
        de.round(n, both(4))
        cn.round(n, both(3))
    [cn_drop] = drops_of(cn, "cn-beijing")
    [de_drop] = drops_of(cn, "de")
    for drop, other, count in ((cn_drop, "de", 4), (de_drop, "cn-beijing", 3)):
        assert drop["vantage_scope"] == "all_vantages"
        [seen] = drop["vantages"]
        assert seen["vantage"] == other and seen["sees_drop"] is True
        assert {t["observed"] for t in seen["terms"]} == {count}
    subject, text, _ = texts(cn_drop)
    assert subject.endswith("(all vantages)")
    assert "Seen from every vantage: cn-beijing, de (all_vantages)." in text


def test_a_single_vantage_alert_has_no_vantages_and_no_scope(tmp_path: Path) -> None:
    only = Vantage(tmp_path, None)
    for n in range(10):
        only.round(n, both(30))
    for n in range(10, 13):
        only.round(n, both(3))
    [drop] = drops_of(only, "default")
    assert drop["vantages"] == [] and drop["vantage_scope"] is None
    subject, text, _ = texts(drop)
    assert "vantage" not in subject
    assert "This source from each vantage" not in text and "Seen from" not in text
    # Peers on other sources are not labelled with a vantage when there is only one.
    assert all(t["vantage"] in (None, "default") for o in drop["other_sources"] for t in o["terms"])


def test_a_vantage_that_stopped_checking_cannot_tell(tmp_path: Path) -> None:
    cn, _ = two_vantages(tmp_path)
    # de's node is gone for 20 rounds (5 days, past the 3-day stale_after), then cn drops.
    for n in range(10, 30):
        cn.round(n, both(30))
    for n in range(30, 33):
        cn.round(n, both(3))
    [drop] = drops_of(cn, "cn-beijing")
    [other] = drop["vantages"]
    assert other["sees_drop"] is None and drop["vantage_scope"] is None
    assert {t["checked_at"] for t in other["terms"]} == {"2021-06-03T06:00:00Z"}  # round 9
    _, text, _ = texts(drop)
    assert "The other vantages cannot tell yet" in text


def test_a_failed_check_from_the_other_vantage_is_shown_as_failed_not_zero(
    tmp_path: Path,
) -> None:
    cn, de = two_vantages(tmp_path)
    for n in range(10, 13):
        de.round(n, {"Dong Jingwei": None, "董经纬": 40})
        cn.round(n, both(3))
    [drop] = drops_of(cn, "cn-beijing")
    [other] = drop["vantages"]
    latin = next(t for t in other["terms"] if t["term"] == "Dong Jingwei")
    assert latin["status"] == "blocked" and latin["observed"] is None
    # 董经纬 is normal there with a fresh valid check: the drop is not seen from de.
    assert drop["vantage_scope"] == "vantage_specific"
    _, text, _ = texts(drop)
    assert "“Dong Jingwei” cn-beijing: 3 (dropped), de: blocked (normal)" in text


def view(sees: bool | None) -> OtherVantage:
    return OtherVantage(vantage="x", state="normal", sees_drop=sees, terms=[])


@pytest.mark.parametrize(
    ("event", "seen", "scope"),
    [
        ("drop", [], None),
        ("drop", [False], "vantage_specific"),
        ("drop", [True], "all_vantages"),
        ("drop", [True, False], "vantage_specific"),
        ("drop", [True, None], None),
        ("drop", [None, False], "vantage_specific"),
        ("partial", [False], "vantage_specific"),
        ("recovered", [False], None),
        ("source_unhealthy", [True], None),
    ],
)
def test_vantage_scope(event: str, seen: list[bool | None], scope: str | None) -> None:
    assert vantage_scope(event, [view(s) for s in seen]) == scope


def test_a_payload_stored_before_vantages_gains_them_empty() -> None:
    stored: dict[str, Any] = {
        "schema_version": 2,
        "event": "drop",
        "alert_id": 1,
        "person": "P",
        "term": "P",
        "source": "baidu",
        "vantage": "default",
        "observed": 1,
        "baseline": 10.0,
        "baseline_window_days": 14,
        "ratio": 0.1,
        "metric": "images",
        "classification": "single_source",
        "episode": None,
        "confirming_checks": [],
        "terms": [],
        "vanished_images": [],
        "other_sources": [
            {
                "source": "bing",
                "family": "bing",
                "state": "normal",
                "terms": [
                    {"term": "P", "status": "ok", "observed": 3, "baseline": 3.0, "state": "normal"}
                ],
            }
        ],
        "controls": [],
        "people_involved": [],
        "reason": "r",
        "checked_at": "2021-06-01T00:00:00Z",
    }
    payload = validate_payload(upgrade(stored))
    assert payload["vantages"] == [] and payload["vantage_scope"] is None
    assert payload["other_sources"][0]["terms"][0]["vantage"] is None


def test_a_backtest_over_two_vantages_compares_them_as_the_daemon_does(tmp_path: Path) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    lines = []
    for k in range(27):
        t = (start + k * timedelta(hours=6)).isoformat()
        for vantage, count in (("de", 40), ("cn-beijing", 100 if k < 24 else 0)):
            lines.append(
                {
                    "t": t,
                    "person": "Dong Jingwei",
                    "term": "董经纬",
                    "source": "bing",
                    "vantage": vantage,
                    "status": "ok" if count else "no_results",
                    "count": count,
                }
            )
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "none.yaml"), "backtest", str(path)]
    )
    assert result.exit_code == 0, result.output
    replayed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    [drop] = [a for a in replayed if a["event"] == "drop"]
    assert drop["vantage"] == "cn-beijing" and drop["vantage_scope"] == "vantage_specific"
    [de] = drop["vantages"]
    assert de["vantage"] == "de" and de["sees_drop"] is False
    assert [(t["term"], t["observed"], t["state"]) for t in de["terms"]] == [
        ("董经纬", 40, "normal")
    ]
