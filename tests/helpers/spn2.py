"""A local Save Page Now 2 server on 127.0.0.1 that speaks the documented protocol.

``POST /save`` (``Authorization: LOW key:secret``, form ``url=…``) answers a job id, or the
next scripted reply in ``replies`` (a 429, an error JSON such as ``error:user-session-limit``).
``GET /save/status/<job>`` answers ``pending`` for the first ``pending_polls`` polls of a job,
then ``success`` with a timestamp, or the job's scripted error (``job_errors[url]``).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from monitor.testing import LocalServer, Reply, Request

KEY, SECRET = "ia-access-key", "ia-secret-key"
TIMESTAMP = "20261207221500"


def error(ext: str, message: str = "scripted", status: int = 200) -> Reply:
    body = json.dumps({"status": "error", "status_ext": ext, "message": message})
    return Reply(status, body, "application/json")


@dataclass
class Archive:
    """The server's state; ``serve()`` returns the running ``LocalServer``."""

    pending_polls: int = 1
    replies: deque[Reply] = field(default_factory=deque)
    job_errors: dict[str, str] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> LocalServer:
        return LocalServer(self.handle).start()

    def handle(self, req: Request) -> Reply:
        if req.headers.get("authorization") != f"LOW {KEY}:{SECRET}":
            return error("error:unauthorized", "bad keys", 401)
        with self._lock:
            if req.method == "POST" and req.path == "/save":
                return self._submit(parse_qs(req.body.decode()).get("url", [""])[0])
            if req.method == "GET" and req.path.startswith("/save/status/"):
                return self._status(req.path.rsplit("/", 1)[1])
        return Reply(404, "not found", "text/plain")

    def _submit(self, url: str) -> Reply:
        self.submitted.append(url)
        if self.replies:
            return self.replies.popleft()
        job = f"spn2-{len(self.jobs) + 1:04d}"
        self.jobs[job] = url
        return Reply(200, json.dumps({"url": url, "job_id": job}), "application/json")

    def _status(self, job: str) -> Reply:
        url = self.jobs.get(job)
        if url is None:
            return error("error:not-found", "no such job")
        self.polls[job] = self.polls.get(job, 0) + 1
        if self.polls[job] <= self.pending_polls:
            return Reply(200, json.dumps({"status": "pending", "job_id": job}), "application/json")
        if url in self.job_errors:
            return error(self.job_errors[url])
        body = {"status": "success", "job_id": job, "timestamp": TIMESTAMP, "original_url": url}
        return Reply(200, json.dumps(body), "application/json")
