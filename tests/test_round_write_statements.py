"""A round's write is a few statements whatever its size (``store.snapshot_batch``):
30 series cost the database as many statements as 3, on SQLite and PostgreSQL, and the
snapshots get their ids in the order of the checks. An observation de-duplicates its
images once, however often the round asks."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from monitor.app import App, build
from monitor.config import parse_config
from monitor.core.observation import ImageItem, Observation, Status
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store import migrate
from monitor.store.models import Snapshot

AT = datetime(2021, 6, 1, tzinfo=UTC)


def _app(url: str, people: int) -> App:
    names = ", ".join(f"{{name: person {i:03d}}}" for i in range(people))
    config = parse_config(
        f"people: [{names}]\nsources: {{baidu: {{kind: baidu_images}}}}\n", "c.yaml", {}
    )
    app = build(config, database_url=url, channels=[])
    migrate.upgrade(app.engine)
    return app


def _checks(app: App, n: int) -> list[Checked]:
    refs = sorted((r for r in app.series() if r.role == "watch"), key=lambda r: -r.series_id)
    out = []
    for i, ref in enumerate(refs):  # failures among them: a failed check is a row too
        if i % 4 == 3:
            obs = Observation(Status.BLOCKED, reason="captcha", raw=b"captcha")
        else:
            items = [ImageItem(f"https://img.test/{ref.series_id}/{k}.jpg") for k in range(n)]
            obs = Observation(Status.OK, items=items, raw=f"page {ref.series_id}".encode())
        out.append(Checked(ref, obs, AT, AT))
    return out


def _statements(app: App, checked: list[Checked]) -> Counter[str]:
    """The statements the round's commit sent, by their first words."""
    sent: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent[" ".join(statement.split()[:3])] += 1

    event.listen(app.engine, "before_cursor_execute", count)
    try:
        RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])(
            "baidu", checked, AT, "scheduled"
        )
    finally:
        event.remove(app.engine, "before_cursor_execute", count)
    return sent


def test_thirty_series_take_as_many_statements_as_three(db_url: str, tmp_path: Any) -> None:
    other = (
        f"sqlite:///{tmp_path / 'other.db'}" if db_url.startswith("sqlite") else None
    ) or db_url
    small = _app(db_url, 3)
    few = _statements(small, _checks(small, 5))
    if other == db_url:  # PostgreSQL: one fresh database, emptied between the two
        migrate.downgrade(small.engine, "base")
    small.engine.dispose()
    large = _app(other, 30)
    many = _statements(large, _checks(large, 5))
    large.engine.dispose()
    assert many == few
    assert many["INSERT INTO snapshots"] == 1


def test_snapshots_take_their_ids_in_the_order_of_the_checks(db_url: str) -> None:
    app = _app(db_url, 5)
    for _ in range(2):  # the second round's ids follow the first's
        checked = _checks(app, 2)
        RoundCommit(app.sessions, app.config, {"baidu": "chinese"}, channels=[])(
            "baidu", checked, AT, "scheduled"
        )
    with app.sessions() as session:
        rows = session.execute(select(Snapshot.id, Snapshot.series_id).order_by(Snapshot.id))
        stored = [tuple(r) for r in rows]
    order = [c.ref.series_id for c in checked]
    assert [sid for _, sid in stored] == order + order
    assert [i for i, _ in stored] == list(range(stored[0][0], stored[0][0] + 10))
    app.engine.dispose()


def test_an_observation_de_duplicates_its_images_once() -> None:
    items = [ImageItem("https://img.test/a.jpg"), ImageItem("http://IMG.test/a.jpg#x")]
    obs = Observation(Status.OK, items=items)
    first = obs.distinct_items
    assert len(first) == 1 and obs.image_count == 1
    assert obs.distinct_items is first


def test_the_start_is_settled_out_of_the_collectors_sight_once() -> None:
    script = (
        "import gc\n"
        "from monitor.core.memory import settle_start\n"
        "kept = [[i] for i in range(10000)]\n"
        "print(settle_start(), gc.get_freeze_count() >= 10000, settle_start())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "True", "False"]
    assert gc.isenabled()


def test_the_distinct_keys_are_those_of_the_distinct_items() -> None:
    items = [ImageItem("https://img.test/b.jpg"), ImageItem("https://img.test/a.jpg")]
    obs = Observation(Status.OK, items=[*items, ImageItem("HTTP://img.test/b.jpg")])
    assert obs.distinct_keys == [i.key for i in obs.distinct_items] == [i.key for i in items]
