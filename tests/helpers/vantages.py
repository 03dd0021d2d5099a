"""Several vantages on one database, for tests: a ``Vantage`` is one vantage's monitor (a
config that differs only in ``vantage:``) writing real rounds of Baidu checks for Dong
Jingwei (two terms) into a shared SQLite file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.clock import FakeClock
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import catalog
from monitor.store.catalog import SeriesRef

START = datetime(2021, 6, 1, tzinfo=UTC)
STEP = timedelta(hours=6)


class Vantage:
    """One vantage's monitor on the shared database: its config, refs and round writer."""

    def __init__(self, tmp_path: Path, name: str | None, url: str | None = None) -> None:
        where = f"vantage: {name}\n" if name else ""
        url = url or f"sqlite:///{tmp_path / 'm.db'}"
        config = parse_config(
            f"database: {{url: '{url}'}}\n{where}"
            "people:\n  - {name: Dong Jingwei, aliases: [董经纬]}\n"
            "sources: {baidu: {kind: baidu_images}}\n",
            "config.yaml",
            {},
        )
        self.app: App = build(config, channels=[], clock=FakeClock(START))
        self.app.migrate()
        with self.app.sessions() as session, session.begin():
            self.refs: dict[str, SeriesRef] = {
                r.term: r for r in catalog.sync(session, self.app.config) if r.role == "watch"
            }
        self.commit = RoundCommit(self.app.sessions, self.app.config, {"baidu": "chinese"}, [])

    def round(self, n: int, counts: Mapping[str, int | None]) -> None:
        """Round ``n``: each term's count (``None``: the check was blocked)."""
        at = START + n * STEP
        checked = [
            Checked(ref, _observation(term, counts[term]), at, at)
            for term, ref in self.refs.items()
        ]
        self.commit("baidu", checked, at, "scheduled")


def _observation(term: str, n: int | None) -> Observation:
    if n is None:
        return Observation(Status.BLOCKED, reason="captcha")
    items = [ImageItem(f"https://img.example.cn/{term.encode().hex()}/{i}.jpg") for i in range(n)]
    return Observation(Status.OK, items=items)


def both(n: int) -> dict[str, int | None]:
    return {"Dong Jingwei": n, "董经纬": n}


def two_vantages(tmp_path: Path, url: str | None = None) -> tuple[Vantage, Vantage]:
    """cn-beijing and de on one database (SQLite in ``tmp_path`` unless ``url``), after 10
    rounds of 30 and 40 images per term."""
    cn, de = Vantage(tmp_path, "cn-beijing", url), Vantage(tmp_path, "de", url)
    for n in range(10):
        de.round(n, both(40))
        cn.round(n, both(30))
    return cn, de


@contextmanager
def two_vantages_on(url: str, tmp_path: Path) -> Iterator[tuple[Vantage, Vantage]]:
    """``two_vantages`` on the database ``url``, their connections closed afterwards (a
    PostgreSQL test database is dropped after the test)."""
    cn, de = two_vantages(tmp_path, url)
    try:
        yield cn, de
    finally:
        cn.app.engine.dispose()
        de.app.engine.dispose()
