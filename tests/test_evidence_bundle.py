"""``evidence export`` and ``evidence verify``: a drop's bundle holds its pre-drop,
confirming and recovery responses (in a WARC any tool reads, with the original URLs and
fetch times) and its vanished images' kept thumbnails, the alert, the history, the vanished
list and a manifest with every hash and the snapshot-log entries; verify passes on it and
names the file or entry that was changed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core import loghash
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store.models import Alert, ArchiveCapture, EvidenceHold
from tests.helpers.report import keep_thumbnail
from tests.helpers.thumbnails import photo

START = datetime(2021, 6, 1, tzinfo=UTC)


def config_text(tmp_path: Path, extra: str = "") -> str:
    return (
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people: [{name: Dong Jingwei}]\n"
        "sources: {baidu: {kind: baidu_images}, bing: {kind: bing_images}}\n" + extra
    )


def images(n: int) -> list[ImageItem]:
    return [
        ImageItem(f"https://img.example.cn/{i}.jpg", f"https://t.example.cn/{i}.jpg")
        for i in range(n)
    ]


def play(app: App, counts: list[int]) -> dict[int, bytes]:
    """Rounds on Baidu (Bing sees every image throughout); the body of each Baidu check."""
    refs = {r.source: r for r in app.series() if r.role == "watch"}
    commit = RoundCommit(app.sessions, app.config, {"baidu": "chinese", "bing": "bing"}, [])
    bodies = {}
    for n, count in enumerate(counts):
        at = START + n * timedelta(hours=6)
        body = f"<html>round {n}: {count} images</html>".encode()
        obs = Observation(
            Status.OK,
            items=images(count),
            raw=body,
            raw_content_type="text/html",
            raw_url=f"https://image.baidu.com/search?word=x&n={n}",
            raw_request=json.dumps(
                {
                    "method": "GET",
                    "url": f"https://image.baidu.com/search?word=x&n={n}",
                    "headers": [["Host", "image.baidu.com"], ["Cookie", "***"]],
                }
            ),
            http_status=200,
        )
        rows = commit("baidu", [Checked(refs["baidu"], obs, at, at)], at, "scheduled")
        bodies[rows[0].snapshot_id or 0] = body
        bing = Observation(Status.OK, items=images(30))
        commit("bing", [Checked(refs["bing"], bing, at, at)], at, "scheduled")
    return bodies


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, bytes]]:
    """A baseline, a drop confirmed by two checks, a recovery (one database for the module:
    the tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("case")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path, "vantage: berlin-dsl\n"))
    app = build(parse_config(cfg.read_text(), str(cfg), {}), channels=[])
    app.migrate()
    bodies = play(app, [30] * 10 + [3, 3] + [30, 30])
    keep_thumbnail(app, "/7.jpg", photo(7))
    with app.sessions() as session, session.begin():
        drop = session.scalars(select(Alert).where(Alert.event == "drop")).one()
        for state in ("archived", "submitted"):  # only a confirmed capture is an archive
            session.add(
                ArchiveCapture(
                    url=f"https://image.baidu.com/search?word=x&{state}",
                    url_hash=state.encode()[:16],
                    trigger="drop",
                    trigger_key=f"drop:{drop.id}:{state}",
                    alert_id=drop.id,
                    state=state,
                    next_at=START,
                    created_at=START,
                    timestamp="20210603120000",
                    archive_url=f"https://web.archive.org/web/20210603120000/{state}",
                )
            )
    app.engine.dispose()
    return cfg, bodies


def run(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(cfg), *args])
    return result.exit_code, result.output


def drop_id(cfg: Path) -> int:
    app = build(parse_config(cfg.read_text(), str(cfg), {}), channels=[])
    with app.sessions() as session:
        return session.scalars(select(Alert.id).where(Alert.event == "drop")).one()


def test_a_drops_bundle_holds_every_kept_response_and_verifies(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path
) -> None:
    cfg, bodies = case
    out = tmp_path / "drop.zip"
    code, output = run(cfg, "evidence", "export", str(drop_id(cfg)), "-o", str(out))
    assert code == 0, output
    assert "4 response(s), 1 thumbnail(s), 4 snapshot-log entries" in output
    bundle = zipfile.ZipFile(out)
    manifest = json.loads(bundle.read("manifest.json"))
    roles = [(r["role"], r["snapshot_id"]) for r in manifest["responses"]]
    assert [r for r, _ in roles] == ["pre_drop", "confirming", "confirming", "recovery"]
    # Matched by SHA-256: each one is the body the engine sent for that check.
    # (a record's content is read while iterating: the archive is a stream)
    records = [
        (r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(bundle.read("evidence.warc.gz")))
    ]
    served = {
        int(warc.get_header("X-Absence-Snapshot")): body
        for kind, warc, _, body in records
        if kind == "response"
    }
    assert {s: hashlib.sha256(b).hexdigest() for s, b in served.items()} == {
        s: hashlib.sha256(bodies[s]).hexdigest() for _, s in roles
    }
    requests = [(warc, http) for kind, warc, http, _ in records if kind == "request"]
    assert len(requests) == 4 and requests[0][1].get_header("Cookie") == "***"
    target = requests[0][0].get_header("WARC-Target-URI")
    assert target.startswith("https://image.baidu.com/search?word=x&n=")
    assert requests[0][0].get_header("WARC-Date") == "2021-06-03T06:00:00.000000Z"
    [(thumb, data)] = [(warc, body) for kind, warc, _, body in records if kind == "resource"]
    assert thumb.get_header("WARC-Target-URI") == "https://t.example.cn/7.jpg"
    assert data == photo(7)
    # The rest: the alert, the history, the vanished images and where they still are.
    assert json.loads(bundle.read("alert.json"))["event"] == "drop"
    history = list(csv.DictReader(io.StringIO(bundle.read("history.csv").decode())))
    assert len(history) == 14 and {h["source"] for h in history} == {"baidu"}
    vanished = {
        v["image_url"]: v for v in csv.DictReader(io.StringIO(bundle.read("vanished.csv").decode()))
    }
    assert len(vanished) == 27
    assert vanished["https://img.example.cn/7.jpg"]["still_seen_on"] == "bing"
    assert vanished["https://img.example.cn/7.jpg"]["thumbnail_sha256"] == (
        hashlib.sha256(photo(7)).hexdigest()
    )
    assert manifest["vantage"] == "berlin-dsl" and manifest["tool"]["version"]
    assert [a["archive_url"] for a in manifest["archived"]] == [
        "https://web.archive.org/web/20210603120000/archived"
    ]
    entry = manifest["snapshot_log"]["entries"][0]
    assert loghash.link(entry["previous"], entry["entry"]) == entry["link"]
    assert "How to verify" in bundle.read("README.txt").decode()
    code, output = run(cfg, "evidence", "verify", str(out))
    assert code == 0 and "every file and snapshot-log entry matches" in output


def test_the_recoverys_bundle_is_the_same_case(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path
) -> None:
    cfg, _ = case
    app = build(parse_config(cfg.read_text(), str(cfg), {}), channels=[])
    with app.sessions() as session:
        recovered = session.scalars(select(Alert.id).where(Alert.event == "recovered")).one()
        assert session.scalars(
            select(EvidenceHold.role).where(EvidenceHold.alert_id == recovered)
        ).all() == ["recovery"]
    out = tmp_path / "back.zip"
    code, output = run(cfg, "evidence", "export", str(recovered), "-o", str(out))
    assert code == 0 and "4 response(s)" in output, output


def flipped(src: Path, name: str, dst: Path, at: int = 40) -> Path:
    """``src`` with one byte of member ``name`` changed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = bytearray(zin.read(info.filename))
            if info.filename == name:
                data[min(at, len(data) - 1)] ^= 0x01
            zout.writestr(info, bytes(data))
    return dst


@pytest.mark.parametrize(
    "name",
    ["README.txt", "alert.json", "evidence.warc.gz", "history.csv", "vanished.csv", "SHA256SUMS"],
)
def test_one_flipped_byte_in_a_file_is_named(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path, name: str
) -> None:
    cfg, _ = case
    out = tmp_path / "drop.zip"
    run(cfg, "evidence", "export", str(drop_id(cfg)), "-o", str(out))
    code, output = run(cfg, "evidence", "verify", str(flipped(out, name, tmp_path / "x.zip")))
    assert code == 1 and f"evidence verify: {name}: SHA-256" in output, output


def test_an_edited_manifest_breaks_its_seal(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path
) -> None:
    cfg, _ = case
    out = tmp_path / "drop.zip"
    run(cfg, "evidence", "export", str(drop_id(cfg)), "-o", str(out))
    text = zipfile.ZipFile(out).read("manifest.json").decode()
    edited = text.replace('"image_count": 3', '"image_count": 30', 1)
    assert edited != text
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(tmp_path / "x.zip", "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, edited if info.filename == "manifest.json" else zin.read(info))
    code, output = run(cfg, "evidence", "verify", str(tmp_path / "x.zip"))
    assert code == 1 and "manifest.json: its contents do not match its seal" in output


def test_export_to_a_missing_directory_is_one_line(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path
) -> None:
    cfg, _ = case
    code, output = run(cfg, "evidence", "export", "1", "-o", str(tmp_path / "nope" / "b.zip"))
    assert code == 1
    assert output == f"error: evidence export: directory {tmp_path / 'nope'} does not exist\n"


def test_an_unset_vantage_is_said_to_be_unset(
    case: tuple[Path, dict[int, bytes]], tmp_path: Path
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(case[0].parent))  # the same database, no vantage
    code, output = run(cfg, "evidence", "export", str(drop_id(cfg)), "-o", str(tmp_path / "b.zip"))
    assert code == 0, output
    manifest = json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("manifest.json"))
    assert manifest["vantage"].startswith("none configured")


def test_verify_of_a_missing_or_non_zip_file_is_one_line(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["evidence", "verify", str(tmp_path / "no.zip")])
    assert missing.exit_code == 1
    assert missing.output == f"error: evidence verify: {tmp_path / 'no.zip'} does not exist\n"
    (tmp_path / "text.zip").write_text("not a zip")
    other = CliRunner().invoke(cli, ["evidence", "verify", str(tmp_path / "text.zip")])
    assert other.exit_code == 1 and other.output.count("\n") == 1
    assert "is not a zip file" in other.output
