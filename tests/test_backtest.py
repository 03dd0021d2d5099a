"""`absence-monitor backtest`: replays recorded checks through the daemon's detector and
prints the alerts it would have sent (issue 7)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unicodedata import east_asian_width

import pytest
from click.testing import CliRunner, Result

from bench.detection.cases import CASES, check
from monitor.alerts.schema import AlertPayload, validate_payload
from monitor.backtest.records import parse_record
from monitor.backtest.replay import ReplaySummary, family_from_name
from monitor.cli.main import cli
from monitor.cli.output import format_summary
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.store import catalog
from monitor.store.db import create_db_engine, session_factory
from monitor.store.migrate import upgrade
from monitor.store.snapshots import record_snapshot

T0 = datetime(2024, 3, 1, tzinfo=UTC)
STEP = timedelta(hours=6)
LEVELS = (95, 100, 105, 98, 102, 97, 103, 99)
HISTORY = 24  # valid checks before the drop: past min_history, inside the short window
PAYLOAD_KEYS = set(AlertPayload.__annotations__)


def t_at(k: int) -> str:
    return (T0 + k * STEP).isoformat()


def record(k: int, count: int | None, status: str | None = None, **extra: Any) -> dict[str, Any]:
    status = status or ("ok" if count else "no_results")
    return {
        "t": t_at(k),
        "person": "Dong Jingwei",
        "term": "董经纬",
        "source": "bing",
        "status": status,
        "count": count,
        "domains": None if count is None else count // 3,
        **extra,
    }


def drop_records(zeros: int = 3) -> list[dict[str, Any]]:
    """A steady series of about 100 images, then ``zeros`` checks with none."""
    steady = [record(k, LEVELS[k % len(LEVELS)]) for k in range(HISTORY)]
    return steady + [record(HISTORY + i, 0) for i in range(zeros)]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    text = "".join(
        (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def backtest(tmp_path: Path, *args: str, config: Path | None = None, **kw: Any) -> Result:
    cfg = config or tmp_path / "no-config.yaml"
    return CliRunner().invoke(cli, ["--config", str(cfg), "backtest", *args], **kw)


def alerts_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- alerts from JSON Lines -----------------------------------------------------------------


def test_drop_gives_one_drop_alert_with_payload_fields_and_t(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    result = backtest(tmp_path, str(path))
    assert result.exit_code == 0, result.stderr
    alerts = alerts_of(result.stdout)
    assert [a["event"] for a in alerts] == ["drop"]
    alert = alerts[0]
    assert set(alert) == PAYLOAD_KEYS | {"t"}
    validate_payload({k: v for k, v in alert.items() if k != "t"})
    assert alert["t"] == "2024-03-07T06:00:00Z"  # the second check with no images
    assert (alert["person"], alert["source"], alert["observed"]) == ("Dong Jingwei", "bing", 0)
    assert alert["alert_id"] == 1
    assert alert["vanished_images"] == []
    assert [c["checked_at"] for c in alert["confirming_checks"]] == [
        "2024-03-07T00:00:00Z",
        "2024-03-07T06:00:00Z",
    ]


def test_set_confirm_checks_3_delays_the_drop_by_one_check(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    result = backtest(tmp_path, str(path), "--set", "detection.confirm_checks=3")
    assert result.exit_code == 0, result.stderr
    assert [(a["event"], a["t"]) for a in alerts_of(result.stdout)] == [
        ("drop", "2024-03-07T12:00:00Z")
    ]


def test_set_applies_over_per_source_overrides_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "people:\n  - name: Dong Jingwei\nsources:\n  bing:\n    kind: bing_images\n"
        "    detection:\n      confirm_checks: 2\n",
        encoding="utf-8",
    )
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    result = backtest(tmp_path, str(path), "--set", "confirm_checks=3", config=config)
    assert result.exit_code == 0, result.stderr
    assert [a["t"] for a in alerts_of(result.stdout)] == ["2024-03-07T12:00:00Z"]


def test_unknown_setting_exits_2_naming_it(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    result = backtest(tmp_path, str(path), "--set", "detection.drop_ration=0.2")
    assert result.exit_code == 2
    assert 'unknown setting "detection.drop_ration"' in result.stderr
    assert result.stdout == ""


def test_bad_setting_value_exits_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    result = backtest(tmp_path, str(path), "--set", "detection.drop_ratio=lots")
    assert result.exit_code == 2
    assert "--set" in result.stderr and "drop_ratio" in result.stderr


def test_alerts_go_to_output_file_and_summary_to_stderr(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    out = tmp_path / "alerts.jsonl"
    result = backtest(tmp_path, str(path), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert [a["event"] for a in alerts_of(out.read_text(encoding="utf-8"))] == ["drop"]
    assert "input: 27 lines read, 27 observations replayed, 0 skipped" in result.stderr
    for heading in ("event", "source", "person"):
        assert f"  {heading} " in result.stderr
    assert "Dong Jingwei" in result.stderr


def test_summary_table_ends_a_cjk_name_and_a_latin_name_at_the_same_column() -> None:
    summary = ReplaySummary(people=Counter({"Dong Jingwei": 2, "董经纬": 1}))
    lines = format_summary(summary, "-").splitlines()
    # 董经纬 takes six terminal cells, not three: padded with six spaces, not nine.
    assert lines[-3:] == [
        "  person        alerts",
        "  Dong Jingwei       2",
        "  董经纬             1",
    ]
    cells = {sum(2 if east_asian_width(c) in "WF" else 1 for c in line) for line in lines[-3:]}
    assert cells == {22}


def test_gzip_input_on_stdin_is_read(tmp_path: Path) -> None:
    text = "".join(json.dumps(r) + "\n" for r in drop_records())
    result = backtest(tmp_path, "-", input=gzip.compress(text.encode()))
    assert result.exit_code == 0, result.stderr
    assert [a["event"] for a in alerts_of(result.stdout)] == ["drop"]


def test_vanished_images_are_the_last_ok_checks_images_missing_now(tmp_path: Path) -> None:
    urls = [f"https://img.example/{i}.jpg" for i in range(100)]
    lines = [
        {**r, "images": urls[: r["count"]] if r["status"] == "ok" else []} for r in drop_records()
    ]
    result = backtest(tmp_path, str(write_jsonl(tmp_path / "in.jsonl", lines)))
    assert result.exit_code == 0, result.stderr
    (alert,) = alerts_of(result.stdout)
    last_ok = lines[HISTORY - 1]
    assert [v["image_url"] for v in alert["vanished_images"]] == last_ok["images"]
    assert alert["vanished_images"][0]["first_seen"] == "2024-03-01T00:00:00Z"
    assert alert["vanished_images"][0]["last_seen"] == "2024-03-06T18:00:00Z"
    assert alert["vanished_images"][0]["domain"] == "img.example"


# --- bad input ------------------------------------------------------------------------------


BAD_LINES: list[tuple[Any, str]] = [
    ("{not json", "not JSON"),
    (record(HISTORY, 5, status="captcha"), 'unknown status "captcha"'),
    ({k: v for k, v in record(HISTORY, 50).items() if k != "person"}, "missing person"),
    (record(HISTORY, 50, status="blocked"), 'count given for a failed check (status "blocked")'),
    ({**record(HISTORY, 50), "t": "2024-03-07T00:00:00"}, "t has no time zone"),
    ({**record(HISTORY, 50), "t": t_at(3)}, "time goes backwards"),
]


def bad_file(tmp_path: Path) -> tuple[Path, list[int]]:
    """The drop series with a bad line after every fourth good one; the bad line numbers."""
    lines: list[Any] = []
    numbers = []
    bad = iter(BAD_LINES)
    for i, rec in enumerate(drop_records()):
        lines.append(rec)
        if i % 4 == 3 and (nxt := next(bad, None)) is not None:
            lines.append(nxt[0])
            numbers.append(len(lines))
    assert len(numbers) == len(BAD_LINES)
    return write_jsonl(tmp_path / "input.jsonl", lines), numbers


def test_bad_lines_are_reported_with_line_numbers_skipped_and_counted(tmp_path: Path) -> None:
    path, numbers = bad_file(tmp_path)
    result = backtest(tmp_path, str(path))
    assert result.exit_code == 0, result.stderr
    for n, (_, message) in zip(numbers, BAD_LINES, strict=True):
        assert f"{path}:{n}: {message}" in result.stderr
    assert "6 skipped (6 bad, 0 blank)" in result.stderr
    # the good lines around them still tell the story
    assert [a["event"] for a in alerts_of(result.stdout)] == ["drop"]


def test_strict_exits_2_at_the_first_bad_line(tmp_path: Path) -> None:
    path, numbers = bad_file(tmp_path)
    result = backtest(tmp_path, str(path), "--strict")
    assert result.exit_code == 2
    assert f"{path}:{numbers[0]}: not JSON" in result.stderr
    assert f"{path}:{numbers[1]}:" not in result.stderr
    assert "--strict" in result.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 5, "status": "no_results"}, 'status "no_results" has count and domains 0'),
        ({"count": True}, 'status "ok" needs count as an integer >= 0, got true'),
        ({"count": None}, 'status "ok" needs count as an integer >= 0, got null'),
        ({"domains": 60}, "more domains (60) than images (50)"),
        ({"role": "boss"}, 'unknown role "boss"'),
        (
            {"status": "blocked", "count": None, "domains": None, "images": ["x"]},
            'images given for status "blocked"',
        ),
        ({"t": "yesterday"}, 't is not an ISO 8601 time: "yesterday"'),
        ({"source": ""}, "source must be a non-empty string"),
        ({"reported_total": -1}, "reported_total must be an integer >= 0"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_record_problems_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_record({**record(0, 50), **changes}, "in.jsonl:1", "default")


def test_record_without_vantage_gets_the_default_vantage() -> None:
    assert parse_record(record(0, 50), "in.jsonl:1", "home").key.vantage == "home"


def test_input_and_from_db_together_is_a_usage_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", drop_records())
    assert backtest(tmp_path, str(path), "--from-db").exit_code == 2
    assert backtest(tmp_path).exit_code == 2


def test_missing_input_file_exits_2(tmp_path: Path) -> None:
    result = backtest(tmp_path, str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl" in result.stderr


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("baidu", "chinese"),
        ("sogou_images", "chinese"),
        ("so360", "chinese"),
        ("so_images", "chinese"),
        ("bing_images", "bing"),
        ("google-cse", "google"),
        ("wikimedia_commons", "independent"),
        ("mfa_site", "independent"),
        ("sonar", "independent"),
    ],
)
def test_family_of_an_unconfigured_source_is_guessed_from_its_name(name: str, family: str) -> None:
    assert family_from_name(name) == family


# --- the database -----------------------------------------------------------------------------


def seeded_db(tmp_path: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """A SQLite database holding the drop series and a control, the config that made it,
    and the same checks as JSON Lines records."""
    db = tmp_path / "m.db"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"database:\n  url: sqlite:///{db}\npeople:\n  - name: Dong Jingwei\n"
        "sources:\n  bing:\n    kind: bing_images\n"
        "    controls: [giant panda]\n",
        encoding="utf-8",
    )
    config = parse_config(config_path.read_text(encoding="utf-8"), str(config_path), {})
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade(engine)
    urls = [f"https://img.example/{i}.jpg" for i in range(120)]
    records: list[dict[str, Any]] = []
    with session_factory(engine)() as session, session.begin():
        refs = {r.role: r for r in catalog.sync(session, config)}
        for i, r in enumerate(drop_records()):
            t = datetime.fromisoformat(r["t"])
            control = {
                **r,
                "person": "control:bing",
                "term": "giant panda",
                "status": "ok",
                "count": 110 + i % 3,
                "role": "control",
            }
            watch = {**r, "term": "Dong Jingwei", "t": (t + timedelta(seconds=30)).isoformat()}
            # The later check is stored first, as when two sources' rounds overlap: the
            # backtest must replay by time, not by snapshot id.
            for role, rec in (("watch", watch), ("control", control)):
                images = urls[: rec["count"]]
                rec["domains"] = 1 if images else 0
                rec["images"] = images
                obs = Observation(Status(rec["status"]), items=[ImageItem(u) for u in images])
                at = datetime.fromisoformat(rec["t"])
                record_snapshot(
                    session,
                    series_id=refs[role].series_id,
                    observation=obs,
                    started_at=at - timedelta(seconds=2),
                    finished_at=at,
                )
                records.append(rec)
    engine.dispose()
    return db, config_path, sorted(records, key=lambda r: r["t"])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_from_db_gives_the_alerts_of_the_same_jsonl_and_leaves_the_db_alone(
    tmp_path: Path,
) -> None:
    db, config, records = seeded_db(tmp_path)
    before = digest(db)
    from_db = backtest(tmp_path, "--from-db", config=config)
    assert from_db.exit_code == 0, from_db.stderr
    assert digest(db) == before
    jsonl = backtest(tmp_path, str(write_jsonl(tmp_path / "same.jsonl", records)), config=config)
    assert jsonl.exit_code == 0, jsonl.stderr
    alerts = alerts_of(from_db.stdout)
    assert [a["event"] for a in alerts] == ["drop"]
    assert alerts[0]["vanished_images"] != []
    assert alerts[0]["controls"][0]["term"] == "giant panda"
    assert alerts == alerts_of(jsonl.stdout)


# --- the documented cases ---------------------------------------------------------------------


@pytest.fixture(params=sorted(CASES))
def case_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    case = CASES[request.param]()
    yield request.param, case.write(tmp_path)


def test_documented_case_gives_its_expected_events(
    case_file: tuple[str, Path], tmp_path: Path
) -> None:
    name, path = case_file
    result = backtest(tmp_path, str(path))
    assert result.exit_code == 0, result.stderr
    assert check(CASES[name](), alerts_of(result.stdout)) == []
