"""Read config.yaml, substitute ``${VAR}``s, validate, and name every problem's line.

Contract: ``load_config(path)`` returns a ``Config`` or raises ``ConfigError`` whose message
names the file, the line and the key path of every problem found, e.g.::

    config.yaml:41: sources.baidu.every: "6 hours" is not a duration (use 30m, 6h, 1d)

Nothing is checked later at 3 a.m.: unknown keys, wrong types, bad durations, unknown source
kinds and missing environment variables are all reported here. ``${VAR}`` (or
``${VAR:-default}``) in any string is replaced from the environment; values substituted into
secret-looking keys are registered so that logs and output mask them (``core.masking``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor import sources
from monitor.config.cluster import database_problem
from monitor.config.models import Config, ConfigFile
from monitor.config.yamltext import YamlMap, YamlSeq, key_line, read_yaml
from monitor.core import masking
from monitor.core.errors import ConfigError, ConfigErrors
from monitor.detector.settings import DetectionSettings
from monitor.sources.base import SourceOptions

logger = logging.getLogger(__name__)

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path_ = tuple[str | int, ...]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate ``path``; raise ``ConfigError`` naming every problem."""
    env = os.environ if env is None else env
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=name) from None
    return parse_config(text, name, env)


def parse_config(text: str, name: str, env: Mapping[str, str]) -> Config:
    """Validate config ``text``; ``name`` is used in error messages.

    Raises ``ConfigError`` and nothing else, whatever ``text`` holds (a fuzzer's target)."""
    try:
        return _parse(text, name, env)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError("nested too deeply", file=name) from None
    except Exception as exc:
        # A value no check above foresaw: still the config's fault, still one line. The
        # traceback is kept for -vv, to turn it into a named check.
        logger.debug("unforeseen config problem", exc_info=True)
        raise ConfigError(
            f"cannot be loaded: {type(exc).__name__}: {str(exc)[:200]}", file=name
        ) from None


def _parse(text: str, name: str, env: Mapping[str, str]) -> Config:
    tree = read_yaml(text, name)
    if not isinstance(tree, YamlMap):
        raise ConfigError("the top level must be a mapping of settings", file=name, line=1)
    problems: list[ConfigError] = []
    data = _interpolate(tree, (), env, problems, name, tree)
    if problems:
        raise _combine(problems)
    try:
        top = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _combine(_from_validation(exc, (), tree, name)) from None

    source_opts: dict[str, SourceOptions] = {}
    source_detection: dict[str, DetectionSettings] = {}
    try:
        detection = DetectionSettings.model_validate(top.detection)
    except ValidationError as exc:
        problems += _from_validation(exc, ("detection",), tree, name)
        detection = DetectionSettings()
    for sname, raw in top.sources.items():
        at: Path_ = ("sources", sname)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", sname):
            problems.append(_error(f'"{sname}" is not a valid source name', at, tree, name))
            continue
        if not isinstance(raw, dict) or "kind" not in raw:
            problems.append(_error("needs a kind (e.g. baidu_images)", at, tree, name))
            continue
        try:
            cls = sources.load(str(raw["kind"]))
        except LookupError as exc:
            problems.append(_error(str(exc.args[0]), (*at, "kind"), tree, name))
            continue
        try:
            opts = cls.Options.model_validate(raw)
        except ValidationError as exc:
            problems += _from_validation(exc, at, tree, name)
            continue
        source_opts[sname] = opts
        if opts.detection:
            try:
                source_detection[sname] = detection.with_overrides(opts.detection)
            except ValidationError as exc:
                problems += _from_validation(exc, (*at, "detection"), tree, name)
    for i, person in enumerate(top.people):
        for s in person.sources or ():
            if s not in top.sources:
                problems.append(
                    _error(f'unknown source "{s}"', ("people", i, "sources"), tree, name)
                )
    if top.cluster.enabled and (why := database_problem(top.database.url)):
        problems.append(_error(why, ("cluster", "enabled"), tree, name))
    first: dict[str, int] = {}  # where each name first is (list.index was quadratic)
    for i, n in enumerate(p.name for p in top.people):
        if first.setdefault(n, i) != i:
            problems.append(_error(f'"{n}" is listed twice', ("people", i, "name"), tree, name))
    if problems:
        raise _combine(problems)
    return Config(
        path=name,
        database=top.database,
        vantage=top.vantage,
        people=top.people,
        sources=source_opts,
        detection=detection,
        source_detection=source_detection,
        alerts=top.alerts,
        server=top.server,
        evidence=top.evidence,
        cluster=top.cluster,
    )


def _interpolate(
    node: Any, at: Path_, env: Mapping[str, str], problems: list[ConfigError], name: str, tree: Any
) -> Any:
    """Plain Python data from the YAML tree, with ``${VAR}`` replaced."""
    if isinstance(node, YamlMap):
        return {
            str(k): _interpolate(v, (*at, str(k)), env, problems, name, tree)
            for k, v in node.items()
        }
    if isinstance(node, YamlSeq):
        return [_interpolate(v, (*at, i), env, problems, name, tree) for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in env:
                return env[var]
            if default is not None:
                return default
            problems.append(_error(f"environment variable {var} is not set", at, tree, name))
            return ""

        value = _ENV.sub(repl, str(node))
        if value != node and at and str(at[-1]).lower() in masking.SECRET_KEYS and value:
            masking.register(value)
        return value
    return node


def _from_validation(
    exc: ValidationError, prefix: Path_, tree: Any, name: str
) -> list[ConfigError]:
    out = []
    for err in exc.errors():
        loc: Path_ = (*prefix, *(x for x in err["loc"] if not str(x).startswith("function-")))
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "missing":
            msg = "is required"
        elif kind == "value_error":
            msg = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            value = err.get("input")
            shown = f"{value!r}: " if isinstance(value, str | int | float | bool) else ""
            msg = shown + err["msg"][:1].lower() + err["msg"][1:]
        out.append(_error(msg, loc, tree, name))
    return out


def _error(message: str, at: Path_, tree: Any, name: str) -> ConfigError:
    # One line per problem, whatever a validator's library put in its message.
    message = " ".join(message.split())
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in at).replace(".[", "[")
    return ConfigError(message, file=name, line=_line_of(tree, at), key=key)


def _line_of(tree: Any, at: Sequence[str | int]) -> int | None:
    """1-based line of the deepest existing node on path ``at`` in the YAML tree."""
    line: int | None = None
    node = tree
    for part in at:
        if isinstance(node, YamlMap) and part in node:
            line = key_line(node, part) or line
            node = node[part]
        elif isinstance(node, YamlSeq) and isinstance(part, int) and part < len(node):
            line = node.lines[part] + 1
            node = node[part]
        else:
            break
    return line


def _combine(problems: list[ConfigError]) -> ConfigError:
    return problems[0] if len(problems) == 1 else ConfigErrors(problems)
