"""What a YAML scalar means: its tag (resolved from the text when none is written) and its
Python value, by the rules of YAML 1.2 (the default) or 1.1 (a document that starts with
``%YAML 1.1``).

The rules are ruamel.yaml's, which read the config before libyaml did (its ``resolver.py``
table and ``RoundTripConstructor``): under 1.2 ``yes``, ``on`` and ``n`` are text, ``010``
is ten, ``1e3`` is a float and ``1_000`` an int; under 1.1 ``yes`` is true, ``010`` is
eight and ``1:30`` is ninety. So every config reads as it did.

Contract: ``resolve`` returns a full tag; ``construct`` returns the value of a scalar of a
supported tag, raises ``Unsupported`` for any other tag and lets ``ValueError``,
``KeyError``, ``AttributeError`` or ``OverflowError`` out for a value its tag cannot read
(``!!int abc``); the caller names the line.
"""

from __future__ import annotations

import re
from functools import reduce
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

Version = tuple[int, int]

CORE = "tag:yaml.org,2002:"
STR, MAP, SEQ, MERGE = CORE + "str", CORE + "map", CORE + "seq", CORE + "merge"
NULL = CORE + "null"

# (tag, first characters, pattern) in ruamel's order: the first that matches wins.
_NUMBER = "-+0123456789."
_VERSIONED: dict[Version, list[tuple[str, str, str]]] = {
    (1, 2): [
        ("bool", "tTfF", r"true|True|TRUE|false|False|FALSE"),
        (
            "float",
            _NUMBER,
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
            r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        ),
        ("int", _NUMBER, r"[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+"),
    ],
    (1, 1): [
        (
            "bool",
            "yYnNtTfFoO",
            r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
            r"|on|On|ON|off|Off|OFF",
        ),
        (
            "float",
            _NUMBER,
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
            r"|\.[0-9_]+(?:[eE][-+][0-9]+)?"
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        ),
        (
            "int",
            _NUMBER,
            r"[-+]?0b[0-1_]+|[-+]?0?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
        ),
    ],
}
_SHARED = [
    ("merge", "<", r"<<"),
    ("null", "~nN", r"~|null|Null|NULL"),
    (
        "timestamp",
        "0123456789",
        r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
        r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?"
        r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
    ),
    ("value", "=", r"="),
    ("yaml", "!&*", r"!|&|\*"),
]
_RULES = {
    version: [
        (CORE + tag, frozenset(first), re.compile(f"(?:{pattern})\\Z"))
        for tag, first, pattern in [*rules, *_SHARED]
    ]
    for version, rules in _VERSIONED.items()
}

_BOOLS = {"yes": True, "no": False, "y": True, "n": False, "true": True, "false": False}
_BOOLS |= {"on": True, "off": False}
_TIMESTAMPS = SafeConstructor()


class Unsupported(Exception):
    """A tag the config does not read (``!foo``, ``!!binary``, ``!!python/...``)."""


def resolve(tag: str | None, plain: bool, value: str, version: Version) -> str:
    """The full tag of a scalar: the written one, else from a plain scalar's text."""
    if tag is not None and tag != "!":
        return tag
    if not plain:
        return STR
    if not value:
        return NULL
    first = value[0]
    for full, starts, pattern in _RULES.get(version, _RULES[(1, 2)]):
        if first in starts and pattern.match(value):
            return full
    return STR


def construct(tag: str, value: str, version: Version) -> Any:
    """The Python value of a scalar with the full ``tag``."""
    if tag == STR:
        return value
    if tag == NULL:
        return None
    if tag == CORE + "bool":
        return _BOOLS[value.lower()]
    if tag == CORE + "int":
        return _integer(value, version)
    if tag == CORE + "float":
        return _float(value, version)
    if tag == CORE + "timestamp":
        return _TIMESTAMPS.construct_yaml_timestamp(ScalarNode(tag, value))
    raise Unsupported(tag)


def _integer(text: str, version: Version) -> int:
    digits, sign = _signed(text.replace("_", ""))
    for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    if version == (1, 1) and len(digits) > 1 and digits[0] == "0":
        return sign * int(digits, 8)
    if version == (1, 1) and ":" in digits:
        return sign * reduce(lambda total, part: total * 60 + int(part), digits.split(":"), 0)
    return sign * int(digits)


def _float(text: str, version: Version) -> float:
    digits, sign = _signed(text.replace("_", "").lower())
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return float("nan")
    if version == (1, 1) and ":" in digits:
        return sign * reduce(lambda total, part: total * 60 + float(part), digits.split(":"), 0.0)
    return sign * float(digits)


def _signed(text: str) -> tuple[str, int]:
    if text[:1] in ("-", "+"):
        return text[1:], -1 if text[0] == "-" else 1
    return text, 1
