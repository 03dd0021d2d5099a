"""``config check``: refuses what a reviewed config must not hold (literal secrets, bad URLs
and addresses, zero durations) with one line and exit 2, warns about choices worth a second
look, and says what each source will send without any secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli

PEOPLE = "people:\n  - name: Dong Jingwei\n    aliases: [董经纬]\n"
BAIDU = "  baidu:\n    kind: baidu_images\n    controls: [熊猫]\n"
CHANNEL = "alerts:\n  webhooks:\n    - url: http://127.0.0.1:9/hook\n"


def config_check(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(path), "config", "check"], env=env)


def one_error_line(result, path: Path) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "internal error" not in result.stderr
    assert lines[0].startswith(f"{path}:")
    return str(lines[0])


@pytest.mark.parametrize(
    ("section", "key", "var"),
    [
        (
            "alerts:\n  email:\n    host: smtp.example.org\n    from: a@example.org\n"
            "    to: [b@example.org]\n    username: u\n    password: hunter2-pw\n",
            "alerts.email.password",
            "${EMAIL_PASSWORD}",
        ),
        (
            "alerts:\n  webhooks:\n    - url: http://127.0.0.1:9/h\n      secret: whsec_abc123\n",
            "alerts.webhooks.secret",
            "${WEBHOOKS_SECRET}",
        ),
    ],
    ids=["email password", "webhook secret"],
)
def test_literal_secret_is_refused_naming_the_key_and_a_variable(
    tmp_path: Path, section: str, key: str, var: str
) -> None:
    result = config_check(tmp_path, PEOPLE + "sources:\n" + BAIDU + section)
    line = one_error_line(result, tmp_path / "config.yaml")
    assert key in line and var in line
    assert "hunter2" not in result.output and "abc123" not in result.output


def test_literal_api_key_and_credential_header_are_refused(tmp_path: Path) -> None:
    text = (
        PEOPLE
        + "sources:\n  google:\n    kind: google_cse\n    api_key: AIzaSyLITERAL\n    cx: abc\n"
        + "    controls: [panda]\n    headers: {X-Subscription-Token: tok-literal}\n"
        + CHANNEL
    )
    result = config_check(tmp_path, text)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "sources.google.api_key" in lines[0] and "${GOOGLE_API_KEY}" in lines[0]
    assert "sources.google.headers.X-Subscription-Token" in lines[1]


def test_secrets_from_the_environment_pass(tmp_path: Path) -> None:
    text = (
        PEOPLE
        + "sources:\n"
        + BAIDU
        + "alerts:\n  webhooks:\n    - url: http://127.0.0.1:9/h\n      secret: ${HOOK_SECRET}\n"
    )
    result = config_check(tmp_path, text, env={"HOOK_SECRET": "whsec_fromenv"})
    assert result.exit_code == 0, result.output
    assert "whsec_fromenv" not in result.output


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (PEOPLE + "sources:\n" + BAIDU + "    base_url: not a url\n", "is not a URL"),
        (PEOPLE + "sources:\n" + BAIDU + "    base_url: ftp://mirror/\n", "scheme must be"),
        (PEOPLE + "sources:\n" + BAIDU + "    proxy: http://\n", "no host"),
        (
            PEOPLE
            + "sources:\n"
            + BAIDU
            + "alerts:\n  email:\n    host: h\n    from: a@example.org\n    to: [not-an-email]\n",
            '"not-an-email" is not an e-mail address',
        ),
        (
            PEOPLE
            + "sources:\n"
            + BAIDU
            + "alerts:\n  email:\n    host: h\n    from: nobody\n    to: b@example.org\n",
            '"nobody" is not an e-mail address',
        ),
        (PEOPLE + "sources:\n" + BAIDU + "    every: 0s\n", "must be longer than 0s"),
        (PEOPLE + "sources:\n" + BAIDU + "alerts:\n  backoff: 0m\n", "must be longer than 0s"),
    ],
    ids=["not a url", "ftp", "proxy without host", "to", "from", "every 0s", "backoff 0m"],
)
def test_invalid_url_address_or_zero_duration_is_one_line_exit_2(
    tmp_path: Path, text: str, fragment: str
) -> None:
    line = one_error_line(config_check(tmp_path, text), tmp_path / "config.yaml")
    assert fragment in line


def test_every_shorter_than_the_rate_allows_is_a_warning(tmp_path: Path) -> None:
    text = PEOPLE + "sources:\n" + BAIDU + "    every: 1s\n    rate: 1/5s\n" + CHANNEL
    result = config_check(tmp_path, text)
    assert result.exit_code == 0, result.output
    # Three series (two names, one control) at one request per 5 s: 15 s a round.
    assert (
        "warning: sources.baidu.every: 1s is shorter than a round takes: 3 series at rate "
        "1/5s need 15s" in result.stderr
    )


def test_no_channel_and_no_controls_are_warnings(tmp_path: Path) -> None:
    text = PEOPLE + "sources:\n  bing:\n    kind: bing_images\n"
    result = config_check(tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "warning: sources.bing: no controls" in result.stderr
    assert "warning: alerts: no channel configured" in result.stderr


def test_a_sound_config_has_no_warnings(tmp_path: Path) -> None:
    result = config_check(tmp_path, PEOPLE + "sources:\n" + BAIDU + CHANNEL)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_enabled_google_cse_warns_of_its_end_date(tmp_path: Path) -> None:
    text = (
        PEOPLE
        + "sources:\n  google:\n    kind: google_cse\n    api_key: ${GOOGLE_API_KEY}\n"
        + "    cx: abc\n    controls: [panda]\n"
        + CHANNEL
    )
    result = config_check(tmp_path, text, env={"GOOGLE_API_KEY": "AIzaSy-from-env"})
    assert result.exit_code == 0, result.output
    assert "2027-01-01" in result.stderr and "brave_images" in result.stderr
    assert "AIzaSy-from-env" not in result.output


def test_disabled_google_cse_does_not_warn(tmp_path: Path) -> None:
    text = PEOPLE + "sources:\n" + BAIDU + "  google:\n    kind: google_cse\n    enabled: false\n"
    result = config_check(tmp_path, text + CHANNEL)
    assert "2027" not in result.stderr


def test_each_source_says_what_it_will_send_without_secrets(tmp_path: Path) -> None:
    text = (
        PEOPLE
        + "sources:\n"
        + BAIDU
        + "  brave:\n    kind: brave_images\n    api_key: ${BRAVE_API_KEY}\n"
        + "    country: DE\n    controls: [panda]\n"
        + "  google:\n    kind: google_cse\n    api_key: ${GOOGLE_API_KEY}\n    cx: abc\n"
        + "    controls: [panda]\n"
        + CHANNEL
    )
    env = {"BRAVE_API_KEY": "brave-token-123", "GOOGLE_API_KEY": "AIzaSy-google-456"}
    result = config_check(tmp_path, text, env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "  baidu        GET https://image.baidu.com/search/acjson" in out
    assert "User-Agent Mozilla/5.0" in out
    assert "  brave        GET https://api.search.brave.com/" in out
    assert "market country=DE" in out
    assert "GET https://customsearch.googleapis.com/" in out or "googleapis.com" in out
    for secret in env.values():
        assert secret not in result.output
    # The query (term and, for Google, the key) is not printed at all.
    assert "Dong" not in out.split("requests")[1]


def test_a_secret_in_a_merged_mapping_is_found_without_a_line_of_its_own(tmp_path: Path) -> None:
    text = (
        PEOPLE
        + "sources:\n"
        + BAIDU
        + "alerts:\n  webhooks:\n    - <<: {url: 'http://127.0.0.1:9/h', secret: whsec_lit}\n"
    )
    result = config_check(tmp_path, text)
    assert result.exit_code == 2
    assert "alerts.webhooks.secret: a secret written into the file" in result.stderr
