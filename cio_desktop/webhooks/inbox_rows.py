"""What the inbox stores, as its readers see it: statuses, destinations, rows and counts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cio_desktop.webhooks.events import JsonScalar, MappedEvent, PayloadFormat


class EventStatus(StrEnum):
    PENDING = "pending"
    FORWARDED = "forwarded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    KEPT = "kept"


class Destination(StrEnum):
    """Where the inbox forwards to; each has its own status, attempts, next attempt and reason."""

    HULL = "hull"
    HTTP = "http"


# status, attempts, next attempt, forwarded at, reason columns per destination.
STATE_COLUMNS: Mapping[Destination, tuple[str, str, str, str, str]] = {
    Destination.HULL: ("status", "attempts", "next_attempt_at", "forwarded_at", "reason"),
    Destination.HTTP: ("http_status", "http_attempts", "http_next_at", "http_sent_at", "http_reason"),
}


class AcceptResult(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class InboxRow:
    """One stored event as the inbox view and the forwarder see it."""

    seq: int
    event_id: str
    status: EventStatus
    name: str
    format: PayloadFormat
    object_type: str
    metric: str
    created_at: str
    received_at: float
    attempts: int
    next_attempt_at: float
    forwarded_at: float | None
    reason: str | None
    as_user: Mapping[str, str] | None
    properties: Mapping[str, JsonScalar]
    person_id: str | None = None
    email: str | None = None
    campaign: str | None = None
    created_ts: float = 0.0
    http_status: EventStatus | None = None
    http_attempts: int = 0
    http_reason: str | None = None

    def attempts_for(self, destination: Destination) -> int:
        return self.http_attempts if destination is Destination.HTTP else self.attempts

    def mapped(self) -> MappedEvent:
        return MappedEvent(
            event_id=self.event_id,
            format=self.format,
            object_type=self.object_type,
            metric=self.metric,
            name=self.name,
            known=self.status is not EventStatus.UNKNOWN,
            created_at=self.created_at,
            properties=self.properties,
            as_user=self.as_user,
            problem=self.reason,
        )


@dataclass(frozen=True)
class InboxCounts:
    """Totals over the inbox's whole life (rows by status, plus refusals that stored nothing)."""

    received: int
    pending: int
    forwarded: int
    failed: int
    unknown: int
    duplicates: int
    rejected: int
    kept: int = 0
    http_pending: int = 0
    http_forwarded: int = 0
    http_failed: int = 0


ROW_COLUMNS = (
    "seq, event_id, status, name, format, object_type, metric, created_at, received_at, attempts,"
    " next_attempt_at, forwarded_at, reason, as_user, properties, person_id, email, campaign, created_ts,"
    " http_status, http_attempts, http_reason"
)


def row_from_db(r: Sequence[Any]) -> InboxRow:
    """An :class:`InboxRow` from a ``SELECT`` of :data:`ROW_COLUMNS`."""
    return InboxRow(
        seq=int(r[0]),
        event_id=str(r[1]),
        status=EventStatus(r[2]),
        name=str(r[3]),
        format=PayloadFormat(r[4]),
        object_type=str(r[5]),
        metric=str(r[6]),
        created_at=str(r[7]),
        received_at=float(r[8]),
        attempts=int(r[9]),
        next_attempt_at=float(r[10]),
        forwarded_at=None if r[11] is None else float(r[11]),
        reason=r[12],
        as_user=json.loads(r[13]) if r[13] is not None else None,
        properties=json.loads(r[14]),
        person_id=r[15],
        email=r[16],
        campaign=r[17],
        created_ts=float(r[18]),
        http_status=None if r[19] is None else EventStatus(r[19]),
        http_attempts=int(r[20]),
        http_reason=r[21],
    )


__all__ = [
    "ROW_COLUMNS",
    "STATE_COLUMNS",
    "AcceptResult",
    "Destination",
    "EventStatus",
    "InboxCounts",
    "InboxRow",
    "row_from_db",
]
