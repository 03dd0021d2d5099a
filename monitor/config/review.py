"""What ``config check`` says beyond "valid": what each source will send, the problems a
reviewed config must not have, and the choices worth a second look.

- ``literal_secrets(tree, name)``: secrets written into the file instead of ``${VAR}``
  (``password``, ``secret``, ``api_key``... keys, credential headers, a password in
  ``database.url``), one ``ConfigError`` each with its line. The loader lets ``run`` start
  with them (old configs keep working); ``config check`` refuses them.
- ``warnings(config)``: an ``every`` shorter than a round takes at the source's rate, no
  alert channel, an enabled source without controls, an enabled ``google_cse`` source.
- ``requests(config)``: per enabled source, the endpoint, market and User-Agent it sends,
  without the query term or any secret.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from monitor import sources
from monitor.config.models import Config
from monitor.config.yamltext import YamlMap, YamlSeq, key_line
from monitor.core.errors import ConfigError
from monitor.core.masking import SECRET_KEYS, is_secret_header, mask_url
from monitor.core.units import format_duration

# Query parameters that choose a market, language or country: results drift with them.
MARKET_PARAMS = ("mkt", "setlang", "cc", "country", "search_lang", "ui_lang", "hl", "gl", "lr")

GOOGLE_CSE_END = "2027-01-01"


def literal_secrets(tree: Any, name: str) -> list[ConfigError]:
    """Every secret written literally in the YAML ``tree`` (not read from ``${VAR}``)."""
    found: list[ConfigError] = []

    def walk(node: Any, at: tuple[str, ...]) -> None:
        if isinstance(node, YamlSeq):
            for item in node:
                walk(item, at)
        if not isinstance(node, YamlMap):
            return
        for key, value in node.items():
            path = (*at, str(key))
            if isinstance(value, str) and value and "${" not in value:
                line = key_line(node, key)
                if _is_secret_key(path):
                    found.append(_literal(path, name, line))
                elif path == ("database", "url") and urlsplit(value).password:
                    var = "${DATABASE_PASSWORD}"
                    found.append(
                        ConfigError(
                            f"a password written into the file; write it as user:{var}@ and "
                            "set DATABASE_PASSWORD in the environment",
                            file=name,
                            line=line,
                            key="database.url",
                        )
                    )
            walk(value, path)

    walk(tree, ())
    return found


def _is_secret_key(path: tuple[str, ...]) -> bool:
    if len(path) >= 2 and path[-2] == "headers":
        return is_secret_header(path[-1])
    return path[-1].lower() in SECRET_KEYS


def _literal(path: tuple[str, ...], name: str, line: int | None) -> ConfigError:
    var = re.sub(r"[^A-Z0-9]+", "_", "_".join(path[-2:]).upper()).strip("_")
    return ConfigError(
        f"a secret written into the file; read it from the environment: "
        f"{path[-1]}: ${{{var}}} (and set {var})",
        file=name,
        line=line,
        key=".".join(path),
    )


def round_time(config: Config, source: str) -> tuple[int, timedelta]:
    """The series a round of ``source`` checks, and how long its rate makes that round."""
    opts = config.sources[source]
    terms = sum(len(p.terms) for p in config.people if p.sources is None or source in p.sources)
    series = terms + len(opts.controls)
    return series, timedelta(seconds=series * opts.max_pages * opts.rate.interval)


def warnings(config: Config) -> list[str]:
    """Choices a person should look at twice; none of them stops the monitor."""
    out = []
    for name, opts in config.enabled_sources().items():
        series, needed = round_time(config, name)
        if opts.every < needed:
            at_least = format_duration(timedelta(seconds=math.ceil(needed.total_seconds())))
            out.append(
                f"sources.{name}.every: {format_duration(opts.every)} is shorter than a round "
                f"takes: {series} series at rate {opts.rate} need {at_least} (use every: "
                f"{at_least} or more, or a faster rate if the engine allows it)"
            )
        if not opts.controls:
            out.append(
                f"sources.{name}: no controls, so an outage or a changed page on {name} "
                "cannot be told from a name being erased (add two or three stable queries)"
            )
        if opts.kind == "google_cse":
            out.append(
                f"sources.{name}: Google ends the Custom Search JSON API on {GOOGLE_CSE_END} "
                "(closed to new projects already); plan the move to a brave_images source"
            )
    alerts = config.alerts
    if not (alerts.email or alerts.webhooks or alerts.apprise):
        out.append(
            "alerts: no channel configured (email, webhooks, apprise): drops are stored and "
            "listed by `alerts list`, but nobody is told"
        )
    return out


def requests(config: Config) -> list[str]:
    """Two lines per enabled source: method and endpoint, then market, Accept-Language and
    User-Agent. The query (it holds the term and, for some APIs, the key) is left out."""
    term = next((p.name for p in config.people if p.role == "watch"), config.people[0].name)
    out = []
    for name, opts in config.enabled_sources().items():
        request = sources.load(opts.kind)(name, opts).build_request(term, 0)
        endpoint = mask_url(str(request.url.copy_with(query=None)))
        market = " ".join(
            f"{k}={v}" for k, v in request.url.params.multi_items() if k in MARKET_PARAMS
        )
        sent = [f"market {market}"] if market else []
        language = request.headers.get("Accept-Language")
        if language:
            sent.append(f"Accept-Language {language}")
        sent.append(f"User-Agent {request.headers.get('User-Agent', '(httpx default)')}")
        out.append(f"  {name:<12} {request.method} {endpoint}")
        out.append(f"  {'':<12} {'; '.join(sent)}")
    return out
