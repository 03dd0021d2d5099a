"""The daemon's optional read-only HTTP endpoint (``server.enabled``; 127.0.0.1 by default).

- ``/healthz``: 503 with the reason (for Docker HEALTHCHECK, systemd watchdogs, uptime
  checkers) when a restart could help: the heartbeat is old (a cluster node's own), or
  deliveries of configured channels are more than ``outbox_admin.OVERDUE`` (5 min) past
  their attempt time (the dispatcher is not sending). Otherwise 200; ``status`` is
  ``degraded`` while alerts wait undelivered longer than ``OUTBOX_MAX_AGE`` (a receiver
  down: the retry schedule runs for a day, and a restart would not bring the receiver
  back), while deliveries have failed (resend once fixed), or while some wait for a
  channel the config no longer has;
  a cluster node also reports ``spool_depth`` (checks held locally while PostgreSQL was
  out of reach): ``degraded`` while it is not zero, and while the database cannot be
  read (the node keeps measuring into its spool: a restart would not help);
- ``/metrics``: Prometheus text format;
- ``/``: the overview page; ``/report/<person>``: a person's report (issue 6 pages);
- ``/alerts.atom``: the Atom feed of alerts (``monitor.web.feed``), for feed readers.

With ``server.token`` set, every path but ``/healthz`` needs ``Authorization: Bearer <token>``
or ``?token=<token>``. It runs in a thread of its own and only reads the database.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.exc import DBAPIError

from monitor.core.clock import iso_utc
from monitor.core.errors import MonitorError
from monitor.core.metrics import Metrics
from monitor.store.cluster import last_seen
from monitor.store.heartbeat import latest_beat
from monitor.store.outbox_admin import backlog

if TYPE_CHECKING:
    from monitor.app import App

logger = logging.getLogger(__name__)
HEARTBEAT_MAX_AGE = timedelta(seconds=90)
OUTBOX_MAX_AGE = timedelta(minutes=30)


def health(app: App, spool_depth: int | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether the daemon is healthy, and the facts behind the answer: ``status`` is
    ``unhealthy`` (503) on ``problems``, else ``degraded`` on ``warnings``, else ``ok``
    (see the module docstring for which is which, and why). ``spool_depth`` is a cluster
    node's spool (None: not a cluster node)."""
    now = app.clock()
    cluster = app.config.cluster
    try:
        with app.sessions() as session:
            # A cluster node answers for itself: another node's fresh beat says nothing
            # about this one.
            beat = last_seen(session, cluster.node) if cluster.enabled else latest_beat(session)
            outbox = backlog(session, now, app.channels)
    except DBAPIError as exc:
        if spool_depth is None:
            raise
        return True, _unreachable(spool_depth, exc)
    problems, warnings = [], []
    if beat is None or now - beat > HEARTBEAT_MAX_AGE:
        problems.append("heartbeat is old" if beat else "no heartbeat yet")
    if outbox.stalled:
        problems.append(
            f"{outbox.stalled} delivery(ies) overdue on configured channels: "
            "the dispatcher is not sending"
        )
    if outbox.oldest is not None and now - outbox.oldest > OUTBOX_MAX_AGE:
        warnings.append(f"undelivered alerts since {iso_utc(outbox.oldest)}: retrying on schedule")
    if outbox.failed:
        warnings.append(f"{outbox.failed} delivery(ies) failed: see alerts list, then resend")
    if outbox.overdue > outbox.stalled:
        warnings.append(
            f"{outbox.overdue - outbox.stalled} delivery(ies) wait for a channel not in the config"
        )
    if spool_depth:
        warnings.append(f"{spool_depth} check(s) spooled locally, waiting to be forwarded")
    facts = {
        "ok": not problems,
        "status": "unhealthy" if problems else "degraded" if warnings else "ok",
        "problems": problems,
        "warnings": warnings,
        "heartbeat": iso_utc(beat) if beat else None,
        "outbox_depth": outbox.depth,
        "outbox_oldest": iso_utc(outbox.oldest) if outbox.oldest else None,
        "deliveries_failed": outbox.failed,
        "deliveries_overdue": outbox.overdue,
        "deliveries_stalled": outbox.stalled,
    }
    if spool_depth is not None:
        facts["spool_depth"] = spool_depth
    return not problems, facts


def _unreachable(spool_depth: int, exc: DBAPIError) -> dict[str, Any]:
    """The facts of a cluster node that cannot read its database (it spools meanwhile)."""
    reason = (str(exc.orig).strip().splitlines() or [""])[0][:200]
    return {
        "ok": True,
        "status": "degraded",
        "problems": [],
        "warnings": [
            f"the database cannot be read ({reason}): checks go to the local spool",
        ],
        "spool_depth": spool_depth,
    }


class StatusServer:
    """A small threaded HTTP server over an ``App``."""

    def __init__(
        self,
        app: App,
        metrics: Metrics,
        host: str,
        port: int,
        token: str | None = None,
        spool_depth: Callable[[], int] | None = None,
    ) -> None:
        outer = self
        self.app, self.metrics, self.token = app, metrics, token
        # A cluster node's spool (set by the node's wiring), shown by /healthz.
        self.spool_depth = spool_depth

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    status, ctype, body = outer.route(self.path, self.headers.get("Authorization"))
                except Exception:
                    logger.exception("status endpoint failed on %s", self.path)
                    status, ctype, body = 500, "text/plain", b"internal error\n"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header(
                    "Content-Security-Policy",
                    "default-src 'none'; img-src 'self' data: https: http:; "
                    "style-src 'unsafe-inline'; script-src 'unsafe-inline'",
                )
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http: " + format, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _authorized(self, query: dict[str, list[str]], auth: str | None) -> bool:
        if not self.token:
            return True
        given = (query.get("token") or [""])[0]
        if auth and auth.startswith("Bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def route(self, raw_path: str, auth: str | None) -> tuple[int, str, bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/healthz":
            depth = self.spool_depth() if self.spool_depth is not None else None
            ok, facts = health(self.app, depth)
            return (200 if ok else 503), "application/json", json.dumps(facts).encode()
        if not self._authorized(query, auth):
            return 401, "text/plain", b"token required\n"
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.render()
        if path == "/alerts.atom":
            from monitor.web.feed import alerts_feed

            feed = alerts_feed(
                self.app.sessions,
                database_url=str(self.app.engine.url),
                now=self.app.clock(),
                report_base="report/",  # relative: works behind a proxy's path prefix
                report=self.app.config.alerts.report_url,
            )
            return 200, "application/atom+xml; charset=utf-8", feed
        html = "text/html; charset=utf-8"
        if path == "/":
            from monitor.web.overview_page import overview_html

            page = overview_html(self.app.sessions, self.app.config, now=self.app.clock())
            return 200, html, page.encode()
        if path.startswith("/report/"):
            from monitor.web.report_page import report_html

            try:
                page = report_html(
                    self.app.sessions,
                    self.app.config,
                    unquote(path[len("/report/") :]),
                    thumbnail_dir=self.app.thumbnail_dir,
                    now=self.app.clock(),
                )
            except MonitorError as exc:  # an unknown person is a 404, not a server error
                return 404, "text/plain; charset=utf-8", f"{exc}\n".encode()
            return 200, html, page.encode()
        return 404, "text/plain", b"not found\n"
