"""Registry of source kinds: ``kind -> "module:Class"``, imported lazily.

An unknown kind is a config error at load time. Adding a source is adding a module with one
``Source`` subclass and one line here.
"""

from __future__ import annotations

from monitor.core.registry import load_plugin
from monitor.sources.base import Source, SourceOptions

REGISTRY: dict[str, str] = {
    "baidu_images": "monitor.sources.baidu:BaiduImages",
    "bing_images": "monitor.sources.bing:BingImages",
    "brave_images": "monitor.sources.brave:BraveImages",
    "wikimedia_commons": "monitor.sources.wikimedia:WikimediaCommons",
    "gdelt": "monitor.sources.gdelt:Gdelt",
    "so_images": "monitor.sources.so360:SoImages",
    "sogou_images": "monitor.sources.sogou:SogouImages",
    "google_cse": "monitor.sources.google_cse:GoogleCse",
    "html": "monitor.sources.webpage:HtmlSource",
    "feed": "monitor.sources.feed:FeedSource",
}


def load(kind: str) -> type[Source]:
    """Import and return the class registered for ``kind``; ``LookupError`` if unknown."""
    return load_plugin(REGISTRY, kind, Source, "source")


__all__ = ["REGISTRY", "Source", "SourceOptions", "load"]
