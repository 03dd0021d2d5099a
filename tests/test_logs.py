"""Logs: JSON lines for shippers; secrets masked in every line and in CLI output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.core import masking
from monitor.core.logs import JsonFormatter
from monitor.core.masking import MaskingFilter, mask


def test_json_formatter_writes_one_object_per_line_with_extras() -> None:
    record = logging.makeLogRecord(
        {
            "name": "monitor.rounds",
            "levelname": "INFO",
            "msg": "check %s: %s",
            "args": ("董经纬 @ baidu", "ok"),
            "source": "baidu",
        }
    )
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "check 董经纬 @ baidu: ok"
    assert data["level"] == "info" and data["logger"] == "monitor.rounds"
    assert data["source"] == "baidu"
    assert "\n" not in line


@pytest.mark.usefixtures("fresh_registry")
def test_masking_filter_masks_registered_secrets_in_arguments() -> None:
    masking.register("hunter2-smtp-password")
    record = logging.makeLogRecord({"msg": "login with %s", "args": ("hunter2-smtp-password",)})
    MaskingFilter().filter(record)
    assert record.getMessage() == "login with ***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pa55word@hooks.example/x", "https://user:***@hooks.example/x"),
        ("https://api.example/v1?key=AIzaSyXYZ&q=a", "https://api.example/v1?key=***&q=a"),
        ("postgresql+psycopg://absence:pw@db/mon", "postgresql+psycopg://absence:***@db/mon"),
    ],
)
def test_mask_hides_url_passwords_and_secret_query_values(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_secret_from_the_environment_never_reaches_the_cli_output(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "database: {url: 'postgresql+psycopg://absence:${PGPASS}@127.0.0.1:1/x'}\n"
        "people: [{name: X}]\nsources: {bing: {kind: bing_images}}\n"
        "alerts: {webhooks: [{url: 'http://127.0.0.1:9/h', secret: '${HOOK_SECRET}'}]}\n",
        encoding="utf-8",
    )
    env = {"PGPASS": "db-pass-0123", "HOOK_SECRET": "hook-secret-4567", "PATH": "/usr/bin"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(cfg),
            "--log-format",
            "json",
            "-vv",
            "config",
            "check",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    everything = proc.stdout + proc.stderr
    assert "db-pass-0123" not in everything and "hook-secret-4567" not in everything
    assert "postgresql+psycopg://absence:***@127.0.0.1:1/x" in proc.stdout
