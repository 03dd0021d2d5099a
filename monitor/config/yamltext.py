"""config.yaml's text into Python data that knows its lines, or one ``ConfigError`` naming
the line.

Contract: ``read_yaml(text, name)`` returns the document's value, with mappings as
``YamlMap`` (a dict that knows the line of each key written in it) and lists as ``YamlSeq``
(a list that knows each item's line); scalars are str, int, float, bool, None, date or
datetime, read by YAML 1.2's rules as ruamel.yaml read them (``yamlscalars``). It raises
``ConfigError`` and nothing else, whatever the text, so a fuzzer can call it. Refused, each
at its line whenever YAML has one:

- more than ``MAX_CHARS`` characters (checked before anything is parsed);
- values nested more than ``MAX_DEPTH`` levels deep;
- tags beyond the core schema's (str, int, float, bool, null, map, seq, timestamp, merge):
  ``!foo`` or ``!!binary``; a value its tag cannot read (``!!int abc``);
- a key that is a list or mapping, a key written twice in one mapping;
- aliases that repeat more than ``MAX_ALIAS_EXPANSION`` values in total, or refer to the
  node that contains them: a "billion laughs" file fails here, in linear time, instead of
  being expanded by every later walk over the data.

Why libyaml: PyYAML's C parser (``CSafeLoader``) scans and parses in C; this module builds
the values from its events in one pass, with no node graph and no recursion. ruamel.yaml's
round-trip reader, used before, is pure Python: 15-25 ms for the example config, where this
takes about one. Without libyaml (a PyYAML built from source without it) the same events
come from PyYAML's pure-Python parser.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml import events

from monitor.config import yamlscalars as scalars
from monitor.core.errors import ConfigError

# Values that aliases may add beyond those written out. A large real config has a few
# thousand values; a billion-laughs file has 10^9.
MAX_ALIAS_EXPANSION = 100_000

# Nesting levels (a key or item is one level below its mapping or list): config.yaml needs
# about six.
MAX_DEPTH = 32

# The example config.yaml has 8,000 characters, a config with a thousand people perhaps
# 200,000: a log file or a disk image given as the config is refused at once.
MAX_CHARS = 512 * 1024

_LIBYAML = hasattr(yaml, "CSafeLoader")
_Loader: Any = yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader
_COLLECTION_TAGS = {events.MappingStartEvent: scalars.MAP, events.SequenceStartEvent: scalars.SEQ}


class YamlMap(dict[Any, Any]):
    """A mapping from the file; ``lines[key]`` is the 0-based line of each key written in
    it (keys merged in with ``<<: *defaults`` have none)."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


class YamlSeq(list[Any]):
    """A list from the file; ``lines[i]`` is the 0-based line of item ``i``."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


def read_yaml(text: str, name: str) -> Any:
    """The value of the YAML document ``text``; ``ConfigError`` (``name:line: ...``) for
    anything wrong."""
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"too large to be a config file: {len(text):,} characters (at most {MAX_CHARS:,})",
            file=name,
        )
    try:
        # libyaml reads UTF-8 bytes and counts its error offsets in them.
        source: str | bytes = text.encode("utf-8") if _LIBYAML else text
    except UnicodeEncodeError as exc:  # a lone surrogate, from a caller's str
        at = exc.start
        raise _bad_character(ord(text[at]), text.count("\n", 0, at) + 1, name) from None
    try:
        return _Reader(_Loader(source)).document()
    except _Problem as problem:
        what = " ".join(str(problem).split())  # a key or value may hold a newline
        raise ConfigError(f"not valid YAML: {what}", file=name, line=problem.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(exc.problem or exc.context or "cannot be read").split())
        if what == "found incompatible YAML document":  # libyaml's words for %YAML 9.9
            what += " (YAML version 1.1 or 1.2 is required)"
        elif what == "exceeded maximum nesting depth":  # libyaml's own bound, at 1,000
            what = f"nested more than {MAX_DEPTH} levels deep"
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {what[:300]}", file=name, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = _lines_before(source, exc.position) + 1 if isinstance(exc.position, int) else None
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        raise _bad_character(char, line, name) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[:1] or ["cannot be read"]
        raise ConfigError(f"not valid YAML: {first[0]}", file=name) from None


def key_line(mapping: YamlMap, key: Any) -> int | None:
    """The 1-based line of ``key`` in ``mapping``; None for a key that came in through a
    merge (``<<: *defaults``), which has no line of its own."""
    place = mapping.lines.get(key)
    return None if place is None else place + 1


def _bad_character(char: int, line: int | None, name: str) -> ConfigError:
    return ConfigError(
        f"not valid YAML: character U+{char:04X} is not allowed in YAML text", file=name, line=line
    )


def _lines_before(source: str | bytes, end: int) -> int:
    return source.count(b"\n", 0, end) if isinstance(source, bytes) else source.count("\n", 0, end)


class _Problem(Exception):
    """What is wrong, and the 1-based line it is on."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.line: int = mark.line + 1


class _Open:
    """A mapping or list being read: its value so far and what its next event means."""

    __slots__ = ("anchor", "height", "key", "key_mark", "mark", "merges", "size", "value")

    def __init__(self, value: YamlMap | YamlSeq, mark: Any, anchor: str | None) -> None:
        self.value, self.mark, self.anchor = value, mark, anchor
        self.size = 1  # values it holds with aliases expanded, itself included
        self.height = 1  # levels it spans with aliases expanded, itself included
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.merges: list[YamlMap] = []


_NO_KEY = object()
_MERGE_KEY = object()


class _Reader:
    """One document's value from the parser's events, built in one pass."""

    def __init__(self, loader: Any) -> None:
        self.next_event = loader.get_event
        self.version: scalars.Version = (1, 2)
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # completed: value, size, height
        self.open_anchors: set[str] = set()
        self.distinct = 0  # values written out (an alias is not one)

    def document(self) -> Any:
        self.next_event()  # stream start
        start = self.next_event()
        if isinstance(start, events.StreamEndEvent):
            return None
        if start.version == (1, 1):
            self.version = (1, 1)
        value = self.value()
        self.next_event()  # document end
        after = self.next_event()
        if not isinstance(after, events.StreamEndEvent):
            raise _Problem("expected one document, but found another", after.start_mark)
        return value

    def value(self) -> Any:
        stack: list[_Open] = []
        while True:
            event = self.next_event()
            kind = type(event)
            if kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
                done = stack.pop()
                value, size, height, mark = self.close(done), done.size, done.height, done.mark
            elif kind is events.AliasEvent:
                value, size, height = self.alias(event, len(stack))
                mark = event.start_mark
            else:
                if len(stack) >= MAX_DEPTH:
                    raise _Problem(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
                self.distinct += 1
                if kind is events.ScalarEvent:
                    value, size, height = self.scalar(event, stack), 1, 1
                    mark = event.start_mark
                    if event.anchor is not None:
                        self.open_anchors.discard(event.anchor)
                        self.anchors[event.anchor] = (value, 1, 1)
                else:
                    stack.append(self.open(event, stack))
                    continue
            if not stack:
                return value
            self.add(stack[-1], value, size, height, mark)

    def open(self, event: Any, stack: list[_Open]) -> _Open:
        if _wants_key(stack):
            raise _Problem("a key must be a plain value, not a list or mapping", event.start_mark)
        tag, own = event.tag, _COLLECTION_TAGS[type(event)]
        if tag is not None and tag != "!" and tag != own:
            raise _Problem(f"the tag {tag} is not supported here", event.start_mark)
        if event.anchor is not None:
            self.anchors.pop(event.anchor, None)
            self.open_anchors.add(event.anchor)
        value = YamlMap() if own == scalars.MAP else YamlSeq()
        return _Open(value, event.start_mark, event.anchor)

    def close(self, done: _Open) -> Any:
        value = done.value
        if isinstance(value, YamlMap):
            for merged in done.merges:  # keys written out win, then earlier merges
                for key, item in merged.items():
                    value.setdefault(key, item)
        if done.size - self.distinct > MAX_ALIAS_EXPANSION:
            raise _Problem(
                f"aliases expand this value to {done.size:,} values (at most "
                f"{MAX_ALIAS_EXPANSION:,} repeated values are allowed); write it out",
                done.mark,
            )
        if done.anchor is not None:
            self.open_anchors.discard(done.anchor)
            self.anchors[done.anchor] = (value, done.size, done.height)
        return value

    def alias(self, event: Any, depth: int) -> tuple[Any, int, int]:
        """The anchored value, its size and height; refused when it would nest the data
        deeper than ``MAX_DEPTH`` where it is repeated (aliases of aliases could)."""
        if event.anchor in self.open_anchors:
            raise _Problem("an alias refers to the node that contains it", event.start_mark)
        if event.anchor not in self.anchors:
            raise _Problem(f"found undefined alias {event.anchor!r}", event.start_mark)
        found = self.anchors[event.anchor]
        if depth + found[2] > MAX_DEPTH:
            raise _Problem(
                f"nested more than {MAX_DEPTH} levels deep through aliases", event.start_mark
            )
        return found

    def scalar(self, event: Any, stack: list[_Open]) -> Any:
        text: str = event.value
        tag = scalars.resolve(event.tag, event.implicit[0], text, self.version)
        if tag == scalars.MERGE and _wants_key(stack):
            return _MERGE_KEY
        try:
            return scalars.construct(tag, text, self.version)
        except scalars.Unsupported:
            raise _Problem(f"the tag {tag} is not supported here", event.start_mark) from None
        except Exception as exc:  # int("abc"), a month 13...: the value is wrong, not us
            short = tag.removeprefix(scalars.CORE)
            message = f"{text[:40]!r} is not a valid {short} ({str(exc)[:100]})"
            raise _Problem(message, event.start_mark) from None

    def add(self, into: _Open, value: Any, size: int, height: int, mark: Any) -> None:
        into.size += size
        into.height = max(into.height, height + 1)
        target = into.value
        if isinstance(target, YamlSeq):
            target.append(value)
            target.lines.append(mark.line)
        elif into.key is _NO_KEY:
            if isinstance(value, YamlMap | YamlSeq):  # an alias to a list or mapping
                raise _Problem("a key must be a plain value, not a list or mapping", mark)
            into.key, into.key_mark = value, mark
        else:
            key, into.key = into.key, _NO_KEY
            if key is _MERGE_KEY:
                self.merge(into, value, mark)
            elif key in target:
                first = target.lines.get(key)
                where = f" (first on line {first + 1})" if first is not None else ""
                shown = str(key)[:60]
                raise _Problem(f'found duplicate key "{shown}"{where}', into.key_mark)
            else:
                target[key] = value
                target.lines[key] = into.key_mark.line

    def merge(self, into: _Open, value: Any, mark: Any) -> None:
        if into.merges:
            raise _Problem('found duplicate merge key "<<"', into.key_mark)
        merged = [value] if isinstance(value, YamlMap) else value
        if not isinstance(merged, list) or not all(isinstance(m, YamlMap) for m in merged):
            raise _Problem("<< merges a mapping or a list of mappings, nothing else", mark)
        into.merges = merged or [YamlMap()]  # never empty once a << was read


def _wants_key(stack: list[_Open]) -> bool:
    """Whether the next value read is a key of the innermost open mapping."""
    return bool(stack) and stack[-1].key is _NO_KEY and isinstance(stack[-1].value, YamlMap)
