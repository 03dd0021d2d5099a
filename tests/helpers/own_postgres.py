"""A PostgreSQL server of the test's own (``initdb``/``pg_ctl`` from the installed
server's ``bin``), on its own port and data directory, that the test may stop and start:
never the shared server on 5432. Run as the ``postgres`` user when the suite runs as root
(the server refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def server_bin() -> Path | None:
    """The newest installed server's ``bin`` directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class OwnPostgres:
    """A private server: ``url`` to reach it, ``stop()`` and ``start()`` at will."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://absence@127.0.0.1:{port}/postgres"
        bindir = server_bin()
        assert bindir is not None
        self.bin = bindir

    def _run(self, *args: str | Path) -> None:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(self.bin / "initdb", "-D", str(self.data), "-U", "absence", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._run(
            self.bin / "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A running private server, stopped and removed afterwards (skips the test where no
    server is installed, or where it cannot run as a non-root user)."""
    if server_bin() is None:
        pytest.skip("no PostgreSQL server installed under /usr/lib/postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser")
    # Not under pytest's tmp_path: its parents are private to root, the server's user
    # must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="absence-pg-", dir="/tmp"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pg = OwnPostgres(root, free_port())
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
