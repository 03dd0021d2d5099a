"""config.yaml's text into a ruamel tree, or one ``ConfigError`` naming the line.

Contract: ``read_yaml(text, name)`` returns the round-trip tree (``CommentedMap`` and
friends, which remember each key's line) or raises ``ConfigError``; it never raises anything
else, whatever the bytes, so a fuzzer can call it. Before anything is constructed the node
graph is checked:

- the text has at most ``MAX_CHARS`` characters (checked before anything is parsed);
- values nest at most ``MAX_DEPTH`` levels deep;
- only the core schema's tags (str, int, float, bool, null, map, seq, timestamp, merge) are
  accepted; ``!foo`` or ``!!binary`` is an error at its line;
- mapping keys must be scalars (``? [a]`` is an error);
- aliases may repeat at most ``MAX_ALIAS_EXPANSION`` values in total, and may not refer to
  the node that contains them: a "billion laughs" file fails here, in linear time, instead
  of being expanded by every later walk over the data.

A value the constructor cannot read (``!!int abc``) becomes an error at its line too.
"""

from __future__ import annotations

import logging
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from monitor.core.errors import ConfigError

logger = logging.getLogger(__name__)

# Values that aliases may add beyond those written out. A large real config has a few
# thousand values; a billion-laughs file has 10^9.
MAX_ALIAS_EXPANSION = 100_000

# Nesting levels: config.yaml needs about six; every later walk over the data recurses.
MAX_DEPTH = 64

# The example config.yaml has 8,000 characters, a config with a thousand people perhaps
# 200,000. The YAML reader is pure Python (about 5 s per MB): a log file or a disk image
# given as the config is refused at once, not after a minute.
MAX_CHARS = 512 * 1024

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
)


def read_yaml(text: str, name: str) -> Any:
    """The ruamel tree of ``text``; ``ConfigError`` (``name:line: ...``) for anything wrong."""
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"too large to be a config file: {len(text):,} characters (at most {MAX_CHARS:,})",
            file=name,
        )
    yaml = YAML(typ="rt")
    yaml.Constructor = _CheckedConstructor
    yaml.Composer = _ShallowComposer
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(exc.problem or exc.context or "cannot be read").split())
        raise ConfigError(f"not valid YAML: {what[:300]}", file=name, line=line) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        raise ConfigError(
            f"not valid YAML: character U+{char:04X} is not allowed in YAML text",
            file=name,
            line=line,
        ) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[:1] or ["cannot be read"]
        raise ConfigError(f"not valid YAML: {first[0]}", file=name) from None
    except RecursionError:
        raise ConfigError("not valid YAML: nested too deeply", file=name) from None


def key_line(mapping: Any, key: Any) -> int | None:
    """The 1-based line of ``key`` in a ruamel mapping; None for a key that came in through a
    merge (``<<: *defaults``), which ruamel does not place."""
    places = mapping.lc.data  # None in a mapping made only by a merge
    place = places.get(key) if places else None
    return None if place is None else int(place[0]) + 1


class _ShallowComposer(Composer):
    """The composer, refusing values nested more than ``MAX_DEPTH`` levels deep before
    Python's recursion limit is anywhere near."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.parser.peek_event()
                raise ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _CheckedConstructor(RoundTripConstructor):
    """The round-trip constructor, after ``_Walk`` has passed the node graph, and with
    every value it cannot read reported at that value's line."""

    def construct_document(self, node: Any) -> Any:
        _Walk().size(node)
        return super().construct_document(node)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (YAMLError, RecursionError):
            raise
        except Exception as exc:  # int("abc"), float overflow...: the value is wrong, not us
            logger.debug("cannot construct %r", node, exc_info=True)
            tag = str(node.tag).removeprefix(_CORE)
            raise ConstructorError(
                None,
                None,
                f"{str(node.value)[:40]!r} is not a valid {tag} ({exc})",
                node.start_mark,
            ) from None


class _Walk:
    """Sizes of the node graph with aliases expanded, memoised per node (linear time)."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()
        self.distinct = 0

    def size(self, node: Node) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            raise ConstructorError(
                None, None, "an alias refers to the node that contains it", node.start_mark
            )
        tag = str(node.tag)
        if tag not in _ALLOWED_TAGS:
            raise ConstructorError(
                None, None, f"the tag {tag} is not supported here", node.start_mark
            )
        self.open.add(key)
        self.distinct += 1
        total = 1
        if isinstance(node, MappingNode):
            for k, v in node.value:
                if not isinstance(k, ScalarNode):
                    raise ConstructorError(
                        None,
                        None,
                        "a key must be a plain value, not a list or mapping",
                        k.start_mark,
                    )
                total += self.size(k) + self.size(v)
        elif isinstance(node, SequenceNode):
            total += sum(self.size(v) for v in node.value)
        self.open.discard(key)
        self.sizes[key] = total
        if total - self.distinct > MAX_ALIAS_EXPANSION:
            raise ConstructorError(
                None,
                None,
                f"aliases expand this value to {total:,} values (at most "
                f"{MAX_ALIAS_EXPANSION:,} repeated values are allowed); write it out",
                node.start_mark,
            )
        return total
