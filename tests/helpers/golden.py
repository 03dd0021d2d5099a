"""Golden-file harness for source parsers.

A case is two files in ``tests/fixtures/sources/<kind>/``: the saved response
``<case>.<ext>`` (never edited: it is what the engine served) and ``<case>.expected.json``::

    {
      "provenance": "where the response came from (see PROVENANCE.md in the folder)",
      "constructed": false,            # true when built from documentation, not captured
      "options": {...},                # extra source options, optional
      "term": "dong jingwei",          # optional, used to build the request URL
      "page": 0,                       # optional
      "http_status": 200,              # optional
      "url": "https://...",            # optional: the final URL of the response
      "content_type": "text/html; charset=utf-8",   # optional
      "status": "ok" | "no_results" | "blocked" | "parse_error" | "config_error" | "http_error",
      "reason_contains": "antiFlag",   # optional, for non-ok statuses
      "count": 30,                     # distinct images (by normalised URL), for ok
      "reported_total": 1234,          # optional; null asserts "no total"
      "domains": 12,                   # optional: distinct source domains
      "first": {"image_url": ..., "thumb_url": ..., "page_url": ..., "title": ..., "domain": ...},
      "has_more": true,                # optional
      "next_offset": 60                # optional: where the engine says the next page starts
    }

A case with a 4xx ``http_status`` goes where the pipeline sends it: the fetcher fails it
(403 and 429 ``blocked``, other 4xx ``http_error``) unless the source's ``explain_refusal``
reads the body as ``Misconfigured`` or ``Blocked``.

Damaged variants (truncated, empty, HTML-for-JSON) may be expressed without a file, as
``"body": "..."`` or ``"truncate_at": 1000`` with ``"from": "<other case file>"``; a
constructed variant of a real file as ``"from"`` with ``"replace": [["old", "new"], ...]``
(each ``old`` must occur).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from monitor.core.errors import Blocked, Misconfigured, ParseError
from monitor.core.observation import ImageItem, Observation, PageResult, Status
from monitor.sources import load
from monitor.sources.base import Source

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


# What a kind needs before it may be built at all, unless the test says otherwise: Commons
# refuses a User-Agent without a contact (its policy), so tests name one.
NEEDED: dict[str, dict[str, Any]] = {"wikimedia_commons": {"contact": "tests@example.org"}}


def make_source(kind: str, name: str | None = None, **options: Any) -> Source:
    """Instantiate a registered source with validated options."""
    cls = load(kind)
    return cls(name or kind, cls.Options(kind=kind, **{**NEEDED.get(kind, {}), **options}))


@dataclass
class Case:
    kind: str
    name: str
    body: bytes
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


def discover() -> list[Case]:
    """Every golden case under ``ROOT``."""
    cases: list[Case] = []
    for expected in sorted(ROOT.glob("*/*.expected.json")):
        kind = expected.parent.name
        name = expected.name.removesuffix(".expected.json")
        spec = json.loads(expected.read_text(encoding="utf-8"))
        if "body" in spec:
            body = spec["body"].encode("utf-8")
        else:
            src_name = spec.get("from", name)
            matches = [
                p
                for p in expected.parent.iterdir()
                if p.name.startswith(src_name + ".") and not p.name.endswith(".expected.json")
            ]
            if len(matches) != 1:
                raise FileNotFoundError(f"{expected}: expected one response file, got {matches}")
            body = matches[0].read_bytes()
            for old, new in spec.get("replace", ()):
                if old.encode("utf-8") not in body:
                    raise ValueError(f"{expected}: {old!r} is not in {matches[0].name}")
                body = body.replace(old.encode("utf-8"), new.encode("utf-8"))
            if "truncate_at" in spec:
                body = body[: spec["truncate_at"]]
        cases.append(Case(kind, name, body, spec))
    return cases


def run_case(case: Case) -> tuple[Status, str | None, PageResult | None]:
    """Parse the case's body with its source, as the pipeline would."""
    spec = case.spec
    source = make_source(case.kind, **spec.get("options", {}))
    page = spec.get("page", 0)
    request = source.build_request(spec.get("term", "test"), page)
    if "url" in spec:
        request = httpx.Request(request.method, spec["url"], headers=request.headers)
    headers = {}
    if "content_type" in spec:
        headers["content-type"] = spec["content_type"]
    response = httpx.Response(
        spec.get("http_status", 200), headers=headers, content=case.body, request=request
    )
    try:
        if 400 <= response.status_code < 500:
            source.explain_refusal(response)
            fetched = Status.BLOCKED if response.status_code in (403, 429) else Status.HTTP_ERROR
            return fetched, f"HTTP {response.status_code}", None
        result = source.parse(response, page)
    except Blocked as exc:
        return Status.BLOCKED, exc.reason, None
    except Misconfigured as exc:
        return Status.CONFIG_ERROR, exc.reason, None
    except ParseError as exc:
        return Status.PARSE_ERROR, exc.reason, None
    return (Status.NO_RESULTS if result.no_results else Status.OK), None, result


def distinct(items: tuple[ImageItem, ...]) -> list[ImageItem]:
    """Items de-duplicated exactly as the pipeline counts them."""
    status = Status.OK if items else Status.NO_RESULTS
    return Observation(status=status, items=list(items)).distinct_items
