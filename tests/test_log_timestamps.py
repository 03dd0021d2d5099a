"""RFC 3161 time-stamps of the snapshot log's head, against a local time-stamping authority
(OpenSSL's ``openssl ts -reply`` behind an HTTP handler on 127.0.0.1, with a CA made for the
test): the daemon's step keeps a token when the log grew and only then; ``db verify`` checks
every token's signature against the TSA's root, and catches a chain rewritten whole (every
link recomputed after an edit, which the chain alone cannot show) and a foreign root."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from monitor.app import App, build
from monitor.cli.main import cli
from monitor.config import parse_config
from monitor.core import loghash
from monitor.core.observation import ImageItem, Observation, Status
from monitor.daemon.service import Daemon
from monitor.rounds.commit import Checked, RoundCommit
from monitor.store.models import ImageSet, LogHead, LogTimestamp, Snapshot
from monitor.store.snapshot_log import fields_of, series_names
from monitor.testing import LocalServer, Reply, Request

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("openssl") is None, reason="needs openssl (.ci/run installs it)"
    ),
]
START = datetime(2021, 6, 1, tzinfo=UTC)
TSA_CONFIG = """\
[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(where: Path, name: str) -> None:
    """A throwaway root CA (``ca.pem``/``ca.key``) in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=where,
    )  # fmt: skip


def make_tsa(where: Path) -> Path:
    """A CA and a TSA certificate signed by it (EKU timeStamping, critical); its config."""
    make_ca(where, "Test TSA Root")
    (where / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", "/CN=Test TSA",
        cwd=where,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=where,
    )  # fmt: skip
    (where / "serial").write_text("01\n")
    config = where / "ts.cnf"
    config.write_text(TSA_CONFIG.format(dir=where))
    return config


class Authority:
    """``openssl ts -reply`` for each POSTed query; counts what it signed."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.config = make_tsa(where)
        self.signed = 0

    def __call__(self, req: Request) -> Reply:
        kind = {k.lower(): v for k, v in req.headers.items()}.get("content-type")
        if req.method != "POST" or kind != "application/timestamp-query":
            return Reply(400, "a time-stamp query, please", "text/plain")
        query, reply = self.where / "q.tsq", self.where / "r.tsr"
        query.write_bytes(req.body)
        openssl(
            "ts", "-reply", "-config", str(self.config), "-queryfile", str(query),
            "-out", str(reply),
            cwd=self.where,
        )  # fmt: skip
        self.signed += 1
        return Reply(200, reply.read_bytes(), "application/timestamp-reply")


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[tuple[Authority, LocalServer]]:
    authority = Authority(tmp_path / "tsa")
    with LocalServer(authority) as server:
        yield authority, server


def make(tmp_path: Path, tsa_url: str) -> tuple[App, Path]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        "people: [{name: Dong Jingwei}]\nsources: {bing: {kind: bing_images}}\n"
        f"evidence: {{timestamp_url: '{tsa_url}/tsr', timestamp_ca: '{tmp_path / 'tsa/ca.pem'}'}}\n"
    )
    app = build(parse_config(cfg.read_text(), str(cfg), {}), channels=[])
    app.migrate()
    return app, cfg


def rounds(app: App, n: int, start: int = 0) -> None:
    [ref] = [r for r in app.series() if r.role == "watch"]
    commit = RoundCommit(app.sessions, app.config, {"bing": "bing"}, channels=[])
    for k in range(start, start + n):
        at = START + k * timedelta(hours=6)
        obs = Observation(
            Status.OK, items=[ImageItem(f"https://img.test/{i}.jpg") for i in range(9)]
        )
        commit("bing", [Checked(ref, obs, at, at)], at, "scheduled")


def db_verify(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "db", "verify", *args])
    return result.exit_code, result.output


async def test_the_daemon_time_stamps_the_head_when_the_log_grew(
    tsa: tuple[Authority, LocalServer], tmp_path: Path
) -> None:
    authority, server = tsa
    app, cfg = make(tmp_path, server.url)
    daemon = Daemon(app)
    assert await daemon.timestamp_step() is False  # an empty log: nothing to stamp
    rounds(app, 3)
    assert await daemon.timestamp_step() is True
    assert await daemon.timestamp_step() is False  # the same head: no second token
    rounds(app, 2, start=3)
    assert await daemon.timestamp_step() is True
    assert authority.signed == 2
    with app.sessions() as session:
        tokens = list(session.scalars(select(LogTimestamp).order_by(LogTimestamp.id)))
        head = session.get(LogHead, 1)
    assert [t.seq for t in tokens] == [3, 5] and head is not None and tokens[1].head == head.head
    code, output = db_verify(cfg)
    assert code == 0, output
    assert "2 time-stamp token(s) match (signatures checked)" in output


async def test_a_chain_rewritten_whole_is_caught_by_its_time_stamp(
    tsa: tuple[Authority, LocalServer], tmp_path: Path
) -> None:
    _, server = tsa
    app, cfg = make(tmp_path, server.url)
    rounds(app, 4)
    assert await Daemon(app).timestamp_step() is True
    # Someone with the database edits a count and recomputes every link and the head.
    with app.sessions() as session, session.begin():
        session.execute(text("UPDATE snapshots SET image_count = 1 WHERE log_seq = 2"))
        session.expire_all()
        names = series_names(session)
        link = loghash.GENESIS
        for snap in session.scalars(select(Snapshot).order_by(Snapshot.log_seq)):
            digest = session.scalar(select(ImageSet.digest).where(ImageSet.id == snap.image_set_id))
            link = loghash.link(link, fields_of(snap, names, digest))
            snap.log_hash = link
        head = session.get(LogHead, 1)
        assert head is not None
        head.head = link
    code, output = db_verify(cfg)
    assert code == 1
    assert "time-stamp #1 (entry 4, " in output and "the log was rewritten since" in output


async def test_a_token_is_checked_against_the_given_root(
    tsa: tuple[Authority, LocalServer], tmp_path: Path
) -> None:
    _, server = tsa
    app, cfg = make(tmp_path, server.url)
    rounds(app, 2)
    assert await Daemon(app).timestamp_step() is True
    make_ca(tmp_path / "other", "Another Root")
    code, output = db_verify(cfg, "--tsa-ca", str(tmp_path / "other" / "ca.pem"))
    assert code == 1 and "time-stamp #1 (entry 2, " in output and "does not verify" in output
