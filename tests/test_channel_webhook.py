"""Webhooks against a real HTTP receiver on 127.0.0.1 that verifies each signature.

Also the payload schema the receiver gets (``monitor.alerts.payload``): it is the webhook's
contract, so its tests live here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor import __version__
from monitor.alerts.payload import Message, build_payload, encode, webhook_body
from monitor.alerts.schema import SCHEMA_VERSION, AlertPayload, validate_payload
from monitor.channels import build_channels
from monitor.channels.webhook import WebhookChannel
from monitor.config import AlertsConfig
from monitor.core.errors import ChannelError, ConfigError
from monitor.core.masking import mask_url

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t-webhook-key"


def alert(person: str = "董经纬", alert_id: int = 7) -> AlertPayload:
    return build_payload(
        event="drop",
        alert_id=alert_id,
        checked_at=NOW,
        person=person,
        term=person,
        source="baidu_images",
        vantage="cn-bj",
        observed=12,
        baseline=400,
        reason="12 images vs median 400",
    )


def message(*alerts: AlertPayload, delivery_id: str = "0b6f7c52-1") -> Message:
    return Message(delivery_id=delivery_id, alerts=list(alerts) or [alert()], channel="webhook:x")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


class Receiver:
    """A webhook receiver: verifies the HMAC of the raw body, answers queued statuses."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = self.headers.get("X-Absence-Signature", "")
                expected = ""
                if receiver.secret:
                    mac = hmac.new(receiver.secret.encode(), body, hashlib.sha256)
                    expected = "sha256=" + mac.hexdigest()
                ok = hmac.compare_digest(sig, expected)
                receiver.requests.append(Received(dict(self.headers.items()), body, ok))
                status = receiver.statuses.popleft() if receiver.statuses else 204
                reply = b"" if status == 204 else f"status {status} from receiver".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                if status == 429:
                    self.send_header("Retry-After", "120")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/absence"


@pytest.fixture(scope="module")
def running_receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET)
    thread = threading.Thread(target=r.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    thread.join()


@pytest.fixture
def receiver(running_receiver: Receiver) -> Receiver:
    """The module's receiver, emptied: no recorded requests, no queued statuses."""
    running_receiver.requests.clear()
    running_receiver.statuses.clear()
    return running_receiver


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- against the real receiver --------------------------------------------------------------


@pytest.mark.e2e
async def test_webhook_delivers_a_signed_flat_payload(receiver: Receiver) -> None:
    channel = WebhookChannel(url=receiver.url, secret=SECRET)
    await channel.send(message())
    [got] = receiver.requests
    assert got.signature_ok
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Absence-Event"] == "drop"
    assert got.headers["X-Absence-Delivery"] == "0b6f7c52-1"
    assert got.headers["User-Agent"] == f"image-absence-monitor/{__version__}"
    assert validate_payload(json.loads(got.body)) == alert()


@pytest.mark.e2e
async def test_webhook_signed_with_another_secret_fails_verification(receiver: Receiver) -> None:
    await WebhookChannel(url=receiver.url, secret="another-secret").send(message())
    assert not receiver.requests[0].signature_ok


@pytest.mark.e2e
async def test_webhook_without_secret_sends_no_signature(receiver: Receiver) -> None:
    await WebhookChannel(url=receiver.url).send(message())
    assert "X-Absence-Signature" not in receiver.requests[0].headers


@pytest.mark.e2e
async def test_webhook_sends_a_group_as_one_batch(receiver: Receiver) -> None:
    group = message(alert("董经纬", 1), alert("陈一新", 2), alert("王小明", 3))
    await WebhookChannel(url=receiver.url, secret=SECRET).send(group)
    [got] = receiver.requests
    body = json.loads(got.body)
    assert got.signature_ok
    assert got.headers["X-Absence-Event"] == "batch"
    assert body["event"] == "batch" and body["schema_version"] == SCHEMA_VERSION
    assert body["delivery_id"] == got.headers["X-Absence-Delivery"]
    assert [validate_payload(a)["person"] for a in body["alerts"]] == ["董经纬", "陈一新", "王小明"]


@pytest.mark.e2e
async def test_webhook_delivery_id_is_stable_across_two_sends(receiver: Receiver) -> None:
    receiver.statuses.extend([503, 200])
    channel = WebhookChannel(url=receiver.url, secret=SECRET)
    msg = message(delivery_id="3e1a9f00-aaaa")
    with pytest.raises(ChannelError):
        await channel.send(msg)
    await channel.send(msg)
    first, second = receiver.requests
    assert first.headers["X-Absence-Delivery"] == second.headers["X-Absence-Delivery"]
    assert first.headers["X-Absence-Delivery"] == "3e1a9f00-aaaa"
    assert first.body == second.body and second.signature_ok


@pytest.mark.e2e
async def test_webhook_400_is_permanent(receiver: Receiver) -> None:
    receiver.statuses.append(400)
    with pytest.raises(ChannelError) as err:
        await WebhookChannel(url=receiver.url, secret=SECRET).send(message())
    assert err.value.permanent
    assert "HTTP 400" in err.value.message and "status 400 from receiver" in err.value.message


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        *((status, True) for status in (410, 413, 422)),
        *((status, False) for status in (401, 403, 404, 405, 409, 451)),
    ],
)
async def test_webhook_4xx_is_permanent_only_when_it_refuses_the_payload(
    receiver: Receiver, status: int, permanent: bool
) -> None:
    # Issue 14 item 3: every 4xx but 408/429 was permanent, so a receiver answering 401 or
    # 404 while it was redeployed failed the alert for good.
    receiver.statuses.append(status)
    with pytest.raises(ChannelError) as err:
        await WebhookChannel(url=receiver.url, secret=SECRET).send(message())
    assert err.value.permanent is permanent
    assert f"HTTP {status}" in err.value.message


@pytest.mark.e2e
@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_webhook_5xx_429_408_are_transient(receiver: Receiver, status: int) -> None:
    receiver.statuses.append(status)
    with pytest.raises(ChannelError) as err:
        await WebhookChannel(url=receiver.url, secret=SECRET).send(message())
    assert not err.value.permanent
    assert f"HTTP {status}" in err.value.message


@pytest.mark.e2e
async def test_webhook_429_reports_retry_after(receiver: Receiver) -> None:
    receiver.statuses.append(429)
    with pytest.raises(ChannelError) as err:
        await WebhookChannel(url=receiver.url).send(message())
    assert "Retry-After: 120" in err.value.message


@pytest.mark.e2e
async def test_webhook_network_down_is_transient() -> None:
    channel = WebhookChannel(url=f"http://127.0.0.1:{closed_port()}/x", secret=SECRET)
    with pytest.raises(ChannelError) as err:
        await channel.send(message())
    assert not err.value.permanent
    assert "network error" in err.value.message


@pytest.mark.e2e
async def test_webhook_receiver_that_never_answers_times_out_transiently() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        with pytest.raises(ChannelError) as err:
            await WebhookChannel(url=url, timeout=0.2).send(message())
    assert not err.value.permanent
    assert "timed out" in err.value.message


# --- status mapping and secrets without a server ---------------------------------------------


async def test_webhook_redirect_is_transient_and_says_where() -> None:
    def router(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://new.example/in?token=abc"})

    channel = WebhookChannel(url="https://old.example/in", transport=httpx.MockTransport(router))
    with pytest.raises(ChannelError) as err:
        await channel.send(message())
    assert not err.value.permanent
    assert "https://new.example/in?token=***" in err.value.message


async def test_webhook_errors_never_show_the_secret_or_url_tokens() -> None:
    url = "https://hooks.example/services/T0AB12CD3/B0CD34EF5?token=tok-123456"

    def router(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, text=f"bad token tok-123456 for {url} key {SECRET}")

    channel = WebhookChannel(url=url, secret=SECRET, transport=httpx.MockTransport(router))
    with pytest.raises(ChannelError) as err:
        await channel.send(message())
    text = str(err.value) + channel.describe() + repr(channel)
    assert err.value.permanent
    assert SECRET not in text and "tok-123456" not in text and "T0AB12CD3" not in text


def test_mask_url_hides_password_query_values_and_token_segments() -> None:
    url = "https://u:pw@hooks.example:8443/services/T0AB12CD3/B0CD34EF5/x?token=abc&v=1#frag"
    assert (
        mask_url(url, credential=True)
        == "https://u:***@hooks.example:8443/services/T0***/B0***/x?token=***&v=***"
    )


def test_build_channels_names_webhooks_by_name_or_host() -> None:
    channels = build_channels(
        AlertsConfig.model_validate(
            {
                "webhooks": [
                    {"url": "https://a.example/in", "secret": "x"},
                    {"url": "https://a.example/other", "name": "ops"},
                ]
            }
        )
    )
    assert [c.name for c in channels] == ["webhook:a.example", "webhook:ops"]


def test_build_channels_refuses_two_channels_with_one_name() -> None:
    hooks = [{"url": "https://a.example/1"}, {"url": "https://a.example/2"}]
    with pytest.raises(ConfigError, match=r'two channels are named "webhook:a\.example"'):
        build_channels(AlertsConfig.model_validate({"webhooks": hooks}))


def test_webhook_refuses_a_non_http_url() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.webhooks\.url"):
        WebhookChannel(url="ftp://a.example/in")


# --- the payload schema ------------------------------------------------------------------------


def test_payload_always_carries_every_key_and_computes_the_ratio() -> None:
    payload = alert()
    assert payload["ratio"] == 0.03
    assert payload["checked_at"] == "2024-05-01T12:00:00Z"
    assert payload["vanished_images"] == [] and payload["episode"] is None


def test_payload_validation_names_unknown_missing_and_bad_keys() -> None:
    bad: dict[str, Any] = dict(alert())
    bad["extra"] = 1
    del bad["source"]
    bad["event"] = "dropped"
    with pytest.raises(ValueError, match="missing source") as err:
        validate_payload(bad)
    assert "unknown extra" in str(err.value) and "bad event" in str(err.value)


def test_payload_refuses_naive_timestamps() -> None:
    with pytest.raises(ValueError, match="aware"):
        build_payload(event="test", alert_id=0, checked_at=datetime(2024, 5, 1))


def test_message_needs_at_least_one_alert() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        Message(delivery_id="d", alerts=[], channel="email")


def test_encoded_body_is_compact_utf8_json() -> None:
    body = encode(message())
    assert "董经纬".encode() in body
    assert b'"event":"drop"' in body


# --- docs/webhooks.md tells the truth ------------------------------------------------------------

DOC = Path(__file__).parent.parent / "docs" / "webhooks.md"


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_documented_single_alert_example_is_a_valid_payload() -> None:
    validate_payload(json.loads(doc_blocks("json")[0]))


def test_documented_batch_example_has_the_envelope_keys() -> None:
    batch = json.loads(doc_blocks("json")[1])
    assert set(batch) == set(webhook_body(message(alert("a", 1), alert("b", 2))))
    assert batch["event"] == "batch"


def test_documented_verify_function_accepts_our_signature_only() -> None:
    namespace: dict[str, Any] = {}
    exec(doc_blocks("python")[1], namespace)
    verify = namespace["verify"]
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
    channel = WebhookChannel(url="http://127.0.0.1:9/h", secret=secret)
    body = encode(message())
    headers = channel.headers(message(), body, datetime.now(UTC))
    assert verify(body, headers, secret)
    assert not verify(body + b" ", headers, secret)
    assert not verify(body, headers, "whsec_" + base64.b64encode(b"other").decode())
    assert not verify(body, {**headers, "webhook-id": "another"}, secret)
    old = channel.headers(message(), body, datetime.now(UTC) - timedelta(minutes=10))
    assert not verify(body, old, secret)  # a replay
    assert not verify(body, {}, secret)


def test_documented_receiver_example_compiles() -> None:
    compile(doc_blocks("python")[0], "docs/webhooks.md receiver", "exec")
