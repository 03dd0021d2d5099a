"""config.yaml is validated once, completely, with file:line: key.path messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.config.summary import config_summary
from monitor.core import masking
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
people:
  - name: Dong Jingwei
    aliases: [董经纬]
sources:
  baidu:
    kind: baidu_images
    every: 6h
"""


def parse(text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(text, "config.yaml", env or {})


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    names = [p.name for p in config.people]
    assert "Dong Jingwei" in names and "Chen Yixin" in names
    dong = next(p for p in config.people if p.name == "Dong Jingwei")
    assert [t.text for t in dong.terms] == ["Dong Jingwei", "董经纬"]
    assert config.sources["baidu"].controls


def test_minimal_config_gets_defaults() -> None:
    config = parse(MINIMAL)
    assert config.database.url == "sqlite:///absence-monitor.db"
    assert config.vantage == "default"
    assert config.people[0].role == "watch"
    assert config.sources["baidu"].every.total_seconds() == 6 * 3600


def test_bad_duration_names_file_line_and_key() -> None:
    text = MINIMAL.replace("every: 6h", 'every: "6 hours"')
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value) == (
        'config.yaml:7: sources.baidu.every: "6 hours" is not a duration (use 30m, 6h, 1d)'
    )


def test_unknown_key_is_an_error_with_its_line() -> None:
    text = MINIMAL + "    evrey: 6h\n"
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value) == "config.yaml:8: sources.baidu.evrey: unknown key"


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL + "alerst: {}\n")
    assert str(err.value) == "config.yaml:8: alerst: unknown key"


def test_unknown_source_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL.replace("baidu_images", "yandex_images"))
    assert str(err.value).startswith(
        'config.yaml:6: sources.baidu.kind: unknown source kind "yandex_images" (known: '
    )


def test_wrong_type_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL + "    concurrency: many\n")
    assert str(err.value).startswith("config.yaml:8: sources.baidu.concurrency: 'many': ")


def test_missing_environment_variable_is_an_error() -> None:
    text = MINIMAL + "alerts:\n  webhooks:\n    - url: ${HOOK_URL}\n"
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value) == (
        "config.yaml:10: alerts.webhooks[0].url: environment variable HOOK_URL is not set"
    )


@pytest.mark.usefixtures("fresh_registry")
def test_environment_variable_is_substituted() -> None:
    text = MINIMAL + "alerts:\n  webhooks:\n    - url: ${HOOK_URL}\n      secret: ${HOOK_SECRET}\n"
    config = parse(text, {"HOOK_URL": "http://127.0.0.1:9/x", "HOOK_SECRET": "s3cr3t-value"})
    hook = config.alerts.webhooks[0]
    assert hook.url.get_secret_value() == "http://127.0.0.1:9/x"
    assert hook.secret is not None and hook.secret.get_secret_value() == "s3cr3t-value"


def test_secrets_never_show_in_a_dump_or_repr() -> None:
    text = MINIMAL + (
        "alerts:\n"
        "  email: {host: smtp.x, from: a@x, to: b@x, username: u, password: pw-2468}\n"
        "  webhooks: [{url: 'https://hooks.x/T0AB12CD3', secret: hook-1357}]\n"
        "  apprise: ['tgram://123456:AAbbCCdd/987']\n"
        "server: {token: tok-8642}\n"
    )
    config = parse(text)
    shown = repr(config) + str(config.alerts.model_dump()) + config.alerts.model_dump_json()
    shown += config.server.model_dump_json()
    for secret in ("pw-2468", "hook-1357", "T0AB12CD3", "AAbbCCdd", "tok-8642"):
        assert secret not in shown


def test_webhook_url_must_be_http_and_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL + "alerts:\n  webhooks: [{url: 'ftp://files.x/T0AB12CD3'}]\n")
    assert str(err.value) == (
        "config.yaml:9: alerts.webhooks[0].url: must start with http:// or https://"
    )


@pytest.mark.usefixtures("fresh_registry")
def test_substituted_secret_is_masked() -> None:

    text = MINIMAL + "alerts:\n  webhooks:\n    - url: http://x/\n      secret: ${HOOK_SECRET}\n"
    parse(text, {"HOOK_SECRET": "very-secret-token-123"})
    assert masking.mask("signed with very-secret-token-123") == "signed with ***"


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL + "  - : [\n")
    assert str(err.value).startswith("config.yaml:")
    assert "not valid YAML" in str(err.value)


def test_several_problems_are_reported_one_per_line() -> None:
    text = MINIMAL.replace("every: 6h", "every: soon") + "    rate: fast\n"
    with pytest.raises(ConfigError) as err:
        parse(text)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("config.yaml:7: sources.baidu.every:")
    assert lines[1].startswith('config.yaml:8: sources.baidu.rate: "fast" is not a rate')


def test_detection_override_unknown_key_is_an_error() -> None:
    text = MINIMAL + "    detection:\n      drop_ration: 0.2\n"
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert "sources.baidu.detection.drop_ration: unknown key" in str(err.value)


def test_per_source_detection_override_applies() -> None:
    text = MINIMAL + "    detection:\n      drop_ratio: 0.2\n"
    config = parse(text)
    assert config.detection_for("baidu").drop_ratio == 0.2
    assert config.detection.drop_ratio == 0.3


def test_person_restricted_to_unknown_source_is_an_error() -> None:
    alias = "    aliases: [董经纬]\n"
    text = MINIMAL.replace(alias, alias + "    sources: [bing]\n")
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert 'people[0].sources: unknown source "bing"' in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in str(err.value)


def test_config_check_summary_hides_webhook_and_apprise_tokens() -> None:
    text = MINIMAL + (
        "alerts:\n"
        "  webhooks: [{url: 'https://hooks.x/services/T0AB12CD3/B0CD34EF5'}]\n"
        "  apprise: ['tgram://123456:AAH5dq7Tcv/987', 'slack://T1JJ3T3L2/A1BRTD4JD/x']\n"
    )
    summary = config_summary(parse(text))
    assert summary.splitlines()[-1] == (
        "alert channels: webhook https://hooks.x/services/T0***/B0***; "
        "apprise tgram://123456:AA***/987; apprise slack://T1***/A1***/x"
    )
