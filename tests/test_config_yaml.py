"""The YAML reader under the config (``monitor/config/yamltext.py``): libyaml's events built
into values that know their lines, read by the rules ruamel.yaml read them by."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.config.yamltext import MAX_DEPTH, YamlMap, YamlSeq, key_line, read_yaml
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
HEAD = "people:\n  - name: Dong Jingwei\nsources:\n  baidu:\n    kind: baidu_images\n"


def error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        read_yaml(text, "config.yaml")
    return str(err.value)


def test_plain_values_are_read_by_yaml_1_2_rules() -> None:
    text = "a: yes\nb: 010\nc: 0o17\nd: 1e3\ne: 1_000\nf: ~\ng: 2019-01-01\nh: 1:30\ni: .inf\n"
    got = read_yaml(text, "config.yaml")
    assert got == {
        "a": "yes",
        "b": 10,
        "c": 15,
        "d": 1000.0,
        "e": 1000,
        "f": None,
        "g": datetime.date(2019, 1, 1),
        "h": "1:30",
        "i": float("inf"),
    }
    assert type(got["d"]) is float and type(got["b"]) is int


def test_a_yaml_1_1_document_is_read_by_the_1_1_rules() -> None:
    got = read_yaml("%YAML 1.1\n---\na: yes\nb: 010\nc: 1:30\nd: off\n", "config.yaml")
    assert got == {"a": True, "b": 8, "c": 90, "d": False}


def test_quoted_and_explicitly_tagged_text_stays_text() -> None:
    text = HEAD + "    controls: [!!str 熊猫, '010', \"true\"]\n"
    config = parse_config(text, "config.yaml", {})
    assert config.sources["baidu"].controls == ("熊猫", "010", "true")


def test_mappings_and_lists_know_the_line_of_each_key_and_item() -> None:
    tree = read_yaml("a: 1\n\nb:\n  - x\n  - {c: 2}\n  -\n    d: 3\n", "config.yaml")
    assert isinstance(tree, YamlMap) and isinstance(tree["b"], YamlSeq)
    assert (key_line(tree, "a"), key_line(tree, "b")) == (1, 3)
    assert tree["b"].lines == [3, 4, 6]
    assert key_line(tree["b"][2], "d") == 7


def test_keys_written_out_win_over_merged_ones_and_earlier_merges_over_later() -> None:
    text = "base: &b {x: 1, y: 1}\nmore: &m {y: 2, z: 2}\nuse:\n  <<: [*b, *m]\n  x: 0\n"
    tree = read_yaml(text, "config.yaml")
    assert tree["use"] == {"x": 0, "y": 1, "z": 2}
    assert key_line(tree["use"], "x") == 5
    assert key_line(tree["use"], "z") is None  # merged: no line of its own


# (id, text, the line the error must name, how its message starts after "not valid YAML: ")
PROBLEMS = [
    ("undefined alias", "a: {x: 1}\nb:\n  <<: *a\n", 3, "found undefined alias 'a'"),
    ("two merge keys", "a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", 4, "found duplicate merge key"),
    ("merging numbers", "a: &a [1]\nb:\n  <<: *a\n", 3, "<< merges a mapping or a list of"),
    ("duplicate key", "a: 1\nb: 2\na: 3\n", 3, 'found duplicate key "a" (first on line 1)'),
    ("mapping as key by alias", "a: &m {x: 1}\n? *m\n: 2\n", 2, "a key must be a plain value"),
    ("seq tag on a mapping", "a: !!seq {x: 1}\n", 1, "the tag tag:yaml.org,2002:seq is not"),
    ("map tag on text", "a: !!map x\n", 1, "the tag tag:yaml.org,2002:map is not supported"),
    ("two documents", "a: 1\n---\nb: 2\n", 2, "expected one document, but found another"),
    ("lone surrogate", "a: 1\nb: x\ud800\n", 2, "character U+D800 is not allowed"),
    ("NUL after a two-byte character", "é: 1\nb: \x00\n", 2, "character U+0000 is not allowed"),
    ("key with a newline", '"a\\nb": 1\n"a\\nb": 2\n', 2, 'found duplicate key "a b" (first on'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "start"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_yaml_problems_are_one_line_at_their_line(text: str, line: int, start: str) -> None:
    message = error(text)
    assert message.startswith(f"config.yaml:{line}: not valid YAML: {start}"), message
    assert "\n" not in message


def test_values_nest_up_to_max_depth_levels() -> None:
    def nested(levels: int) -> str:  # the top mapping is level 1, its value level 2...
        return "a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"

    assert read_yaml(nested(MAX_DEPTH), "config.yaml") is not None
    assert f"nested more than {MAX_DEPTH} levels deep" in error(nested(MAX_DEPTH + 1))


def test_aliases_cannot_nest_values_deeper_than_max_depth() -> None:
    """Each alias here adds 20 levels: without a bound through aliases, later walks over
    the data would recurse as deep as the chain is long."""
    levels = "[" * 20, "]" * 20
    text = f"a0: &a0 {levels[0]}{levels[1]}\n" + "".join(
        f"a{i}: &a{i} {levels[0]}*a{i - 1}{levels[1]}\n" for i in range(1, 50)
    )
    assert error(text) == (
        f"config.yaml:2: not valid YAML: nested more than {MAX_DEPTH} levels deep through aliases"
    )


def test_reading_the_config_uses_libyaml_and_never_loads_ruamel() -> None:
    """The pure-Python reader cost 15-25 CPU ms per config; start-up pays for its import."""
    code = (
        "import sys\n"
        "from monitor.config import load_config, yamltext\n"
        f"load_config({str(ROOT / 'config.yaml')!r}, env={{}})\n"
        "print(yamltext._LIBYAML, 'ruamel' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["True", "False"]
