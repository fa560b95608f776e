"""What a run is asked to do and what it reports: :class:`RunMode`, :class:`RunSummary`, :class:`Problem`.

The public face of these is :mod:`cio_desktop.sync.engine` (which re-exports them); they live here so
the run's own modules can use them without importing the engine that starts the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cio_desktop.sync.ledger import RunStatus


class RunMode(StrEnum):
    FULL = "full"  # everyone in the segments, plus deletions of people who left them
    INCREMENTAL = "incremental"  # users Hull updated since the last run, plus new events
    DRY_RUN = "dry_run"  # plans a full run and reports; sends and records nothing
    SINGLE = "single"  # one person, as a test send


class Problem(StrEnum):
    """Why a run stopped early (``RunSummary.problem``)."""

    CREDENTIALS = "credentials"  # Customer.io or Hull refused the credentials
    CONFIGURATION = "configuration"  # the profile cannot work as set up
    BUSY = "busy"  # another process is syncing this profile
    SOURCE = "source"  # Hull (or the export file) failed mid-run
    SERVICE = "service"  # Customer.io kept failing after retries
    NOT_FOUND = "not_found"  # single send: no such user
    INTERNAL = "internal"  # a bug: the message says what


@dataclass(frozen=True)
class RunSummary:
    """The outcome of a run. ``counts`` maps decision labels to how many got them; ``failed`` counts
    people and events Customer.io did not accept; ``errors_sample`` holds the first few errors."""

    run_id: int | None
    mode: RunMode
    status: RunStatus
    started_at: float
    ended_at: float
    duration_s: float
    counts: Mapping[str, int]
    failed: int
    errors_sample: tuple[str, ...] = ()
    message: str = ""
    problem: Problem | None = None
    people_sent: int = 0
    events_sent: int = 0
    # Accounts as Customer.io objects: object operations (identify, delete) and relationship
    # operations Customer.io accepted.
    objects_sent: int = 0
    relationships_sent: int = 0
    requests: int = 0
    write_back_failed: int = 0
    # Records of the source it could not read (export files: broken JSON, wrong CSV field count...),
    # skipped while the rest synced; each kept one is in the run's errors (kind "bad_row").
    bad_rows: int = 0
    # Rows superseded by a later row of the same user (a warning; kind "duplicate_row" in the errors).
    duplicate_rows: int = 0
    # Deletions the deletion guard held back (status DELETIONS_WITHHELD; listed with the run).
    withheld: int = 0
    # Account objects whose deletion was held back (also status DELETIONS_WITHHELD; not listed: the
    # run's message says how to approve them).
    objects_withheld: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode.value,
            "status": self.status.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "counts": dict(self.counts),
            "failed": self.failed,
            "people_sent": self.people_sent,
            "events_sent": self.events_sent,
            "objects_sent": self.objects_sent,
            "relationships_sent": self.relationships_sent,
            "requests": self.requests,
            "write_back_failed": self.write_back_failed,
            "bad_rows": self.bad_rows,
            "duplicate_rows": self.duplicate_rows,
            "deletions_withheld": self.withheld,
            "object_deletions_withheld": self.objects_withheld,
            "problem": self.problem.value if self.problem else None,
            "message": self.message,
            "errors_sample": list(self.errors_sample),
        }
