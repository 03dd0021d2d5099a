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


@dataclass(frozen=True)
class _Wanted:
    """One person (or a source's control pseudo-person) the config checks on one source."""

    source: str
    name: str
    role: str
    notes: str
    terms: tuple[tuple[str, str | None], ...]  # (text, lang)


def sync(session: Session, config: Config) -> list[SeriesRef]:
    """Create missing rows for the config's people, terms, sources and series.

    Rows are added a kind at a time with one flush each (sources, people, terms, series):
    a new watch list of 300 people is four batched inserts, not 900 flushes."""
    people = {p.name: p for p in session.scalars(select(Person))}
    sources = {s.name: s for s in session.scalars(select(SourceRow))}
    terms = {(t.person_id, t.text): t for t in session.scalars(select(Term))}
    series = {(s.term_id, s.source_id, s.vantage): s for s in session.scalars(select(Series))}

    for sname, opts in config.sources.items():
        src = sources.get(sname)
        if src is None:
            session.add(src := SourceRow(name=sname, kind=opts.kind))
            sources[sname] = src
        elif src.kind != opts.kind:
            src.kind = opts.kind
    wanted = _wanted(config)
    for w in wanted:
        p = people.get(w.name)
        if p is None:
            session.add(p := Person(name=w.name, role=w.role, notes=w.notes))
            people[w.name] = p
        elif (p.role, p.notes) != (w.role, w.notes):
            p.role, p.notes = w.role, w.notes
    session.flush()
    for w in wanted:
        person_id = people[w.name].id
        for text, lang in w.terms:
            if (person_id, text) not in terms:
                session.add(t := Term(person_id=person_id, text=text, lang=lang))
                terms[(person_id, text)] = t
    session.flush()
    found: list[tuple[_Wanted, Person, SourceRow, str, str | None, Series]] = []
    for w in wanted:
        p, src = people[w.name], sources[w.source]
        for text, lang in w.terms:
            key = (terms[(p.id, text)].id, src.id, config.vantage)
            row = series.get(key)
            if row is None:
                row = series[key] = Series(
                    person_id=p.id,
                    term_id=key[0],
                    source_id=src.id,
                    vantage=config.vantage,
                    role=w.role,
                )
                session.add(row)
            found.append((w, p, src, text, lang, row))
    session.flush()  # the new series' ids
    return sorted(
        SeriesRef(w.source, p.name, text, config.vantage, w.role, row.id, p.id, src.id, lang)
        for w, p, src, text, lang, row in found
    )


def _wanted(config: Config) -> list[_Wanted]:
    """Every (source, person) pair the config checks, controls as their pseudo-person."""
    out: list[_Wanted] = []
    for sname, opts in config.sources.items():
        if not opts.enabled:
            continue
        for pc in config.people:
            if pc.sources is None or sname in pc.sources:
                terms = tuple((tc.text, tc.lang) for tc in pc.terms)
                out.append(_Wanted(sname, pc.name, pc.role, pc.notes, terms))
        if opts.controls:
            controls = tuple((text, None) for text in opts.controls)
            name = control_person_name(sname)
            out.append(_Wanted(sname, name, "control", f"controls of {sname}", controls))
    return out


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
