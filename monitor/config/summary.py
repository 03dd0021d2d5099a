"""What a validated config will make the monitor do, in lines a person reads (``config check``).

Safe to print: the database URL's password and webhook and Apprise tokens are masked.
"""

from __future__ import annotations

from datetime import timedelta

from monitor.config.models import Config
from monitor.core.masking import mask, mask_url
from monitor.core.units import format_duration


def config_summary(config: Config) -> str:
    """People, terms, sources, series and checks per day, one fact per line."""
    watched = [p for p in config.people if p.role == "watch"]
    controls_people = [p for p in config.people if p.role == "control"]
    lines = [
        f"{config.path}: OK",
        f"database: {mask(config.database.url)}",
        f"vantage: {config.vantage}",
        f"cluster: {_cluster(config)}",
        f"people: {len(watched)} watched, {len(controls_people)} control "
        f"({', '.join(p.name for p in config.people)})",
        f"terms: {sum(len(p.terms) for p in config.people)}",
    ]
    total_series = 0
    per_day = 0.0
    lines.append("sources:")
    for name, opts in config.sources.items():
        if not opts.enabled:
            lines.append(f"  {name:<12} {opts.kind:<18} disabled")
            continue
        terms = sum(len(p.terms) for p in config.people if p.sources is None or name in p.sources)
        series = terms + len(opts.controls)
        checks = series * opts.max_pages * timedelta(days=1) / opts.every
        total_series += series
        per_day += checks
        lines.append(
            f"  {name:<12} {opts.kind:<18} every {format_duration(opts.every):<4} "
            f"{series:>4} series ({len(opts.controls)} controls)  "
            f"{checks:>7.0f} requests/day  rate {opts.rate}"
        )
    lines.append(f"series: {total_series}")
    lines.append(f"checks per day: {per_day:.0f}")
    channels = []
    if config.alerts.email:
        channels.append(f"email to {', '.join(config.alerts.email.to)}")
    channels += [
        f"webhook {w.name or mask_url(w.url.get_secret_value(), credential=True)}"
        for w in config.alerts.webhooks
    ]
    channels += [
        f"apprise {mask_url(a.url.get_secret_value(), credential=True)}"
        for a in config.alerts.apprise
    ]
    waits = config.alerts.retry_delays()
    hours = sum(w.total_seconds() for w in waits) / 3600
    lines.append(f"delivery: {len(waits) + 1} attempts over {hours:.1f} h, then failed")
    lines.append(f"alert channels: {'; '.join(channels) if channels else 'none'}")
    return "\n".join(lines)


def _cluster(config: Config) -> str:
    """Cluster mode in one line: off, or this node and its leases."""
    c = config.cluster
    if not c.enabled:
        return "off (one daemon per database)"
    return (
        f"node {c.node}, claims {c.batch} series at a time for "
        f"{format_duration(c.claim_lease)}, leader lease {format_duration(c.leader_lease)}, "
        f"spool {c.spool_path(config.path)}"
    )
