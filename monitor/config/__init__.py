"""The configuration, loaded once from config.yaml into validated immutable objects.

``models`` holds the sections (defaults in code), ``loader`` reads, interpolates and
validates the YAML with ``file:line: key.path`` errors, ``summary`` says what a config will
make the monitor do (``config check``). The public names are re-exported here, so callers
write ``from monitor.config import Config, load_config``.
"""

from __future__ import annotations

from monitor.config.cluster import ClusterConfig
from monitor.config.loader import load_config, parse_config
from monitor.config.models import (
    DEFAULT_RETRY_SCHEDULE,
    AlertsConfig,
    AppriseConfig,
    ArchiveConfig,
    Config,
    DatabaseConfig,
    EmailConfig,
    EvidenceConfig,
    PersonConfig,
    ServerConfig,
    TermConfig,
    WaybackConfig,
    WebhookConfig,
)

__all__ = [
    "DEFAULT_RETRY_SCHEDULE",
    "AlertsConfig",
    "AppriseConfig",
    "ArchiveConfig",
    "ClusterConfig",
    "Config",
    "DatabaseConfig",
    "EmailConfig",
    "EvidenceConfig",
    "PersonConfig",
    "ServerConfig",
    "TermConfig",
    "WaybackConfig",
    "WebhookConfig",
    "load_config",
    "parse_config",
]
