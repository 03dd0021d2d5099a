"""The overview page and a report, opened in headless Chromium (Debian's ``chromium``).

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no
port, no extra package). Each page must load without a console error, a script exception
or a blocked resource (a CSP violation is one), and its charts must be drawn: the chart
element has a non-zero size and the screenshot has the line's colour in it. Pages are
served from 127.0.0.1, thumbnails included, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image as PILImage

from monitor.testing import LocalServer, Reply, Request
from monitor.web.document import write_report
from monitor.web.overview_page import overview_html
from monitor.web.report_page import report_html
from tests.helpers.report import keep_thumbnail, seed_report_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
LINE_BLUE = (37, 99, 235)  # --line in style.css
TIMEOUT = 30.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]

# Chromium reads commands from fd 3 and writes answers to fd 4; a tiny Python exec wrapper
# puts our pipe ends there (no shell: dash cannot redirect file descriptors above 9).
_EXEC_WRAPPER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """Headless Chromium over the DevTools pipe: commands, events, pages."""

    def __init__(self, executable: str, profile: Path) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # Move the child's ends above 9 so that dup2 onto 3 and 4 cannot clobber them.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
        child_w = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(out_w)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _EXEC_WRAPPER,
                str(child_r),
                str(child_w),
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(child_r, child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_r)
        os.close(child_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = os.fdopen(out_r, "rb", buffering=0)
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := self._in.read(65536):
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._messages.put(json.loads(raw))
        self._messages.put(None)

    def _next(self) -> dict[str, Any]:
        message = self._messages.get(timeout=TIMEOUT)
        if message is None:
            raise RuntimeError("chromium closed the DevTools pipe")
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._out.write(json.dumps(msg).encode() + b"\0")
        while True:
            answer = self._next()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            self.events.append(answer)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        def match(e: dict[str, Any]) -> bool:
            return e.get("method") == method and e.get("sessionId") == session

        for event in self.events:
            if match(event):
                self.events.remove(event)
                return event
        while True:
            event = self._next()
            if match(event):
                return event
            self.events.append(event)

    def open(self, url: str) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session)

    def close(self) -> None:
        # The browser may be gone before it answers: closing is then already done.
        with contextlib.suppress(RuntimeError, queue.Empty, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._reader.join(timeout=TIMEOUT)  # chromium is gone: the pipe is at its end
        self._in.close()


class Page:
    """One tab: evaluate script, take screenshots, list the problems it reported."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def eval(self, expression: str) -> Any:
        result = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path) -> PILImage.Image:
        data = self.browser.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            self.session,
        )["data"]
        path.write_bytes(base64.b64decode(data))
        return PILImage.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads, CSP)."""
        self.eval("0")  # flush: events sent before this answer are now collected
        out = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def thumbnail_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[LocalServer, Any]]:
    """The daemon's two pages and the thumbnails, served on 127.0.0.1."""
    state: dict[str, Any] = {}
    png = thumbnail_png()

    def handler(req: Request) -> Reply:
        app = state["seeded"].app
        if req.path == "/":
            return Reply(200, overview_html(app.sessions, app.config, now=app.clock()))
        if req.path.startswith("/report/"):
            person = unquote(req.path[len("/report/") :])
            page = report_html(
                app.sessions, app.config, person, thumbnail_dir=app.thumbnail_dir, now=app.clock()
            )
            return Reply(200, page)
        if req.path.startswith("/thumb/"):
            state["thumb_requests"] += 1
            return Reply(200, png, "image/png")
        return Reply(404, "not found", "text/plain")

    with LocalServer(handler) as server:
        state["thumb_requests"] = 0
        seeded = seed_report_app(tmp_path, thumb_base=server.url)
        for name in "bcd":  # kept copies: the page embeds them and fetches no thumbnail
            keep_thumbnail(seeded.app, f"/{name}.jpg", png)
        state["seeded"] = seeded
        yield server, state


def blue_pixels(image: PILImage.Image) -> int:
    """Pixels of the chart line's colour (anti-aliasing allowed for)."""
    pixels = np.asarray(image, dtype=np.int16)
    close = np.abs(pixels - np.array(LINE_BLUE, dtype=np.int16)) < 30
    return int(close.all(axis=2).sum())


def chart_sizes(page: Page, selector: str) -> list[list[float]]:
    return list(
        page.eval(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            ".map(e => {const r = e.getBoundingClientRect(); return [r.width, r.height];})"
        )
    )


def test_overview_page_loads_cleanly_and_draws_sparklines(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    server, _ = site
    page = browser.open(server.url + "/")
    assert page.problems() == []
    sizes = chart_sizes(page, "svg.spark")
    assert len(sizes) == 2 and all(w > 0 and h > 0 for w, h in sizes)
    shot = page.screenshot(tmp_path / "overview.png")
    assert blue_pixels(shot) > 20


def test_report_page_reached_from_the_overview_loads_cleanly_with_its_charts(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    server, state = site
    overview = browser.open(server.url + "/")
    href = overview.eval("document.querySelector('a[href^=\"report/\"]').href")
    assert href == server.url + "/report/Chen%20Yixin"
    page = browser.open(href)
    assert page.problems() == []
    sizes = chart_sizes(page, "svg.chart")
    assert len(sizes) == 3 and all(w > 300 and h > 50 for w, h in sizes)
    # The gallery's kept thumbnails (embedded) really decode, and the engine's copies
    # (served by the local site) were never requested.
    loaded = page.eval(
        "Promise.all(Array.from(document.querySelectorAll('.gallery img')).map(i => {"
        " i.loading = 'eager'; return i.decode().then(() => i.naturalWidth, () => 0); }))"
    )
    assert loaded == [64, 64, 64]
    assert state["thumb_requests"] == 0
    shot = page.screenshot(tmp_path / "report.png")
    assert shot.height > 900 and blue_pixels(shot) > 200


def test_written_report_file_opens_offline_without_errors(
    browser: Browser, site: tuple[LocalServer, Any], tmp_path: Path
) -> None:
    _, state = site
    seeded = state["seeded"]
    path = write_report(
        seeded.app.sessions,
        seeded.app.config,
        [],
        tmp_path / "report.html",
        thumbnail_dir=seeded.app.thumbnail_dir,
        now=seeded.app.clock(),
    )
    page = browser.open(path.resolve().as_uri())
    assert page.problems() == []
    assert page.eval("document.querySelectorAll('script:not([src])').length") == 1
    assert not page.eval("window.__xss === undefined ? false : true")
    width, height = chart_sizes(page, "svg.chart")[0]
    assert width > 300 and height > 50
    # The hostile title is text on the page, not markup.
    assert "<script>alert(1)</script>" in page.eval("document.body.innerText")
    page.screenshot(tmp_path / "report-file.png")
