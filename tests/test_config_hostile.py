"""Whatever config.yaml holds, loading it ends in a value or in one ``ConfigError`` line,
``config.yaml:LINE: ...`` whenever YAML knows the line, and never in "internal error"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
HEAD = "people:\n  - name: Dong Jingwei\nsources:\n  baidu:\n    kind: baidu_images\n"

# (id, text, the line the error must name, a fragment of its message)
HOSTILE = [
    ("nul byte", HEAD + "    every: 6h\x00\n", 6, "U+0000"),
    ("control character", HEAD + "    every: \x07\n", 6, "U+0007"),
    ("yaml version", "%YAML 9.9\n---\n" + HEAD, 1, "version"),
    ("int tag on text", HEAD + "    every: !!int abc\n", 6, "'abc' is not a valid int"),
    ("float tag on text", HEAD + "    rate: !!float x\n", 6, "not a valid float"),
    ("unknown tag", HEAD + "    every: !foo bar\n", 6, "tag !foo is not supported"),
    ("binary tag", HEAD + "    every: !!binary aGk=\n", 6, "binary is not supported"),
    ("python tag", HEAD + "    every: !!python/object:os.system x\n", 6, "not supported"),
    ("infinite float", HEAD + "    every: 1e999\n", 6, "is not a duration"),
    ("dot inf", HEAD + "    every: .inf\n", 6, "is not a duration"),
    ("nan", HEAD + "    every: .nan\n", 6, "is not a duration"),
    ("huge integer", HEAD + "    every: " + "9" * 40 + "\n", 6, "too long for a duration"),
    ("huge unit count", HEAD + "    every: 99999999999999w\n", 6, "too long for a duration"),
    ("zero duration", HEAD + "    every: 0s\n", 6, "must be longer than 0s"),
    ("zero seconds number", HEAD + "    timeout: 0\n", 6, "must be longer than 0s"),
    ("negative number", HEAD + "    every: -5\n", 6, "is not a duration"),
    ("date as duration", HEAD + "    every: 2019-01-01\n", 6, "is not a duration"),
    ("list as duration", HEAD + "    every: [1, 2]\n", 6, "is not a duration"),
    ("mapping as key", HEAD + "? [a]\n: 1\n", 6, "a key must be a plain value"),
    ("undefined alias", HEAD + "    every: *nowhere\n", 6, "undefined alias"),
    ("recursive alias", HEAD + "    headers: &h {a: *h}\n", 6, "refers to the node that"),
    ("unclosed bracket", HEAD + "    controls: [a, b\n", 7, "expected"),
    ("duplicate key", HEAD + "    every: 6h\n    every: 1h\n", 7, "duplicate key"),
    ("tab indentation", HEAD + "\tevery: 6h\n", 6, "not valid YAML"),
    ("zero rate interval", HEAD + "    rate: 1/0s\n", 6, "is not a rate"),
    (
        "bad css selector",
        HEAD.replace("baidu_images", "html") + '    url: "https://a.example/?q={query}"\n'
        '    item: "a.page}-next"\n',
        7,
        "is not a valid CSS selector: Invalid character '}' position 6",
    ),
    (
        "merged key with a bad value",
        HEAD + "    <<: {session_max_age: 0s}\n",
        4,  # a merged key has no line of its own: its mapping's
        "sources.baidu.session_max_age",
    ),
    (
        "user agent beyond ascii",
        HEAD + "    user_agent: Mozilla/5.0 (日本)\n",
        6,
        "U+65E5 cannot be sent in an HTTP header",
    ),
    ("header with a newline", HEAD + '    headers: {X-A: "a\\r\\nB: c"}\n', 6, "U+000D"),
    ("header name", HEAD + '    headers: {"X A": b}\n', 6, "is not an HTTP header name"),
    (
        "commons contact beyond ascii",
        HEAD.replace("baidu_images", "wikimedia_commons") + "    contact: analyst@例え.jp\n",
        6,
        "sources.baidu.contact: U+4F8B cannot be sent",
    ),
    ("person name as mapping", "people:\n  - name: {a: 1}\n" + HEAD[8:], 2, "valid string"),
    # Found by bench.fuzz: 1.5 MB of repeated lines held the YAML reader over 10 s.
    (
        "too large",
        HEAD + "    # " + "x" * 600_000 + "\n",
        None,
        "too large to be a config file: 600,079 characters (at most 524,288)",
    ),
    ("deep nesting", HEAD + "    headers: " + "[" * 5000 + "]" * 5000 + "\n", 6, "levels deep"),
    ("deep block nesting", HEAD + "".join(f"{' ' * i}k{i}:\n" for i in range(4, 300)), 35, "deep"),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_config_is_one_config_error_line(
    text: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.yaml", {})
    message = str(err.value)
    assert "\n" not in message
    assert fragment in message
    assert message.startswith(f"config.yaml:{line}: " if line else "config.yaml: ")


def billion_laughs(levels: int = 9) -> str:
    lines = [HEAD + '    headers:\n      lol0: &l0 "lol"']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"      lol{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast_with_one_line() -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        parse_config(billion_laughs(), "config.yaml", {})
    elapsed = time.perf_counter() - started
    assert "aliases expand" in str(err.value)
    assert str(err.value).startswith("config.yaml:")
    # Generous: a linear walk takes milliseconds; expanding takes minutes.
    assert elapsed < 2


def test_aliases_within_the_bound_still_work() -> None:
    text = (
        HEAD + "    controls: &c [熊猫, 长城]\n  bing:\n    kind: bing_images\n    controls: *c\n"
    )
    config = parse_config(text, "config.yaml", {})
    assert config.sources["bing"].controls == ("熊猫", "长城")


def test_a_config_of_the_largest_size_allowed_is_read() -> None:
    from monitor.config.yamltext import MAX_CHARS

    text = HEAD + "# " + "x" * (MAX_CHARS - len(HEAD) - 3) + "\n"
    assert len(text) == MAX_CHARS
    assert list(parse_config(text, "config.yaml", {}).sources) == ["baidu"]


def test_nul_byte_in_a_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes((HEAD + "    every: 6h\x00\n").encode())
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"{path}:6: not valid YAML")
    assert "internal error" not in proc.stderr


SPLICES = ["&a ", "*a", "!!int ", "!foo ", "<<: ", "? ", "- ", "{", "]", ":", '"', "\x00",
           "\t", "\n", "${X}", "1e999", ".nan", "0s", "~", "2019-01-01", "\u2066", "|\n",
           "1/0s"]  # fmt: skip


def test_mutated_shipped_config_never_raises_anything_but_one_config_error_line() -> None:
    """A seeded miniature of the fuzzer: splices, cuts, repeated lines and odd characters
    in the shipped config (each of these once found a crash or a multi-line message)."""
    import random

    base = (ROOT / "config.yaml").read_text(encoding="utf-8")
    rng = random.Random(13)
    for _ in range(120):
        text = base
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            roll = rng.random()
            if roll < 0.6:
                text = text[:at] + rng.choice(SPLICES) + text[at:]
            elif roll < 0.8:
                text = text[:at] + text[at + rng.randint(1, 20) :]
            else:
                text = text[:at] + chr(rng.randrange(1, 0x3000)) + text[at + 1 :]
        try:
            parse_config(text, "config.yaml", {})
        except ConfigError as exc:
            problems = getattr(exc, "problems", [exc])
            assert all("\n" not in str(p) for p in problems), str(exc)
