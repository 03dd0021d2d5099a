"""The ``cluster:`` section: several daemons, one PostgreSQL database, one picture.

Off by default (one daemon per database, SQLite or PostgreSQL, as always). With
``enabled: true`` every node runs the same daemon against the same ``database.url`` (which
must be PostgreSQL); the top-level ``vantage`` says where the node sits and ``node`` names
it (the host name by default; two live nodes cannot share a name). ``claim_lease`` is how
long a claimed check stays a node's before another may redo it, ``leader_lease`` how long
the leader's role outlives its last renewal, ``batch`` how many series a node claims at a
time, ``spool`` the local SQLite file holding checks while PostgreSQL is unreachable.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from monitor.sources.base import Duration

NODE_NAME = r"^[A-Za-z0-9_.-]+$"


def _host_name() -> str:
    """The host name as a node name: its first label, characters outside the pattern
    replaced (a container's host name is its id, a laptop's may hold anything)."""
    name = socket.gethostname().split(".")[0] or "node"
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-" for c in name)[:100]


class ClusterConfig(BaseModel):
    """Cluster mode's settings (see the module docstring); immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    node: str = Field(default_factory=_host_name, min_length=1, max_length=100, pattern=NODE_NAME)
    claim_lease: Duration = Field(default=timedelta(minutes=2), gt=timedelta(0))
    leader_lease: Duration = Field(default=timedelta(seconds=15), ge=timedelta(seconds=3))
    batch: int = Field(default=50, ge=1, le=10_000)
    spool: str | None = None  # default: spool-<node>.sqlite next to the config file

    def spool_path(self, config_path: str) -> Path:
        """Where this node's spool lives: ``spool`` as given (relative to the working
        directory, as every path in the config), else next to the config file."""
        if self.spool:
            return Path(self.spool)
        return Path(config_path).resolve().parent / f"spool-{self.node}.sqlite"


def database_problem(url: str) -> str | None:
    """Why cluster mode cannot run on database ``url`` (one line), or None: the nodes
    share one database, so it must be a server every node reaches, i.e. PostgreSQL."""
    backend = url.split(":", 1)[0].split("+", 1)[0].lower()
    if backend == "postgresql":
        return None
    shown = "a SQLite file (one machine's)" if backend == "sqlite" else f"{backend}"
    return f"cluster mode needs a PostgreSQL database.url, not {shown}"
