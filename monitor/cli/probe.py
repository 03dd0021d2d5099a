"""``probe SOURCE [TERM]`` and ``probe --all``: one real query, shown and kept for a bug report.

A probe sends one query exactly as a check would (the source's settings: base_url, rate,
headers, proxy, warm-up and its cookies), stores nothing in the database, and prints the
status, its reason, the counts, the first few items and what the parser keyed on. The
request (secrets masked) and the raw response are written under ``-o DIR`` (default
``probes/``), one folder per probe, beside a provenance note (date, vantage, URL without
secrets) and a ``response.expected.json`` in the golden-test form: copied with the response
into ``tests/fixtures/sources/<kind>/``, the two files are a parser test.

Without TERM a probe uses the source's first control (``controls``), else the first control
person's name, else the first name watched on that source. ``--all`` probes every enabled
source that way. Exit 0 when every probe is ``ok`` or ``no_results``, 3 otherwise (2 for a
usage or configuration error).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.context import Ctx, handle_errors, pass_ctx
from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.observation import Observation
    from monitor.sources.base import Source

FAILED_EXIT = 3
# Options that say how to send, not what the parser expects: left out of the golden file.
_NETWORK_OPTIONS = {
    "kind", "enabled", "base_url", "every", "controls", "rate", "concurrency", "timeout",
    "connect_timeout", "retries", "throttle_retries", "throttle_wait", "proxy", "user_agent",
    "accept_language", "headers", "detection", "max_bytes",
}  # fmt: skip
_EXTENSIONS = {"json": "json", "html": "html", "xml": "xml", "rss": "xml", "atom": "xml"}


@click.command("probe")
@click.argument("source_name", metavar="[SOURCE]", required=False)
@click.argument("term", required=False)
@click.option("--all", "probe_all", is_flag=True, help="Every enabled source, its first control.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    default="probes",
    show_default=True,
    metavar="DIR",
    help="Where each probe's request, response and provenance note go.",
)
@click.option("--items", "shown", default=5, show_default=True, help="Items to print.")
@pass_ctx
@handle_errors
def probe(
    ctx: Ctx,
    source_name: str | None,
    term: str | None,
    probe_all: bool,
    out_dir: str,
    shown: int,
) -> None:
    """Send one real query to SOURCE (or --all), print what came back and keep it."""
    import asyncio

    from monitor import sources

    config = ctx.load()
    targets = _targets(config, source_name, term, probe_all)
    built = {n: sources.load(config.sources[n].kind)(n, config.sources[n]) for n, _ in targets}
    observations = asyncio.run(_send([(built[n], t) for n, t in targets]))
    failed = 0
    for (name, query), obs in zip(targets, observations, strict=True):
        folder = _save(Path(out_dir), built[name], query, obs, config.vantage)
        click.echo(_report(built[name], query, obs, folder, shown))
        failed += not obs.status.is_observation
    sys.exit(FAILED_EXIT if failed else 0)


def _targets(
    config: Config, name: str | None, term: str | None, probe_all: bool
) -> list[tuple[str, str]]:
    """(source, term) pairs to probe; a usage error names what is wrong."""
    if probe_all:
        if name is not None:
            raise ConfigError("give a SOURCE or --all, not both", key="probe")
        names = list(config.enabled_sources())
        if not names:
            raise ConfigError("no source is enabled", key="sources")
        return [(n, _default_term(config, n)) for n in names]
    if name is None:
        raise ConfigError("give a SOURCE to probe, or --all", key="probe")
    if name not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ConfigError(f"unknown source {name!r} (configured: {known})", key="SOURCE")
    if term is not None and not term.strip():
        raise ConfigError("TERM is empty", key="TERM")
    return [(name, term or _default_term(config, name))]


def _default_term(config: Config, name: str) -> str:
    """The source's first control, else the first control person, else the first name."""
    controls = config.sources[name].controls
    if controls:
        return controls[0]
    people = [p for p in config.people if p.sources is None or name in p.sources]
    for person in sorted(people, key=lambda p: p.role != "control"):
        return person.name
    raise ConfigError("no control and no person for this source: give a TERM", key=name)


async def _send(targets: list[tuple[Source, str]]) -> list[Observation]:
    """One check per target, concurrently (the fetcher keeps each host's pace)."""
    import asyncio

    from monitor.check import run_check
    from monitor.fetch.client import Fetcher

    async with Fetcher() as fetcher:
        return list(await asyncio.gather(*(run_check(s, t, fetcher) for s, t in targets)))


def _report(source: Source, term: str, obs: Observation, folder: Path, shown: int) -> str:
    """What a person reads: status, counts, the first items, the keys, where it was kept."""
    from monitor.alerts.words import clean

    distinct = obs.distinct_items
    domains = len({i.domain for i in distinct if i.domain})
    total = "not stated" if obs.reported_total is None else f"{obs.reported_total:,}"
    lines = [
        f"probe {source.name} ({source.kind}) for {clean(term)!r}",
        f"  status     {obs.status.value}" + (f": {clean(obs.reason)}" if obs.reason else ""),
        f"  url        {clean(obs.raw_url or '-')}",
        f"  http       {obs.http_status or '-'}, {obs.pages} page(s), {obs.elapsed_ms} ms",
        f"  images     {len(distinct)} distinct from {domains} domain(s); engine total {total}",
        f"  keyed on   {clean(source.keyed_on())}",
    ]
    for n, item in enumerate(distinct[:shown], 1):
        title = clean(item.title or "")[:80]
        lines.append(f"  {n:>2}. {title or '(no title)'}")
        lines.append(f"      image {clean(item.image_url)[:160]}")
        if item.page_url:
            lines.append(f"      page  {clean(item.page_url)[:160]}")
    lines.append(f"  saved      {folder}")
    return "\n".join(lines)


def _save(root: Path, source: Source, term: str, obs: Observation, vantage: str) -> Path:
    """Write the probe's request, response, golden skeleton and provenance note."""
    from monitor import __version__

    now = datetime.now(UTC)
    folder = root / f"{source.name}-{now:%Y%m%dT%H%M%SZ}"
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{source.name}-{now:%Y%m%dT%H%M%SZ}-{n}"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder}: {exc.strerror}", key="--output") from None
    request = json.loads(obs.raw_request) if obs.raw_request else _unsent(source, term)
    files = ["request.json"]
    (folder / "request.json").write_text(
        json.dumps({"source": source.name, "term": term, **request}, ensure_ascii=False, indent=2)
        + "\n",
        encoding="utf-8",
    )
    if obs.raw is not None:
        body = f"response.{_extension(obs.raw_content_type)}"
        (folder / body).write_bytes(obs.raw)
        expected = _expected(source, term, obs, now, vantage)
        (folder / "response.expected.json").write_text(
            json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        files += [body, "response.expected.json"]
    note = [
        f"# Probe of {source.name} ({source.kind})",
        "",
        f"- date: {now:%Y-%m-%d %H:%M:%S} UTC",
        f"- vantage: {vantage}" + (" (not configured)" if vantage == "default" else ""),
        f"- term: {term}",
        f"- request: {request.get('method', 'GET')} {request.get('url')} (secrets masked)",
        f"- final URL: {obs.raw_url or '-'}",
        f"- HTTP status: {obs.http_status or '-'}; content type: {obs.raw_content_type or '-'}",
        f"- outcome: {obs.status.value}" + (f" ({obs.reason})" if obs.reason else ""),
        f"- tool: image-absence-monitor {__version__}",
        f"- files: {', '.join(files)}",
        "",
        "The response is the body as received (decompressed), unedited. To make it a parser",
        f"test, copy `response.*` into `tests/fixtures/sources/{source.kind}/<case>.<ext>` and",
        "`response.expected.json` beside it as `<case>.expected.json`; check the expectation.",
    ]
    (folder / "PROVENANCE.md").write_text("\n".join(note) + "\n", encoding="utf-8")
    return folder


def _unsent(source: Source, term: str) -> dict[str, Any]:
    """The request as built, when no answer came back to say what was sent (network
    errors): what the probe tried, secrets masked, without the fetcher's defaults."""
    from monitor.core.masking import mask_headers, mask_url

    built = source.build_request(term, 0)
    headers = mask_headers(built.headers.multi_items())
    return {"method": built.method, "url": mask_url(str(built.url)), "headers": headers}


def _expected(
    source: Source, term: str, obs: Observation, now: datetime, vantage: str
) -> dict[str, Any]:
    """The golden-test expectation of this answer (``tests/helpers/golden.py``'s form)."""
    options = source.options.model_dump(mode="json", exclude_defaults=True)
    spec: dict[str, Any] = {
        "provenance": f"probe of {source.name} on {now:%Y-%m-%d} from vantage {vantage}",
        "constructed": False,
        "options": {k: v for k, v in options.items() if k not in _NETWORK_OPTIONS},
        "term": term,
        "url": obs.raw_url,
        "http_status": obs.http_status,
        "content_type": obs.raw_content_type,
        "status": obs.status.value,
    }
    spec = {k: v for k, v in spec.items() if v is not None}
    if not obs.status.is_observation:
        spec["reason_contains"] = (obs.reason or "")[:40]
        return spec
    distinct = obs.distinct_items
    spec |= {"count": len(distinct), "reported_total": obs.reported_total}
    if distinct:
        first = distinct[0]
        spec["first"] = {
            "image_url": first.image_url,
            "thumb_url": first.thumb_url,
            "page_url": first.page_url,
            "title": first.title,
            "domain": first.domain,
        }
    return spec


def _extension(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    for key, ext in _EXTENSIONS.items():
        if key in kind:
            return ext
    return "txt"
