"""Run history in the ledger: one record per run that every page, the CLI and ``--json`` read.

A run's outcome is decided once, by the engine, and stored here: its status, counts, message, how
many records of the source could not be read, how many members the users pass read (the audience,
for the deletion guard's "the audience shrank" rule) and the deletions it withheld, person by
person, so they can be reviewed and approved later. Per-person errors are kept for the last
``KEEP_RUN_ERRORS_FOR_RUNS`` runs.

:class:`RunsMixin` is part of :class:`~cio_desktop.sync.ledger.Ledger` (same connection and lock).

A run holds the profile's run lock (:mod:`cio_desktop.config.lock`, an OS file lock) from
:meth:`RunsMixin.start_run` to :meth:`RunsMixin.finish_run`: a second run of the profile, in any
process, is refused as busy, and a run the ledger still calls "running" while nobody holds the lock
belonged to a process that died (killed, crashed, power loss): it is marked interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cio_desktop.config.lock import LockHolder, RunLock, RunLockBusyError, RunLockError

log = logging.getLogger(__name__)

# Errors of older runs are pruned so a ledger does not grow without bound.
KEEP_RUN_ERRORS_FOR_RUNS = 100
# A withheld list can hold everyone this tool created; only the latest runs' lists can still be
# approved meaningfully (a newer run finds the same people again), so only they are kept.
KEEP_WITHHELD_LISTS_FOR_RUNS = 3
# How long a starting run waits for the run lock: another open of the ledger takes it for a moment
# to check for interrupted runs; a real run holds it for minutes.
RUN_LOCK_WAIT_S = 0.5
_INTERRUPTED_MESSAGE = "the process stopped before the run finished"

RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    mode       TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL,
    status     TEXT NOT NULL,
    counts     TEXT NOT NULL DEFAULT '{}',
    failed     INTEGER NOT NULL DEFAULT 0,
    message    TEXT NOT NULL DEFAULT '',
    pid        INTEGER,
    unreadable INTEGER NOT NULL DEFAULT 0,
    audience   INTEGER,
    withheld   INTEGER NOT NULL DEFAULT 0,
    withheld_reason TEXT,
    people_sent INTEGER,
    events_sent INTEGER,
    problem    TEXT
);
CREATE TABLE IF NOT EXISTS run_errors (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    customer_id TEXT NOT NULL DEFAULT '',
    hull_id     TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    field       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS run_errors_run ON run_errors(run_id);
CREATE TABLE IF NOT EXISTS withheld_deletions (
    run_id      INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    hull_id     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, customer_id)
) WITHOUT ROWID;
"""

# Schema 3 -> 4: the outcome columns of runs (withheld_deletions is created by RUNS_SCHEMA).
RUNS_MIGRATION_4 = (
    ("unreadable", "ALTER TABLE runs ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0"),
    ("audience", "ALTER TABLE runs ADD COLUMN audience INTEGER"),
    ("withheld", "ALTER TABLE runs ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0"),
    ("withheld_reason", "ALTER TABLE runs ADD COLUMN withheld_reason TEXT"),
)

# Schema 4 -> 5: what a run sent, as the sender counted it (None for older runs), and why it failed.
RUNS_MIGRATION_5 = (
    ("people_sent", "ALTER TABLE runs ADD COLUMN people_sent INTEGER"),
    ("events_sent", "ALTER TABLE runs ADD COLUMN events_sent INTEGER"),
    ("problem", "ALTER TABLE runs ADD COLUMN problem TEXT"),
)

# Columns added on open when missing, like the object tables: no schema version needed (older code
# ignores them). A plan is stored as a dry run (its stored mode stays "dry_run"); ``plan_of`` says which
# mode it planned. ``objects_sent`` / ``relationships_sent``: what Customer.io accepted of the run's
# accounts (NULL in runs recorded before, whose accepted counts are not known).
RUNS_ADDED_COLUMNS = (
    ("plan_of", "ALTER TABLE runs ADD COLUMN plan_of TEXT"),
    ("objects_sent", "ALTER TABLE runs ADD COLUMN objects_sent INTEGER"),
    ("relationships_sent", "ALTER TABLE runs ADD COLUMN relationships_sent INTEGER"),
)

_SELECT_RUNS = (
    "SELECT id, mode, status, started_at, ended_at, counts, failed, message, unreadable, audience, withheld,"
    " withheld_reason, people_sent, events_sent, problem, plan_of, objects_sent, relationships_sent FROM runs"
)


class RunStatus(StrEnum):
    """How a run ended. Only COMPLETED is a success; the CLI's exit code follows from the status."""

    RUNNING = "running"
    COMPLETED = "completed"  # everything read, everything sent or rightly skipped
    PARTIAL = "partial"  # Customer.io refused some people or events (they are in the run's errors)
    INCOMPLETE = "incomplete"  # some records of the source could not be read; the rest was sent
    DELETIONS_WITHHELD = "deletions_withheld"  # everything else went out; deletions await approval
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The process died (killed, crashed, power loss) while the run was going; found at next open.
    INTERRUPTED = "interrupted"


STATUS_TEXT: Mapping[RunStatus, str] = {
    RunStatus.RUNNING: "Running",
    RunStatus.COMPLETED: "Completed",
    RunStatus.PARTIAL: "Completed with failures",
    RunStatus.INCOMPLETE: "Source not fully read",
    RunStatus.DELETIONS_WITHHELD: "Deletions withheld",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Cancelled",
    RunStatus.INTERRUPTED: "Interrupted",
}


@dataclass(frozen=True)
class RunRecord:
    """One run as stored. ``unreadable``: source records that could not be read; ``audience``: members
    the users pass of a full run read, when that read was complete and clean (else None);
    ``withheld``: deletions the guard held back, ``withheld_reason`` why (a
    :class:`~cio_desktop.sync.guard.WithheldReason` value)."""

    id: int
    mode: str
    status: RunStatus
    started_at: float
    ended_at: float | None
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    failed: int = 0
    message: str = ""
    unreadable: int = 0
    audience: int | None = None
    withheld: int = 0
    withheld_reason: str | None = None
    # People and events Customer.io accepted in this run (None: a run older than this record).
    people_sent: int | None = None
    events_sent: int | None = None
    # Why a failed run stopped (a :class:`~cio_desktop.sync.summary.Problem` value), None otherwise.
    problem: str | None = None
    # A plan (the dry run behind a sync's confirmation): the mode it planned ("full", "incremental").
    plan_of: str | None = None
    # Account objects (identified or deleted) and relationship changes (one per person: added, removed
    # or moved, as the plan counts them) Customer.io accepted in this run (None: a run recorded before
    # these were, or one interrupted before it finished).
    objects_sent: int | None = None
    relationships_sent: int | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def reviewable(self) -> bool:
        """Whether the run's withheld deletions were listed for review and approval: not for an
        incomplete read (no approval overrides it) nor for a dry run (its list would go stale)."""
        return bool(self.withheld) and self.mode != "dry_run" and self.withheld_reason != "incomplete_read"

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class RunError:
    run_id: int
    kind: str
    message: str
    customer_id: str
    hull_id: str
    field: str
    created_at: float


@dataclass(frozen=True)
class WithheldDeletion:
    """A person a run would have deleted but the guard held back, with the ledger's view of them now:
    ``still_active`` is False once they were deleted since (whether they are back in the segments is
    only known by reading the source again, which the approved run does)."""

    customer_id: str
    hull_id: str
    still_active: bool


class LedgerError(Exception):
    """The ledger file cannot be used. The message says why and what to do."""


class LedgerBusyError(LedgerError):
    """Another process is running a sync of the same profile."""


def busy_message(holder: LockHolder | None) -> str:
    """What the user reads when a sync of the profile is already running."""
    who = holder.describe() if holder else "another process"
    return (
        f"Another sync of this profile is running ({who}). Wait for it to finish, or stop it (Cancel in"
        " the app, Ctrl-C where it was started), then try again."
    )


class RunsMixin:
    """The run-history half of the ledger (see the module docstring)."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _clock: Callable[[], float]
    _run_lock: RunLock
    _active_runs: set[int]

    def _tx(self) -> AbstractContextManager[None]:  # provided by Ledger
        raise NotImplementedError

    def _add_run_columns(self) -> None:
        """Add the columns of :data:`RUNS_ADDED_COLUMNS` a ledger made before them lacks (idempotent)."""
        with self._tx():
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
            for column, stmt in RUNS_ADDED_COLUMNS:
                if column not in have:
                    self._conn.execute(stmt)

    def mark_plan(self, run_id: int, mode: str) -> None:
        """Name the (finished) dry run ``run_id`` as the plan of a ``mode`` run."""
        with self._tx():
            self._conn.execute("UPDATE runs SET plan_of=? WHERE id=?", (mode, run_id))

    def _mark_interrupted_runs(self) -> None:
        """Mark interrupted the runs left "running" by a process that died: nobody holds the run lock."""
        with self._lock:
            if (
                self._run_lock.held
                or not self._conn.execute(
                    "SELECT 1 FROM runs WHERE status=? LIMIT 1", (RunStatus.RUNNING.value,)
                ).fetchone()
            ):
                return
            try:
                if not self._run_lock.try_acquire():
                    return  # a live process is running a sync of this profile
            except RunLockError as exc:
                log.warning("cannot check for interrupted runs: %s", exc)
                return
            try:
                self._interrupt_stale_runs()
            finally:
                self._run_lock.release()

    def _interrupt_stale_runs(self) -> None:
        # Only with the run lock held: every "running" run but this ledger's own is dead.
        with self._tx():
            rows = self._conn.execute("SELECT id FROM runs WHERE status=?", (RunStatus.RUNNING.value,)).fetchall()
            self._conn.executemany(
                "UPDATE runs SET status=?, message=? WHERE id=?",
                [
                    (RunStatus.INTERRUPTED.value, _INTERRUPTED_MESSAGE, rid)
                    for (rid,) in rows
                    if rid not in self._active_runs
                ],
            )

    def start_run(self, mode: str) -> int:
        """Open a run, holding the profile's run lock until :meth:`finish_run` (or until the ledger is
        closed). Raises :class:`LedgerBusyError` when another run of the profile holds it, in this
        process or another; :class:`LedgerError` when the lock cannot be taken at all."""
        with self._lock:
            took = not self._run_lock.held
            if took:
                try:
                    self._run_lock.acquire(timeout=RUN_LOCK_WAIT_S)
                except RunLockBusyError as exc:
                    raise LedgerBusyError(busy_message(exc.holder)) from None
                except RunLockError as exc:
                    raise LedgerError(str(exc)) from exc
            try:
                self._interrupt_stale_runs()
                started = self._clock()
                with self._tx():
                    c = self._conn
                    cur = c.execute(
                        "INSERT INTO runs (mode, started_at, status, pid) VALUES (?, ?, ?, ?)",
                        (str(mode), started, RunStatus.RUNNING.value, os.getpid()),
                    )
                    run_id = int(cur.lastrowid or 0)
                    # Keep the errors and withheld lists of the most recent runs only.
                    c.execute("DELETE FROM run_errors WHERE run_id <= ?", (run_id - KEEP_RUN_ERRORS_FOR_RUNS,))
                    c.execute(
                        "DELETE FROM withheld_deletions WHERE run_id <= ?", (run_id - KEEP_WITHHELD_LISTS_FOR_RUNS,)
                    )
                self._active_runs.add(run_id)
                self._run_lock.write_holder(LockHolder(os.getpid(), run_id, str(mode), started))
            except BaseException:
                if took:
                    self._run_lock.release()
                raise
        return run_id

    def update_run(
        self,
        run_id: int,
        *,
        counts: Mapping[str, int],
        failed: int,
        people_sent: int | None = None,
        events_sent: int | None = None,
        objects_sent: int | None = None,
        relationships_sent: int | None = None,
    ) -> None:
        """Save the running counts and what Customer.io accepted so far (so an interrupted run still
        shows how far it got, and what it sent rather than what it planned). None keeps what is stored."""
        with self._tx():
            self._conn.execute(
                "UPDATE runs SET counts=?, failed=?, people_sent=COALESCE(?, people_sent),"
                " events_sent=COALESCE(?, events_sent), objects_sent=COALESCE(?, objects_sent),"
                " relationships_sent=COALESCE(?, relationships_sent) WHERE id=?",
                (
                    json.dumps(dict(counts), sort_keys=True),
                    failed,
                    people_sent,
                    events_sent,
                    objects_sent,
                    relationships_sent,
                    run_id,
                ),
            )

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        counts: Mapping[str, int],
        failed: int,
        message: str = "",
        unreadable: int = 0,
        audience: int | None = None,
        withheld: int = 0,
        withheld_reason: str | None = None,
        people_sent: int | None = None,
        events_sent: int | None = None,
        problem: str | None = None,
        objects_sent: int | None = None,
        relationships_sent: int | None = None,
    ) -> RunRecord:
        """Write the run's outcome and let its run lock go; the returned record is what every page and
        the CLI show of the run (the Sync page's last line included)."""
        with self._tx():
            self._conn.execute(
                "UPDATE runs SET status=?, ended_at=?, counts=?, failed=?, message=?, unreadable=?, audience=?,"
                " withheld=?, withheld_reason=?, people_sent=?, events_sent=?, problem=?, objects_sent=?,"
                " relationships_sent=? WHERE id=?",
                (
                    status.value,
                    self._clock(),
                    json.dumps(dict(counts), sort_keys=True),
                    failed,
                    message,
                    unreadable,
                    audience,
                    withheld,
                    withheld_reason,
                    people_sent,
                    events_sent,
                    problem,
                    objects_sent,
                    relationships_sent,
                    run_id,
                ),
            )
        self._end_run(run_id)
        run = self.run(run_id)
        assert run is not None
        return run

    def _end_run(self, run_id: int) -> None:
        with self._lock:
            self._active_runs.discard(run_id)
            if not self._active_runs:
                self._run_lock.release()

    def run(self, run_id: int) -> RunRecord | None:
        with self._lock:
            row = self._conn.execute(_SELECT_RUNS + " WHERE id=?", (run_id,)).fetchone()
        return None if row is None else _run_record(row)

    def runs(self, limit: int = 100) -> list[RunRecord]:
        """Most recent first."""
        with self._lock:
            rows = self._conn.execute(_SELECT_RUNS + " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_run_record(r) for r in rows]

    def last_run(
        self, *, status: RunStatus | Sequence[RunStatus] | None = None, modes: Sequence[str] | None = None
    ) -> RunRecord | None:
        sql = _SELECT_RUNS + " WHERE 1=1"
        params: list[Any] = []
        if status is not None:
            wanted = [status] if isinstance(status, RunStatus) else list(status)
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            params.extend(s.value for s in wanted)
        if modes:
            sql += f" AND mode IN ({','.join('?' * len(modes))})"
            params.extend(modes)
        sql += " ORDER BY id DESC LIMIT 1"
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else _run_record(row)

    def last_clean_audience(self) -> int | None:
        """The audience of the newest run that read every member completely and did not withhold
        deletions (the baseline of the guard's "the audience shrank" rule), or None. Dry runs send
        nothing, so they are no baseline; a first incremental run that read everyone is."""
        with self._lock:
            row = self._conn.execute(
                "SELECT audience FROM runs WHERE audience IS NOT NULL AND mode != ? AND status IN (?, ?)"
                " ORDER BY id DESC LIMIT 1",
                ("dry_run", RunStatus.COMPLETED.value, RunStatus.PARTIAL.value),
            ).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ withheld deletions
    def record_withheld(self, run_id: int, people: Sequence[tuple[str, str]]) -> None:
        """Add (customer id, Hull id) pairs to the run's withheld deletions."""
        if not people:
            return
        with self._tx():
            self._conn.executemany(
                "INSERT OR IGNORE INTO withheld_deletions (run_id, customer_id, hull_id) VALUES (?, ?, ?)",
                [(run_id, cid, hid) for cid, hid in people],
            )

    def is_withheld(self, run_id: int, customer_id: str) -> bool:
        """Whether the run withheld (and listed) the deletion of this person."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM withheld_deletions WHERE run_id=? AND customer_id=?", (run_id, customer_id)
            ).fetchone()
        return row is not None

    def withheld_counts(self, run_id: int) -> tuple[int, int]:
        """(listed, still in Customer.io) of the run's withheld list."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(p.customer_id IS NOT NULL AND p.deleted_at IS NULL"
                " AND p.created_at IS NOT NULL), 0)"
                " FROM withheld_deletions w LEFT JOIN people p ON p.customer_id = w.customer_id WHERE w.run_id=?",
                (run_id,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def withheld_deletions(self, run_id: int, *, limit: int | None = None) -> list[WithheldDeletion]:
        """The run's withheld deletions by customer id, each with whether Customer.io still holds them
        as this tool last left them (created and not deleted since)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT w.customer_id, w.hull_id,"
                " (p.customer_id IS NOT NULL AND p.deleted_at IS NULL AND p.created_at IS NOT NULL)"
                " FROM withheld_deletions w LEFT JOIN people p ON p.customer_id = w.customer_id"
                " WHERE w.run_id=? ORDER BY w.customer_id LIMIT ?",
                (run_id, -1 if limit is None else limit),
            ).fetchall()
        return [WithheldDeletion(str(cid), str(hid or ""), bool(active)) for cid, hid, active in rows]

    # ------------------------------------------------------------------ errors
    def run_errors(self, run_id: int, search: str | None = None, *, limit: int | None = None) -> list[RunError]:
        """Errors of a run in the order they happened; ``search`` matches any column (case-insensitive)."""
        return list(self.iter_run_errors(run_id, search, limit=limit))

    def iter_run_errors(
        self, run_id: int, search: str | None = None, *, limit: int | None = None
    ) -> Iterator[RunError]:
        sql = "SELECT run_id, kind, message, customer_id, hull_id, field, created_at FROM run_errors WHERE run_id=?"
        params: list[Any] = [run_id]
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (
                " AND (customer_id LIKE ?1 ESCAPE '\\' OR hull_id LIKE ?1 ESCAPE '\\' OR kind LIKE ?1 ESCAPE '\\'"
                " OR message LIKE ?1 ESCAPE '\\' OR field LIKE ?1 ESCAPE '\\')"
            ).replace("?1", "?")
            params.extend([like] * 5)
        sql += " AND id > ? ORDER BY id LIMIT ?"
        last_id = 0
        remaining = limit if limit is not None else -1
        while remaining != 0:
            page = 1000 if remaining < 0 else min(1000, remaining)
            with self._lock:
                rows = self._conn.execute(
                    sql.replace("SELECT run_id", "SELECT id, run_id"), [*params, last_id, page]
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield RunError(*row[1:])
            last_id = rows[-1][0]
            if remaining > 0:
                remaining -= len(rows)

    def export_errors_csv(self, run_id: int, path: Path | str, search: str | None = None) -> int:
        """Write the run's errors to a CSV file; returns how many rows were written."""
        from cio_desktop.sync.report import write_errors_csv

        return write_errors_csv(self.iter_run_errors(run_id, search), path)


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    (
        rid,
        mode,
        status,
        started,
        ended,
        counts,
        failed,
        message,
        unreadable,
        audience,
        withheld,
        reason,
        ps,
        es,
        problem,
        plan_of,
        objects_sent,
        relationships_sent,
    ) = row
    try:
        parsed = json.loads(counts or "{}")
    except ValueError:
        parsed = {}
    return RunRecord(
        id=int(rid),
        mode=str(mode),
        status=RunStatus(status),
        started_at=float(started),
        ended_at=None if ended is None else float(ended),
        counts=MappingProxyType({str(k): int(v) for k, v in parsed.items()}),
        failed=int(failed or 0),
        message=str(message or ""),
        unreadable=int(unreadable or 0),
        audience=None if audience is None else int(audience),
        withheld=int(withheld or 0),
        withheld_reason=None if reason is None else str(reason),
        people_sent=None if ps is None else int(ps),
        events_sent=None if es is None else int(es),
        problem=None if problem is None else str(problem),
        plan_of=None if plan_of is None else str(plan_of),
        objects_sent=None if objects_sent is None else int(objects_sent),
        relationships_sent=None if relationships_sent is None else int(relationships_sent),
    )
