"""People, terms, sources and series: the configured watch list, mirrored in the database.

``sync(session, config)`` makes the rows match the config and returns every series the config
asks for. It never deletes: a person or term removed from config.yaml keeps its history and
is simply no longer checked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.store.models import Person, Series, SourceRow, Term


@dataclass(frozen=True, order=True)
class SeriesRef:
    """What a round needs to check one series and to name it."""

    source: str
    person: str
    term: str
    vantage: str
    role: str
    series_id: int
    person_id: int
    source_id: int
    lang: str | None = None

    @property
    def label(self) -> str:
        return f"{self.person} / {self.term} @ {self.source}"


CONTROL_PERSON_PREFIX = "control:"


def control_person_name(source: str) -> str:
    """Controls are stored as a pseudo-person per source, role ``control``."""
    return f"{CONTROL_PERSON_PREFIX}{source}"


def sync(session: Session, config: Config) -> list[SeriesRef]:
    """Create missing rows for the config's people, terms, sources and series."""
    people = {p.name: p for p in session.scalars(select(Person))}
    sources = {s.name: s for s in session.scalars(select(SourceRow))}
    terms = {(t.person_id, t.text): t for t in session.scalars(select(Term))}
    series = {(s.term_id, s.source_id, s.vantage): s for s in session.scalars(select(Series))}

    def person(name: str, role: str, notes: str) -> Person:
        p = people.get(name)
        if p is None:
            p = people[name] = Person(name=name, role=role, notes=notes)
            session.add(p)
            session.flush()
        elif (p.role, p.notes) != (role, notes):
            p.role, p.notes = role, notes
        return p

    def term(p: Person, text: str, lang: str | None) -> Term:
        t = terms.get((p.id, text))
        if t is None:
            t = terms[(p.id, text)] = Term(person_id=p.id, text=text, lang=lang)
            session.add(t)
            session.flush()
        return t

    def one_series(p: Person, t: Term, s: SourceRow, role: str) -> Series:
        key = (t.id, s.id, config.vantage)
        row = series.get(key)
        if row is None:
            row = series[key] = Series(
                person_id=p.id, term_id=t.id, source_id=s.id, vantage=config.vantage, role=role
            )
            session.add(row)
            session.flush()
        return row

    refs: list[SeriesRef] = []
    for sname, opts in config.sources.items():
        src = sources.get(sname)
        if src is None:
            src = sources[sname] = SourceRow(name=sname, kind=opts.kind)
            session.add(src)
            session.flush()
        elif src.kind != opts.kind:
            src.kind = opts.kind
        if not opts.enabled:
            continue
        for pc in config.people:
            if pc.sources is not None and sname not in pc.sources:
                continue
            p = person(pc.name, pc.role, pc.notes)
            for tc in pc.terms:
                t = term(p, tc.text, tc.lang)
                row = one_series(p, t, src, pc.role)
                refs.append(
                    SeriesRef(
                        sname,
                        p.name,
                        t.text,
                        config.vantage,
                        pc.role,
                        row.id,
                        p.id,
                        src.id,
                        tc.lang,
                    )
                )
        if opts.controls:
            cp = person(control_person_name(sname), "control", f"controls of {sname}")
            for text in opts.controls:
                t = term(cp, text, None)
                row = one_series(cp, t, src, "control")
                refs.append(
                    SeriesRef(
                        sname, cp.name, text, config.vantage, "control", row.id, cp.id, src.id
                    )
                )
    return sorted(refs)


def refs_by_id(session: Session, series_ids: Collection[int]) -> dict[int, SeriesRef]:
    """The stored series ``series_ids`` as refs, whatever their vantage (a cluster's
    leader closes every vantage's rounds); a series not stored is left out."""
    out: dict[int, SeriesRef] = {}
    ids = sorted(series_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Series, Person.name, Term.text, Term.lang, SourceRow.name)
            .join(Person, Person.id == Series.person_id)
            .join(Term, Term.id == Series.term_id)
            .join(SourceRow, SourceRow.id == Series.source_id)
            .where(Series.id.in_(ids[start : start + 500]))
        )
        for s, person, text, lang, source in rows:
            out[s.id] = SeriesRef(
                source, person, text, s.vantage, s.role, s.id, s.person_id, s.source_id, lang
            )
    return out


def source_names(session: Session) -> dict[int, str]:
    """Every stored source's name by id."""
    return {sid: name for sid, name in session.execute(select(SourceRow.id, SourceRow.name))}
