"""The validated configuration: immutable pydantic models, one per section of config.yaml.

Defaults live here, in code; the user's YAML is validated over them by ``loader.py``, which
also turns every problem into a ``file:line: key.path`` message. Each component is handed
its own part (``config.alerts.email`` to the email channel, ``config.evidence`` to the
thumbnail store), never the raw mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from monitor.config.cluster import ClusterConfig
from monitor.core.units import Rate
from monitor.core.urls import config_url
from monitor.detector.settings import DetectionSettings
from monitor.sources.base import Duration, RateField, SourceOptions

DEFAULT_DATABASE_URL = "sqlite:///absence-monitor.db"


# An address as mail servers take it: something@somewhere, no spaces, brackets or commas.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+")


def _address(value: str) -> str:
    """``value`` if it is an e-mail address (``Name <a@b>`` too), else ``ValueError``."""
    _, address = parseaddr(value)
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f'"{value[:80]}" is not an e-mail address')
    return value


def _strings_as(key: str, value: Any) -> Any:
    """A YAML list whose plain strings stand for ``{key: string}`` (``aliases: [董经纬]``)."""
    if isinstance(value, list | tuple):
        return [{key: v} if isinstance(v, str) else v for v in value]
    return value


class _Model(BaseModel):
    """Base of every section: unknown keys are errors (a typo must not pass silently),
    values are immutable once loaded, and aliased fields (``from``) accept either name."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TermConfig(_Model):
    """One query string and, optionally, its language (``zh``, ``en``)."""

    text: str = Field(min_length=1)
    lang: str | None = None


class PersonConfig(_Model):
    """A person watched (or a stable control person); every name and alias is a query."""

    name: str = Field(min_length=1)
    aliases: tuple[TermConfig, ...] = ()
    role: Literal["watch", "control"] = "watch"
    notes: str = ""
    lang: str | None = None
    sources: tuple[str, ...] | None = None  # restrict to these sources; default all

    @field_validator("aliases", mode="before")
    @classmethod
    def _terms(cls, value: Any) -> Any:
        return _strings_as("text", value)

    @property
    def terms(self) -> tuple[TermConfig, ...]:
        """The name first, then the aliases, without duplicates."""
        out: list[TermConfig] = [TermConfig(text=self.name, lang=self.lang)]
        for alias in self.aliases:
            if alias.text not in {t.text for t in out}:
                out.append(alias)
        return tuple(out)


class DatabaseConfig(_Model):
    """Where snapshots live: any SQLAlchemy URL; SQLite by default."""

    url: str = DEFAULT_DATABASE_URL
    busy_timeout: Duration = timedelta(seconds=30)


class EmailConfig(_Model):
    """SMTP settings for the email channel; ``password`` is a ``SecretStr`` (never shown)."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)


class WebhookConfig(_Model):
    """One webhook receiver; ``secret`` signs each body with HMAC-SHA256.

    The URL is secret too: chat services' webhook URLs carry their token in the path.
    """

    url: SecretStr
    secret: SecretStr | None = None
    name: str | None = None
    timeout: Duration = timedelta(seconds=15)

    @field_validator("url", mode="before")
    @classmethod
    def _http(cls, value: Any) -> Any:
        # Checked before wrapping, and without echoing the URL (it may hold a token).
        if isinstance(value, str):
            if not re.match(r"https?://", value):
                raise ValueError("must start with http:// or https://")
            config_url(value, shown="the webhook URL")
        return value


class AppriseConfig(_Model):
    """One Apprise destination; its URL holds the service's token, hence a ``SecretStr``."""

    url: SecretStr


# The wait before each retry of a delivery (each jittered ±20%): 9 attempts over 31.6 hours,
# at least 25.3 with the jitter, so a receiver down for a day, or redeployed with a 401/404
# for an hour, still gets it.
DEFAULT_RETRY_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (5, 60, 300, 1800, 7200, 18000, 43200, 43200)
)
_DOUBLING_KEYS = frozenset({"max_attempts", "backoff", "max_backoff"})


class AlertsConfig(_Model):
    """Channels and the outbox's retry policy: ``retry_schedule``, or (the older form)
    ``max_attempts`` attempts with waits doubling from ``backoff`` up to ``max_backoff``."""

    email: EmailConfig | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    apprise: tuple[AppriseConfig, ...] = ()  # written as a list of URLs
    retry_schedule: tuple[Duration, ...] = Field(default=DEFAULT_RETRY_SCHEDULE, max_length=100)
    max_attempts: int = Field(default=12, ge=1, le=100)
    backoff: Duration = timedelta(seconds=30)
    max_backoff: Duration = timedelta(hours=1)
    dispatch_every: Duration = timedelta(seconds=5)
    # Where readers find the full report (a URL or a path); a mail names it after the
    # first ten vanished images.
    report_url: str | None = None

    @field_validator("apprise", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        return _strings_as("url", value)

    @model_validator(mode="after")
    def _one_schedule(self) -> AlertsConfig:
        if "retry_schedule" in self.model_fields_set and _DOUBLING_KEYS & self.model_fields_set:
            raise ValueError(
                "give retry_schedule or max_attempts/backoff/max_backoff (the older form), not both"
            )
        return self

    def retry_delays(self) -> tuple[timedelta, ...]:
        """The wait before each retry (its length + 1 is the number of attempts)."""
        if not _DOUBLING_KEYS & self.model_fields_set:
            return self.retry_schedule
        base, cap = self.backoff.total_seconds(), self.max_backoff.total_seconds()
        # In float seconds: a timedelta doubled 99 times overflows before it is capped.
        return tuple(
            timedelta(seconds=min(cap, base * 2.0**n)) for n in range(self.max_attempts - 1)
        )


class ServerConfig(_Model):
    """The daemon's optional HTTP endpoint (/healthz, /metrics, overview)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8377, ge=0, le=65535)
    token: SecretStr | None = None


class WaybackConfig(_Model):
    """Save Page Now 2 (the Internet Archive): off by default. Keys come from the environment
    (``${IA_ACCESS_KEY}``); ``url`` is for a local SPN2 server in tests. ``rate`` is the
    submission budget (SPN2 allows more; a few a minute leaves room for the user's own use)."""

    enabled: bool = False
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    url: str = Field(default="https://web.archive.org", pattern=r"^https?://[^\s/]+")
    rate: RateField = Rate(4, timedelta(minutes=1))
    first_seen: bool = True  # the page of each image of a watched person, when first seen
    drops: bool = True  # the engine's result URL at each confirmed drop
    poll_every: Duration = timedelta(seconds=30)  # the job; also the status poll interval
    max_attempts: int = Field(default=6, ge=1)  # submissions of one URL before it is failed
    give_up_after: Duration = timedelta(hours=6)  # a job still pending then is resubmitted

    @model_validator(mode="after")
    def _keys(self) -> WaybackConfig:
        if self.enabled and (self.access_key is None or self.secret_key is None):
            raise ValueError("access_key and secret_key are required when enabled")
        return self


class ArchiveConfig(_Model):
    """Public archives the evidence is copied to."""

    wayback: WaybackConfig = WaybackConfig()


class EvidenceConfig(_Model):
    """What is kept beyond counts: raw responses and thumbnails (README, "Evidence")."""

    keep_raw: bool = True
    raw_retention: Duration = timedelta(days=30)
    # How long an alert's evidence outlives raw_retention; None: until `evidence release`.
    alert_retention: Duration | None = None
    prune_every: Duration = timedelta(days=1)  # the daemon's retention job
    keep_thumbnails: bool = True
    thumbnail_dir: str | None = None  # default: next to the database
    max_thumbnail_bytes: int = Field(default=512_000, ge=1024)
    max_thumbnails: int = Field(default=20_000, ge=1)
    archive: ArchiveConfig = ArchiveConfig()
    # RFC 3161: the snapshot log's head sent to this time-stamping authority every
    # timestamp_every, its signed token kept; timestamp_ca (a PEM file, the TSA's root)
    # lets `db verify` check the signatures.
    timestamp_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    timestamp_every: Duration = timedelta(days=1)
    timestamp_ca: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: str
    database: DatabaseConfig
    vantage: str
    people: tuple[PersonConfig, ...]
    sources: Mapping[str, SourceOptions]
    detection: DetectionSettings
    source_detection: Mapping[str, DetectionSettings]
    alerts: AlertsConfig
    server: ServerConfig
    evidence: EvidenceConfig
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def detection_for(self, source: str) -> DetectionSettings:
        """Detection settings with the source's overrides applied."""
        return self.source_detection.get(source, self.detection)

    def enabled_sources(self) -> dict[str, SourceOptions]:
        """The sources whose ``enabled`` is true, by name."""
        return {n: s for n, s in self.sources.items() if s.enabled}


class ConfigFile(_Model):
    """config.yaml as written; ``sources`` and ``detection`` stay raw for the loader to
    resolve, because each source's options model depends on its ``kind``."""

    database: DatabaseConfig = DatabaseConfig()
    vantage: str = Field(default="default", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    people: tuple[PersonConfig, ...] = Field(min_length=1)
    sources: dict[str, dict[str, Any]] = Field(min_length=1)
    detection: dict[str, Any] = Field(default_factory=dict)
    alerts: AlertsConfig = AlertsConfig()
    server: ServerConfig = ServerConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
