"""With evidence.keep_thumbnails, a round keeps a local copy of each new thumbnail."""

from __future__ import annotations

import io
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from monitor.cli.main import cli
from monitor.testing import LocalServer, Reply, Request

pytestmark = pytest.mark.e2e


def png(name: str) -> bytes:
    """A distinct picture per name (flat colours would share one perceptual hash)."""
    rng = random.Random(name)
    img = PILImage.new("L", (64, 48))
    img.putdata([rng.randrange(256) for _ in range(64 * 48)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_check_keeps_thumbnails_first_seen_in_the_round(tmp_path: Path) -> None:
    def handler(req: Request) -> Reply:
        if req.path.startswith("/img/"):
            return Reply(200, png(req.path.rsplit("/", 1)[1]), "image/png")
        items = "".join(
            f'<div class="r"><a href="/page/{c}"><img src="/img/{c}">photo {c}</a></div>'
            for c in ("red", "green", "blue")
        )
        return Reply(200, f"<html><body>{items}</body></html>")

    with LocalServer(handler) as server:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people: [{{name: Dong Jingwei}}]
sources:
  news:
    kind: html
    url: "{server.url}/search?q={{query}}"
    item: div.r
    rate: 50/1s
evidence: {{keep_thumbnails: true}}
""",
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["--config", str(cfg), "check"])
        assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "m.db") as conn:
        kept = conn.execute("select count(*), count(distinct phash) from thumbnails").fetchone()
    assert kept == (3, 3)
    files = list((tmp_path / "m-thumbnails").rglob("*"))
    assert len([f for f in files if f.is_file()]) == 3


def test_a_round_never_fetches_thumbnails_from_internal_addresses(tmp_path: Path) -> None:
    """The result page lists one thumbnail on its own (configured) host, one on another
    loopback listener, one on the cloud metadata address: only the first is fetched, and
    the refusals are counted in the metrics."""
    import asyncio

    from monitor.app import build
    from monitor.config import parse_config
    from monitor.core.metrics import Metrics

    with LocalServer(lambda req: Reply(200, png("inside"), "image/png")) as inside:

        def handler(req: Request) -> Reply:
            if req.path.startswith("/img/"):
                return Reply(200, png(req.path), "image/png")
            srcs = ("/img/own", f"{inside.url}/img/secret", "http://169.254.169.254/latest/x")
            items = "".join(
                f'<div class="r"><a href="/page/{n}"><img src="{s}">photo {n}</a></div>'
                for n, s in enumerate(srcs)
            )
            return Reply(200, f"<html><body>{items}</body></html>")

        with LocalServer(handler) as server:
            config = parse_config(
                f"""
database: {{url: "sqlite:///{tmp_path / "m.db"}"}}
people: [{{name: Dong Jingwei}}]
sources:
  news: {{kind: html, url: "{server.url}/search?q={{query}}", item: div.r, rate: 50/1s}}
""",
                "config.yaml",
                {},
            )
            app = build(config, channels=[])
            app.metrics = Metrics()
            app.migrate()

            async def run() -> None:
                async with app.fetcher() as fetcher:
                    await app.rounds(fetcher).run_all(app.series())

            asyncio.run(run())
        assert inside.requests == []
    assert [r.path for r in server.requests if r.path.startswith("/img/")] == ["/img/own"]
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("select count(*) from thumbnails").fetchone() == (1,)
    assert app.metrics.refused._value.get() == 2
