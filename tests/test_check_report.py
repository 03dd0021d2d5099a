"""What ``check`` prints after its round (issue 16, "report lean"): the failed checks with
their reason, the series that changed notably, the alerts the round raised and one line
counting the rest; ``--all`` lists every check.

The engine is a real server on 127.0.0.1 whose answer per query each test sets: a page of
N results, or HTTP 500.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.cli.check_report import Prior, cells, change, clean, print_check_report
from monitor.cli.main import cli
from monitor.rounds.commit import CheckRow
from monitor.testing import LocalServer, Reply, Request

PEOPLE = (
    "  - name: Dong Jingwei\n    aliases: [董经纬]\n  - name: Chen Yixin\n    aliases: [陈一新]\n"
)


def page(n: int) -> str:
    return (
        "<html><body>"
        + "".join(
            f'<div class="r"><a href="https://site.example/{i}">'
            f'<img src="https://img.example/{i}.jpg"></a></div>'
            for i in range(n)
        )
        + "</body></html>"
    )


class Site:
    """A config on a database in ``tmp``; its engine answers ``counts[query]`` results
    (default 5), or HTTP 500 where that is None."""

    def __init__(self, tmp: Path, server: LocalServer, counts: dict[str, int | None]) -> None:
        self.config = tmp / "config.yaml"
        self.counts = counts
        self.config.write_text(
            f"database:\n  url: sqlite:///{tmp / 'm.db'}\npeople:\n{PEOPLE}"
            "sources:\n  site:\n    kind: html\n"
            f"    url: {server.url}/s?q={{query}}\n"
            '    item: ".r"\n    controls: [panda]\n    rate: 100/1s\n    retries: 0\n'
            "evidence:\n  keep_thumbnails: false\n",
            encoding="utf-8",
        )

    def check(self, *args: str) -> str:
        result: Result = CliRunner().invoke(cli, ["--config", str(self.config), "check", *args])
        assert result.exit_code == 0, result.output
        return result.stdout


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    counts: dict[str, int | None] = {}

    def answer(request: Request) -> Reply:
        n = counts.get(request.query["q"][0], 5)
        return Reply(status=500, body="down") if n is None else Reply(body=page(n))

    with LocalServer(answer) as server:
        yield Site(tmp_path, server, counts)


def rows_of(output: str) -> dict[str, str]:
    """The table's lines by their term (the second column)."""
    terms = ("Dong Jingwei", "董经纬", "Chen Yixin", "陈一新", "panda")
    return {
        term: line
        for line in output.splitlines()
        for term in terms
        if line.split("  ")[0] != "person" and f"  {term}  " in line
    }


def test_default_report_lists_failures_and_changes_and_counts_the_rest(site: Site) -> None:
    first = site.check()
    assert first.splitlines()[0] == "5 checks: 0 failed, 0 changed, 0 alert(s)"
    assert rows_of(first) == {}
    assert "5 series ok, unchanged (5 checked for the first time)" in first
    site.counts.update({"Chen Yixin": 2, "陈一新": None})
    second = site.check()
    assert second.splitlines()[0] == "5 checks: 1 failed, 1 changed, 0 alert(s)"
    shown = rows_of(second)
    assert set(shown) == {"Chen Yixin", "陈一新"}
    assert "http_error" in shown["陈一新"] and shown["陈一新"].endswith("failed")
    assert shown["Chen Yixin"].endswith("count 5 -> 2")
    assert "3 series ok, unchanged; check --all lists every series" in second


def test_all_lists_every_check_without_the_summary_line(site: Site) -> None:
    site.check()
    site.counts["陈一新"] = None
    output = site.check("--all")
    assert set(rows_of(output)) == {"Dong Jingwei", "董经纬", "Chen Yixin", "陈一新", "panda"}
    assert rows_of(output)["陈一新"].endswith("failed")
    assert "unchanged" not in output


def test_an_alert_is_listed_in_the_round_that_raised_it_only(site: Site) -> None:
    site.counts.update(
        {q: None for q in ("Dong Jingwei", "董经纬", "Chen Yixin", "陈一新", "panda")}
    )
    outputs = [site.check() for _ in range(5)]
    raised = [i for i, out in enumerate(outputs) if "source_unhealthy" in out]
    assert len(raised) == 1, outputs
    out = outputs[raised[0]]
    assert out.splitlines()[0] == "5 checks: 5 failed, 0 changed, 1 alert(s)"
    assert "alerts raised while this check ran" in out
    assert any(line.strip().endswith("source_unhealthy: - - site") for line in out.splitlines())


def row(**over: object) -> CheckRow:
    values: dict[str, object] = {
        "person": "P",
        "term": "P",
        "source": "s",
        "role": "watch",
        "status": "ok",
        "count": 10,
        "baseline": 10.0,
        "reason": None,
        "state": "normal",
        "snapshot_id": 1,
    }
    values.update(over)
    return CheckRow(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prior", "now", "expected"),
    [
        (None, row(), None),  # never checked: nothing to compare with
        (Prior("insufficient_data", None, None), row(), None),
        (Prior("normal", "ok", 10), row(count=11), None),  # +10%: noise
        (Prior("normal", "ok", 10), row(count=7), "count 10 -> 7"),
        (Prior("normal", "ok", 0), row(count=3), "count 0 -> 3"),
        (Prior("normal", "ok", 10), row(state="pending", count=9), "normal -> pending"),
        (Prior("dropped", "ok", 1), row(count=1), "dropped -> normal"),  # recovered
        (Prior("normal", "ok", 10), row(status="no_results", count=0), "ok -> no_results"),
        (Prior("normal", "ok", 10), row(state="-", count=10), None),  # no state this round
    ],
)
def test_change_names_what_moved_since_the_previous_check(
    prior: Prior | None, now: CheckRow, expected: str | None
) -> None:
    assert change(now, prior) == expected


def test_scraped_text_cannot_drive_the_terminal() -> None:
    out = io.StringIO()
    hostile = row(status="parse_error", count=None, reason="\x1b[2J\x1b]0;pwned\x07gone\u202e")
    print_check_report([hostile], {}, [], out)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "\u202e" not in out.getvalue()
    assert clean("a\nb") == "a\ufffdb"


def test_columns_line_up_in_terminal_cells_with_cjk_names() -> None:
    assert cells("陈一新") == 6 and cells("Chen") == 4 and cells("e\u0301") == 1
    out = io.StringIO()
    print_check_report(
        [row(person="陈一新", term="陈一新"), row(person="Chen Yixin", term="Chen")],
        {},
        [],
        out,
        show_all=True,
    )
    lines = out.getvalue().splitlines()[2:]
    # Each line's "source" column starts at the same terminal cell.
    head, *rows = lines
    starts = {cells(line[: line.index("  s  ") + 2]) for line in rows}
    assert starts == {cells(head[: head.index("source")])}, lines
