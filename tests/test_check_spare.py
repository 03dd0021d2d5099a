"""When the parse pool starts a spare worker (``check.process.stuck``): only for a worker
that has been on one task long enough, never because the event loop was slow to read."""

from __future__ import annotations

import socket

from monitor.check.process import WorkerProcess, stuck


def _busy_since(since: float, sock: socket.socket) -> WorkerProcess:
    worker = WorkerProcess.__new__(WorkerProcess)  # no process: stuck reads only these two
    worker.sock, worker.since = sock, since
    return worker


def test_a_worker_on_one_task_past_the_wait_is_stuck_and_not_before() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        worker = _busy_since(10.0, ours)
        assert stuck([worker], 10.3, 0.25)
        assert not stuck([worker], 10.2, 0.25)


def test_a_worker_whose_answer_waits_unread_is_not_stuck() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"\0" * 16)  # the answer's header is there: the loop is late
        assert not stuck([_busy_since(10.0, ours)], 11.0, 0.25)


def test_an_idle_worker_is_not_stuck() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        worker = _busy_since(10.0, ours)
        worker.since = None
        assert not stuck([worker], 99.0, 0.25)
