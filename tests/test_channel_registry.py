"""Invariants over every registered channel kind, and the optional Apprise channel."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from monitor.alerts.payload import Message, build_payload
from monitor.channels import REGISTRY, Channel, build_channels, load
from monitor.config import AlertsConfig
from monitor.core.errors import ChannelError, ConfigError

HAS_APPRISE = importlib.util.find_spec("apprise") is not None
needs_apprise = pytest.mark.skipif(not HAS_APPRISE, reason="the apprise extra is not installed")
# Apprise loads its plugins lazily on first use, and one of them imports the stdlib's
# deprecated imghdr: not ours to fix, so tolerated on the tests that may load them.
apprise_warnings = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def apprise(urls: list[str]) -> AlertsConfig:
    """An ``alerts`` section with these Apprise URLs, as config.yaml would give it."""
    return AlertsConfig.model_validate({"apprise": urls})


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_registered_channel_imports_and_states_its_contract(kind: str) -> None:
    cls = load(kind)
    assert issubclass(cls, Channel)
    assert cls.kind == kind
    assert cls.__doc__ and cls.__doc__.strip()
    assert {"send", "from_config", "describe"} <= set(vars(cls))  # overrides, not the stubs


def test_unknown_channel_kind_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="known: apprise, email, webhook"):
        load("pager")


def test_apprise_without_the_package_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes `import apprise` fail
    with pytest.raises(ConfigError, match=r'pip install "image-absence-monitor\[apprise\]"'):
        build_channels(apprise(["json://127.0.0.1/"]))


@needs_apprise
@apprise_warnings
def test_apprise_channel_names_are_stable_and_hide_tokens() -> None:
    urls = ["tgram://123456:AAbbCCddEE/987654", "json://u:hunter22@127.0.0.1/x"]
    first = [c.name for c in build_channels(apprise(urls))]
    again = [c.name for c in build_channels(apprise(urls))]
    assert first == again and first[0].startswith("apprise:tgram:")
    described = " ".join(c.describe() for c in build_channels(apprise(urls)))
    assert "AAbbCCddEE" not in described and "hunter22" not in described


@needs_apprise
@apprise_warnings
def test_apprise_refuses_a_url_it_does_not_understand() -> None:
    with pytest.raises(ConfigError, match="not a URL Apprise understands"):
        build_channels(apprise(["nosuchservice://x"]))


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[type[_Collector], int]]:
    handler = type("Collector", (_Collector,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield handler, server.server_port
    server.shutdown()
    server.server_close()
    thread.join()


def _message() -> Message:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    return Message("d-1", [build_payload(event="test", alert_id=0, checked_at=now)], "apprise")


@needs_apprise
@apprise_warnings
@pytest.mark.e2e
async def test_apprise_sends_subject_and_text_body(collector: Any) -> None:
    handler, port = collector
    [channel] = build_channels(apprise([f"json://127.0.0.1:{port}/notify"]))
    await channel.send(_message())
    [got] = handler.received
    assert got["title"] == "[absence] test alert from image-absence-monitor"
    assert "Delivery d-1" in got["message"]


@needs_apprise
@apprise_warnings
@pytest.mark.e2e
async def test_apprise_failure_is_transient(collector: Any) -> None:
    handler, port = collector
    handler.status = 500
    [channel] = build_channels(apprise([f"json://127.0.0.1:{port}/notify"]))
    with pytest.raises(ChannelError) as err:
        await channel.send(_message())
    assert not err.value.permanent
