"""The schema, as typed SQLAlchemy 2 models. Alembic migrations in ``alembic/`` create it.

Shape (one check flows top to bottom)::

    people ─< terms ─< series >─ sources          series = person × term × source × vantage
                          │
                          ├─< snapshots >── image_sets ─< image_set_members >── images
                          ├─< series_images (first/last seen of each image in this series)
                          ├─< episodes (drop / partial / resolved, unhealthy, stale)
                          └─< alerts ─< deliveries ─< delivery_attempts      (the outbox)
                                 ├─< evidence_holds >── snapshots' raw_responses, thumbnails
                                 └─< alert_episodes >── episodes (all a person alert covers)
    snapshot_log (the chain head)   log_timestamps (RFC 3161 tokens over the head)
    archive_captures (Save Page Now requests: image pages, drop result URLs) + archive_cursors
    cluster mode: nodes, leadership (the fencing epoch), check_claims, staged_checks

An unchanged result set costs one snapshot row: identical sets are stored once in
``image_sets`` (keyed by a digest of their members) and snapshots point at them.
``series_images.last_seen`` is written only when the set changes; while an image is still
in the current set its last sighting is the series' latest valid snapshot (``seen_open``).
Snapshot order is by ``id`` (monotonic), never by timestamp alone.
"""

from monitor.store.models.archive import ArchiveCapture, ArchiveCursor
from monitor.store.models.base import (
    NAMING_CONVENTION,
    Base,
    BigId,
    HexDigest,
    UtcDateTime,
    UtcMicros,
)
from monitor.store.models.catalog import Person, Round, Series, SourceRow, Term
from monitor.store.models.cluster import CheckClaim, Leadership, Node, StagedCheck
from monitor.store.models.evidence import EvidenceHold, RawResponse, Thumbnail
from monitor.store.models.heartbeat import Heartbeat
from monitor.store.models.log import LogHead, LogTimestamp
from monitor.store.models.outbox import Alert, AlertEpisode, Delivery, DeliveryAttempt, Episode
from monitor.store.models.results import Image, ImageSet, ImageSetMember, SeriesImage, Snapshot

__all__ = [
    "NAMING_CONVENTION",
    "Alert",
    "AlertEpisode",
    "ArchiveCapture",
    "ArchiveCursor",
    "Base",
    "BigId",
    "CheckClaim",
    "Delivery",
    "DeliveryAttempt",
    "Episode",
    "EvidenceHold",
    "Heartbeat",
    "HexDigest",
    "Image",
    "ImageSet",
    "ImageSetMember",
    "Leadership",
    "LogHead",
    "LogTimestamp",
    "Node",
    "Person",
    "RawResponse",
    "Round",
    "Series",
    "SeriesImage",
    "Snapshot",
    "SourceRow",
    "StagedCheck",
    "Term",
    "Thumbnail",
    "UtcDateTime",
    "UtcMicros",
]
