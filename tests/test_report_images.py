"""No remote content by default: the report and the overview load nothing from the engines.

Kept thumbnails are embedded as ``data:`` URIs, an image without a kept copy is a placeholder
naming its URL as text, and the CSP's ``img-src`` is ``data:`` only; ``report
--remote-images`` opts in (with a warning) and only then do engine URLs become ``src``.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from monitor.cli.main import cli
from monitor.web.images import Pictures
from monitor.web.overview_page import overview_html
from monitor.web.report_page import report_document
from tests.helpers.report import (
    Seeded,
    config_text,
    keep_thumbnail,
    person_page,
    report_file,
    seed_report_app,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    s = seed_report_app(tmp_path)
    keep_thumbnail(s.app, "/c.jpg", PNG)
    return s


def csp(doc: lxml_html.HtmlElement) -> str:
    return str(doc.xpath("string(//meta[@http-equiv='Content-Security-Policy']/@content)"))


def remote_sources(doc: lxml_html.HtmlElement) -> list[str]:
    """Every image, script or stylesheet source that would be fetched from a server."""
    urls = doc.xpath("//img/@src | //script/@src | //link[@rel='stylesheet']/@href")
    return [u for u in urls if not u.startswith("data:")]


def test_report_embeds_kept_copies_and_loads_nothing_remote(seeded: Seeded, tmp_path: Path) -> None:
    text = report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    doc = lxml_html.fromstring(text)
    assert remote_sources(doc) == []
    assert not re.search(r"<img[^>]+src\s*=\s*[\"']?\s*https?:", text, re.I)
    srcs = doc.xpath("//ul[@class='gallery']//img/@src")
    assert srcs == [f"data:image/png;base64,{base64.b64encode(PNG).decode()}"]
    assert "img-src data:;" in csp(doc) and "https:" not in csp(doc)


def test_images_without_a_kept_copy_show_their_url_as_text(seeded: Seeded, tmp_path: Path) -> None:
    text = report_file(seeded.app, [], tmp_path / "r.html").read_text(encoding="utf-8")
    doc = lxml_html.fromstring(text)
    placeholders = [p.text_content() for p in doc.xpath("//span[@class='placeholder']")]
    assert len(placeholders) == 3  # b, d and the hostile one; c is kept
    assert "no kept copyhttps://img.test/thumb/b.png" in placeholders
    assert "no kept copyjavascript:alert(3)" in placeholders  # text, never a link
    # The engine's URLs remain links the reader may follow on purpose, never loaded sources.
    assert "https://img.test/thumb/b.png" not in doc.xpath("//@src")


def test_the_daemon_pages_load_nothing_remote(seeded: Seeded) -> None:
    page = lxml_html.fromstring(person_page(seeded.app, "Chen Yixin"))
    assert remote_sources(page) == [] and "img-src data:;" in csp(page)
    overview = lxml_html.fromstring(
        overview_html(seeded.app.sessions, seeded.app.config, now=seeded.app.clock())
    )
    assert remote_sources(overview) == [] and "img-src data:;" in csp(overview)


def test_remote_images_opt_in_loads_the_engines_thumbnails(seeded: Seeded) -> None:
    from monitor.report.data import person_view

    with seeded.app.sessions() as session:
        view = person_view(session, seeded.app.config, "Chen Yixin")
    doc = lxml_html.fromstring(
        report_document([view], generated=seeded.app.clock(), remote_images=True)
    )
    srcs = doc.xpath("//ul[@class='gallery']//img/@src")
    assert sorted(srcs) == [f"https://img.test/thumb/{n}.png" for n in "bcd"]
    assert "img-src https: http: data:" in csp(doc)
    # The hostile javascript: URL still never becomes a src.
    assert len(doc.xpath("//span[@class='placeholder']")) == 1


def test_pictures_prefer_the_kept_copy_and_never_use_unsafe_urls() -> None:
    pictures = Pictures({1: "data:image/png;base64,AA=="}, remote=True)
    assert pictures.of(1, "https://t/1.png", None).kept
    assert pictures.of(2, "javascript:x", "https://i/2.jpg").src == "https://i/2.jpg"
    assert pictures.of(3, "javascript:x", "data:x").src is None
    assert Pictures({}, remote=False).of(2, "https://t/2.png", None).src is None
    assert Pictures({}, remote=False).of(2, "https://t/2.png", None).original == "https://t/2.png"


def test_cli_report_remote_images_warns(seeded: Seeded, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path / "m.db"), encoding="utf-8")
    out = tmp_path / "cli.html"
    quiet = CliRunner().invoke(cli, ["--config", str(cfg), "report", "-o", str(out)])
    assert quiet.exit_code == 0, quiet.output
    assert "warning" not in quiet.output
    assert remote_sources(lxml_html.fromstring(out.read_text("utf-8"))) == []
    loud = CliRunner().invoke(
        cli, ["--config", str(cfg), "report", "--remote-images", "-o", str(out)]
    )
    assert loud.exit_code == 0, loud.output
    assert "warning: --remote-images" in loud.stderr and "reader's address" in loud.stderr
    remote = remote_sources(lxml_html.fromstring(out.read_text("utf-8")))
    assert sorted(remote) == ["https://img.test/thumb/b.png", "https://img.test/thumb/d.png"]
