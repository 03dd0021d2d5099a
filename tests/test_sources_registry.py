"""Invariants over every registered source kind (STYLE.md, 15)."""

from __future__ import annotations

import httpx
import pytest

from monitor.sources import REGISTRY, load
from monitor.sources.base import Source, SourceOptions

KINDS = sorted(REGISTRY)
# What each kind needs beyond `kind` to build a request.
REQUIRED = {
    "html": {"url": "https://news.example/search?q={query}", "item": "div.r"},
    "feed": {"url": "https://news.example/rss.xml"},
    "google_cse": {"api_key": "k" * 20, "cx": "c" * 10},
    "brave_images": {"api_key": "b" * 20},
}


@pytest.mark.parametrize("kind", KINDS)
def test_registered_source_imports_and_declares_itself(kind: str) -> None:
    cls = load(kind)
    assert issubclass(cls, Source) and cls.kind == kind
    assert cls.__doc__ and cls.__doc__.strip()
    assert issubclass(cls.Options, SourceOptions)
    assert cls.family in {"chinese", "bing", "google", "brave", "independent"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_source_honours_base_url(kind: str) -> None:
    cls = load(kind)
    options = cls.Options(kind=kind, base_url="http://127.0.0.1:8099", **REQUIRED.get(kind, {}))
    request = cls("test", options).build_request("董经纬", 0)
    assert isinstance(request, httpx.Request)
    assert (request.url.scheme, request.url.host, request.url.port) == ("http", "127.0.0.1", 8099)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match='unknown source kind "yandex"'):
        load("yandex")
