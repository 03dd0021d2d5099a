"""`absence-monitor probe`: one real query through the CLI against engines on 127.0.0.1;
what it prints, what it keeps (secrets masked), its exit codes, and that what it keeps is
a working golden-test case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request
from tests.helpers.golden import Case, run_case

FIX = Path(__file__).parent / "fixtures" / "sources"
SECRET = "AIzaSyProbeSecret-0123456789"


def engine(req: Request) -> Reply:
    term = (req.query.get("word") or req.query.get("q") or [""])[0]
    if req.path == "/":
        return Reply(200, "<html>home</html>", headers={"Set-Cookie": "BAIDUID=abc; Path=/"})
    if req.path == "/search/acjson":
        name = "acjson-antiflag-1.json" if term == "blocked person" else "acjson-results.json"
        return Reply(200, (FIX / "baidu_images" / name).read_bytes(), "application/json")
    if req.path == "/customsearch/v1":
        body = (FIX / "google_cse/google-cse-v1-searchtype-image-dogs-2019.json").read_bytes()
        return Reply(200, body, "application/json; charset=UTF-8")
    return Reply(404, "not found", "text/plain")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(engine) as s:
        yield s


def config(tmp_path: Path, server: LocalServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
vantage: lab-berlin
database: {{url: "sqlite:///{tmp_path}/m.db"}}
people: [{{name: Dong Jingwei}}]
sources:
  baidu:
    kind: baidu_images
    base_url: {server.url}
    rate: 50/1s
    retries: 0
    controls: [熊猫, 长城]
  google:
    kind: google_cse
    base_url: {server.url}
    rate: 50/1s
    api_key: ${{PROBE_TEST_KEY}}
    cx: "0123456789:abcdef"
  quiet:
    kind: baidu_images
    enabled: false
    base_url: {server.url}
    rate: 50/1s
""",
        encoding="utf-8",
    )
    return path


def probe(tmp_path: Path, server: LocalServer, *args: str) -> Result:
    cfg = config(tmp_path, server)
    out = tmp_path / "probes"
    return CliRunner(env={"PROBE_TEST_KEY": SECRET}).invoke(
        cli, ["--config", str(cfg), "probe", *args, "-o", str(out)]
    )


def saved(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "probes").iterdir())


def test_probe_prints_status_counts_items_and_keys_and_exits_0(
    server: LocalServer, tmp_path: Path
) -> None:
    result = probe(tmp_path, server, "baidu", "折线图")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "probe baidu (baidu_images) for '折线图'" in out
    assert "status     ok" in out
    assert "images     1 distinct from 1 domain(s); engine total 116,812" in out
    assert "keyed on   acjson JSON: data[] (thumbURL" in out
    assert "图14 员工离职率对比折线图" in out  # the first item's title
    assert "http://mt.sohu.com/business/d20180127/219361004_753232.shtml" in out
    # It sent the query as a check would: warm-up first, then acjson with the cookie.
    assert [r.path for r in server.requests] == ["/", "/search/acjson"]
    assert server.requests[1].query["word"] == ["折线图"]


def test_probe_keeps_request_response_and_provenance(server: LocalServer, tmp_path: Path) -> None:
    assert probe(tmp_path, server, "baidu", "折线图").exit_code == 0
    [folder] = saved(tmp_path)
    assert folder.name.startswith("baidu-")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["PROVENANCE.md", "request.json", "response.expected.json", "response.json"]
    body = (folder / "response.json").read_bytes()
    assert body == (FIX / "baidu_images/acjson-results.json").read_bytes()  # unedited
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    assert request["method"] == "GET" and request["term"] == "折线图"
    assert request["url"].startswith(f"{server.url}/search/acjson?")
    assert ["cookie", "***"] in request["headers"]  # the session cookie is masked
    note = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "- vantage: lab-berlin" in note and "- date: 20" in note
    assert f"- request: GET {server.url}/search/acjson?" in note
    assert "- outcome: ok" in note


def test_what_a_probe_keeps_is_a_working_golden_case(server: LocalServer, tmp_path: Path) -> None:
    assert probe(tmp_path, server, "baidu", "折线图").exit_code == 0
    [folder] = saved(tmp_path)
    spec = json.loads((folder / "response.expected.json").read_text(encoding="utf-8"))
    case = Case("baidu_images", "probe", (folder / "response.json").read_bytes(), spec)
    status, _, result = run_case(case)
    assert status.value == spec["status"] == "ok"
    assert result is not None and len(result.items) == spec["count"] == 1
    assert result.items[0].title == spec["first"]["title"]


def test_secrets_never_reach_the_screen_or_the_files(server: LocalServer, tmp_path: Path) -> None:
    result = probe(tmp_path, server, "google", "dogs")
    assert result.exit_code == 0, result.output
    assert [r.headers["x-goog-api-key"] for r in server.requests] == [SECRET]  # it was sent...
    assert SECRET not in result.output  # ...and shown nowhere
    [folder] = saved(tmp_path)
    for path in folder.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8"), path.name
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    assert ["x-goog-api-key", "***"] in request["headers"]


def test_a_blocked_answer_exits_nonzero_and_is_kept(server: LocalServer, tmp_path: Path) -> None:
    result = probe(tmp_path, server, "baidu", "blocked person")
    assert result.exit_code == 3
    assert "status     blocked: antiFlag=1: Forbid spider access" in result.output
    [folder] = saved(tmp_path)
    assert (folder / "response.json").read_bytes().startswith(b'{"antiFlag":1')
    spec = json.loads((folder / "response.expected.json").read_text(encoding="utf-8"))
    assert spec["status"] == "blocked" and spec["reason_contains"].startswith("antiFlag=1")


def test_an_unreachable_engine_is_a_network_error_and_the_attempt_is_kept(
    tmp_path: Path,
) -> None:
    with LocalServer(engine) as gone:
        pass  # started and stopped: nothing listens on its port any more
    result = probe(tmp_path, gone, "baidu", "x")
    assert result.exit_code == 3
    assert "status     network_error" in result.output
    [folder] = saved(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["PROVENANCE.md", "request.json"]
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    assert request["url"].startswith(f"{gone.url}/search/acjson?")


def test_without_term_a_probe_uses_the_first_control(server: LocalServer, tmp_path: Path) -> None:
    assert probe(tmp_path, server, "baidu").exit_code == 0
    assert server.requests[-1].query["word"] == ["熊猫"]


def test_a_disabled_source_can_be_probed_by_name(server: LocalServer, tmp_path: Path) -> None:
    result = probe(tmp_path, server, "quiet", "x")
    assert result.exit_code == 0, result.output
    assert "probe quiet (baidu_images)" in result.output


def test_all_probes_every_enabled_source_once_with_its_first_control(
    server: LocalServer, tmp_path: Path
) -> None:
    result = probe(tmp_path, server, "--all")
    assert result.exit_code == 0, result.output
    queries = [r.query for r in server.requests if r.path != "/"]
    # baidu with its first control; google has none, so the first watched name; quiet is off.
    assert sorted((q.get("word") or q["q"])[0] for q in queries) == ["Dong Jingwei", "熊猫"]
    assert [p.name.split("-")[0] for p in saved(tmp_path)] == ["baidu", "google"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "probe: give a SOURCE to probe, or --all"),
        (("nosuch",), "SOURCE: unknown source 'nosuch' (configured: baidu, google, quiet)"),
        (("baidu", "--all"), "probe: give a SOURCE or --all, not both"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    server: LocalServer, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = probe(tmp_path, server, *args)
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert server.requests == []
