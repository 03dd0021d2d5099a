"""The cluster deployment (``deploy/compose.yaml``, docs/scale-out.md): PostgreSQL with a
named volume and a health check, two probe nodes started only once it is healthy and the
schema is migrated, secrets only from the env file, and the shipped config.yaml turning
into a cluster node of the given vantage with the environment compose gives it.
(``docker compose`` is not run here: the file is read as YAML.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from monitor.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROBES = ("probe-1", "probe-2")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.I)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())
    return data


def test_postgres_keeps_its_data_in_a_named_volume_and_has_a_health_check(
    compose: dict[str, Any],
) -> None:
    pg = compose["services"]["postgres"]
    volume = next(v.split(":")[0] for v in pg["volumes"] if v.endswith("/var/lib/postgresql/data"))
    assert volume in compose["volumes"]  # named, not a host path
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    # Published on the machine itself only, unless the operator says otherwise.
    assert all(p.startswith("${PG_PUBLISH:-127.0.0.1}:") for p in pg["ports"])


def test_two_probes_start_after_postgres_is_healthy_and_the_schema_is_migrated(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    names, volumes = set(), set()
    for name in PROBES:
        probe = services[name]
        assert probe["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert probe["environment"]["ABSENCE_CLUSTER"] == "true"
        assert "../config.yaml:/data/config.yaml:ro" in probe["volumes"]
        [own] = [v.split(":")[0] for v in probe["volumes"] if v.endswith(":/data")]
        assert own in compose["volumes"]  # its spool survives a restart
        names.add(probe["hostname"])
        volumes.add(own)
    assert len(names) == len(volumes) == len(PROBES)  # distinct node names and spools


def test_secrets_come_only_from_the_env_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert [f["path"] for f in service["env_file"]] == ["./absence.env"], name
        env = service.get("environment") or {}
        assert not [k for k in env if SECRET_KEY.search(k)], name
        assert not any("@" in v and ":" in v.split("@")[0].split("//")[-1] for v in env.values())
    example = (DEPLOY / "absence.env.example").read_text()
    assert {"POSTGRES_PASSWORD", "PGPASSWORD"} <= set(re.findall(r"^(\w+)=", example, re.M))


def test_the_shipped_config_becomes_a_node_of_the_vantage_compose_gives(
    compose: dict[str, Any],
) -> None:
    env = dict(compose["services"]["probe-1"]["environment"])
    env["ABSENCE_VANTAGE"] = "cn-beijing"  # what ${ABSENCE_VANTAGE:-local} becomes when set
    config = parse_config((ROOT / "config.yaml").read_text(), "config.yaml", env)
    assert config.cluster.enabled and config.vantage == "cn-beijing"
    assert config.database.url.startswith("postgresql+psycopg://absence@postgres:5432/")
    # Without that environment it stays a single daemon on SQLite, as before.
    alone = parse_config((ROOT / "config.yaml").read_text(), "config.yaml", {})
    assert not alone.cluster.enabled and alone.vantage == "default"


def test_scale_out_doc_covers_vantages_nodes_failover_and_backups() -> None:
    doc = (ROOT / "docs" / "scale-out.md").read_text()
    for heading in ("## Adding a vantage", "## How many nodes per vantage", "## What fails over"):
        assert heading in doc
    assert "## Backups" in doc and "pg_dump" in doc and "db verify" in doc
