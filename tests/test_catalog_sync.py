"""catalog.sync mirrors the watch list into the database in a few batched flushes, and its
refs name the rows it made."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from monitor.config import Config, parse_config
from monitor.store import catalog, migrate
from monitor.store.db import create_db_engine, session_factory
from monitor.store.models import Person, Series, Term


def config_of(people: int) -> Config:
    listed = "\n".join(
        f"  - name: person {i}\n    aliases: [{{text: 别名 {i}, lang: zh}}]" for i in range(people)
    )
    return parse_config(
        f"people:\n{listed}\n"
        "sources:\n"
        "  bing:\n    kind: bing_images\n    controls: [熊猫, 长城]\n"
        "  off:\n    kind: bing_images\n    enabled: false\n",
        "catalog.yaml",
        {},
    )


def session_on(tmp_path: Path) -> Session:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(engine)
    return session_factory(engine)()


def test_a_new_watch_list_of_300_people_is_written_in_four_flushes(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    flushes: list[int] = []
    event.listen(session, "after_flush", lambda s, ctx: flushes.append(len(s.new)))
    with session.begin():
        refs = catalog.sync(session, config_of(300))
    assert len(flushes) <= 4
    # 300 people x (name + alias) on the enabled source, plus its two controls.
    assert len(refs) == 602
    assert session.scalar(select(func.count()).select_from(Series)) == 602


def test_refs_name_the_series_rows_they_were_made_for(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    with session.begin():
        refs = catalog.sync(session, config_of(3))
    for ref in refs:
        row = session.get(Series, ref.series_id)
        assert row is not None
        term = session.get(Term, row.term_id)
        person = session.get(Person, row.person_id)
        assert term is not None and person is not None
        assert (term.text, person.name, row.role) == (ref.term, ref.person, ref.role)
        assert (row.person_id, row.source_id) == (ref.person_id, ref.source_id)
    controls = [r for r in refs if r.role == "control"]
    assert {r.term for r in controls} == {"熊猫", "长城"}
    assert {r.person for r in controls} == {catalog.control_person_name("bing")}
    assert {r.lang for r in refs if r.term.startswith("别名")} == {"zh"}
    assert all(r.source == "bing" for r in refs)  # the disabled source has no series


def test_a_second_sync_adds_nothing_and_a_new_person_keeps_the_old_ids(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    with session.begin():
        first = catalog.sync(session, config_of(3))
    with session.begin():
        again = catalog.sync(session, config_of(3))
    assert again == first
    with session.begin():
        grown = catalog.sync(session, config_of(4))
    assert set(first) < set(grown)
    assert len(grown) == len(first) + 2
    assert session.scalar(select(func.count()).select_from(Person)) == 5  # 4 + the controls


def test_a_changed_role_or_note_is_written_to_the_existing_person(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    with session.begin():
        catalog.sync(session, config_of(1))
    changed = parse_config(
        "people:\n  - name: person 0\n    role: control\n    notes: now a control\n"
        "sources:\n  bing:\n    kind: bing_images\n",
        "catalog.yaml",
        {},
    )
    with session.begin():
        refs = catalog.sync(session, changed)
    person = session.scalars(select(Person).where(Person.name == "person 0")).one()
    assert (person.role, person.notes) == ("control", "now a control")
    assert {r.role for r in refs if r.person == "person 0"} == {"control"}
