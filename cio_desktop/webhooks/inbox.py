"""The webhook inbox: every accepted Customer.io event, durably on disk before we answer 200.

It is its own SQLite file (``<profile data dir>/inbox.sqlite3``), not a table in the sync ledger,
so the receiver never waits behind a sync's ledger writes (SQLite allows one writer per file) and
Customer.io's 4-second answer limit is never at the mercy of a running sync.

Durability: WAL with ``synchronous=FULL`` (every commit is fsynced). To take >= 1,000 webhooks/s
with that, writes are group-committed: one writer thread owns the only write connection, takes
everything queued (receiver inserts, forwarder status updates, counters), runs it in one
transaction, commits once, then releases every waiting caller. A caller is only told "stored"
after the commit that holds its row returned.

Statuses: ``pending`` (to forward), ``forwarded`` (Hull's firehose accepted it), ``failed`` (with a
reason: no usable identity, text that is not valid Unicode, Hull refused it, gave up retrying),
``unknown`` (a type or metric we do not recognise; kept and shown, not forwarded).

Every event keeps its body exactly as received (bytes): whatever the mapping made of it, the row can
be stored, so a signed, well-formed event is always acknowledged and can be mapped again later.
"""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from cio_desktop.config import paths
from cio_desktop.config.private import open_private_sqlite
from cio_desktop.webhooks.events import JsonScalar, MappedEvent, PayloadFormat

INBOX_FILENAME = "inbox.sqlite3"
_MAX_GROUP = 1000  # jobs per transaction; bounds the latency one commit can add
_SCHEMA_VERSION = 1
# JSON may escape half of a UTF-16 pair ("\\ud800"); Python keeps it, SQLite's UTF-8 cannot.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

T = TypeVar("T")
# Its events were accepted (Customer.io will not send them again): keep the file, do not delete it.
_IF_DAMAGED = (
    "Move it aside (keep it: the events it holds are not sent again) and start the receiver again: it"
    " creates a new, empty inbox."
)


class EventStatus(StrEnum):
    PENDING = "pending"
    FORWARDED = "forwarded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class AcceptResult(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


class InboxClosedError(RuntimeError):
    """The inbox was closed while a write was waiting (the receiver answers 503, so Customer.io retries)."""


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


@dataclass
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: Future[Any] | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    object_type TEXT NOT NULL,
    metric TEXT NOT NULL,
    created_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    forwarded_at REAL,
    reason TEXT,
    as_user TEXT,
    properties TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_COLUMNS = (
    "seq, event_id, status, name, format, object_type, metric, created_at, received_at, attempts,"
    " next_attempt_at, forwarded_at, reason, as_user, properties"
)


def inbox_path(profile_name: str) -> Path:
    return paths.profile_data_dir(profile_name) / INBOX_FILENAME


def initial_status(mapped: MappedEvent) -> tuple[EventStatus, str | None]:
    """Where a freshly received event starts, and why when it cannot be forwarded."""
    broken = _broken_text(mapped)
    if broken is not None:
        return EventStatus.FAILED, (
            f"text in the event's {broken} is not valid Unicode (a lone UTF-16 surrogate like \\ud800); "
            "its body is kept as received, not forwarded"
        )
    if not mapped.known:
        return EventStatus.UNKNOWN, mapped.problem or f"unrecognised event: {mapped.object_type} {mapped.metric}"
    if mapped.as_user is None:
        return EventStatus.FAILED, mapped.problem or "no usable identity"
    return EventStatus.PENDING, None


def _broken_text(mapped: MappedEvent) -> str | None:
    """Which part of the event holds text that is not valid Unicode, if any."""
    parts: dict[str, Iterable[object]] = {
        "name": (mapped.name, mapped.object_type, mapped.metric),
        "identity": (mapped.as_user or {}).values(),
        "properties": mapped.properties.values(),
    }
    for part, values in parts.items():
        if any(isinstance(v, str) and not v.isascii() and _LONE_SURROGATE.search(v) for v in values):
            return part
    return None


def _text(value: str) -> str:
    """``value`` as SQLite can store it (lone surrogates become U+FFFD; the body keeps the original)."""
    return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)


def _mapped_columns(mapped: MappedEvent) -> tuple[str, str, str, str | None, str]:
    """name, object_type, metric, as_user and properties columns of ``mapped``."""
    as_user = json.dumps(dict(mapped.as_user), ensure_ascii=False) if mapped.as_user is not None else None
    return (
        _text(mapped.name),
        _text(mapped.object_type),
        _text(mapped.metric),
        None if as_user is None else _text(as_user),
        _text(json.dumps(dict(mapped.properties), ensure_ascii=False)),
    )


class Inbox:
    """Durable store of received webhook events. Thread-safe; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write = self._connect()
        self._write.executescript(_SCHEMA)
        self._write.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        self._read = self._connect()
        self._read_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._writer_loop, name="webhook-inbox-writer", daemon=True)
        self._writer.start()

    @classmethod
    def for_profile(cls, profile_name: str) -> Inbox:
        return cls(inbox_path(profile_name))

    def _connect(self) -> sqlite3.Connection:
        """A private (0600) WAL connection; raises StorageError (with what to do) for a file written by a
        newer cio-desktop or one that is not a database, leaving it untouched."""
        conn, _ = open_private_sqlite(
            self.path, schema_version=_SCHEMA_VERSION, what="webhook inbox", timeout=10, if_damaged=_IF_DAMAGED
        )
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    # ------------------------------------------------------------------ writing (group commit)
    def submit(self, mapped: MappedEvent, body: bytes, received_at: float) -> Future[AcceptResult]:
        """Queue an event for storage; the future resolves after the commit that holds it."""
        status, reason = initial_status(mapped)
        name, object_type, metric, as_user, properties = _mapped_columns(mapped)
        row = (
            _text(mapped.event_id),
            status.value,
            name,
            mapped.format.value,
            object_type,
            metric,
            mapped.created_at,
            received_at,
            None if reason is None else _text(reason),
            as_user,
            properties,
            body,
        )

        def run(conn: sqlite3.Connection) -> AcceptResult:
            cur = conn.execute(
                "INSERT OR IGNORE INTO events (event_id, status, name, format, object_type, metric, created_at,"
                " received_at, reason, as_user, properties, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            if cur.rowcount == 0:
                _bump(conn, "duplicates", 1)
                return AcceptResult.DUPLICATE
            return AcceptResult.STORED

        return self._enqueue(run)

    def accept(self, mapped: MappedEvent, body: bytes, received_at: float | None = None) -> AcceptResult:
        """Store an event and wait until it is on disk."""
        return self.submit(mapped, body, time.time() if received_at is None else received_at).result()

    def count_rejected(self, n: int = 1) -> None:
        """Count refused (unauthenticated) requests; nothing of theirs is stored."""
        self._enqueue(lambda conn: _bump(conn, "rejected", n), wait=False)

    def mark_forwarded(self, event_ids: Sequence[str], now: float | None = None) -> None:
        when = time.time() if now is None else now
        self._call(
            lambda conn: conn.executemany(
                "UPDATE events SET status='forwarded', forwarded_at=?, reason=NULL, attempts=attempts+1"
                " WHERE event_id=? AND status='pending'",
                [(when, e) for e in event_ids],
            )
        )

    def mark_retry(self, retries: Mapping[str, float], reason: str) -> None:
        """Leave events pending, count the attempt, and try again at the given times."""
        self._call(
            lambda conn: conn.executemany(
                "UPDATE events SET attempts=attempts+1, next_attempt_at=?, reason=?"
                " WHERE event_id=? AND status='pending'",
                [(at, reason, e) for e, at in retries.items()],
            )
        )

    def mark_failed(self, reasons: Mapping[str, str]) -> None:
        self._call(
            lambda conn: conn.executemany(
                "UPDATE events SET status='failed', attempts=attempts+1, reason=?"
                " WHERE event_id=? AND status='pending'",
                [(r, e) for e, r in reasons.items()],
            )
        )

    def retry_failed(self, remap: Callable[[bytes, float], MappedEvent] | None = None) -> int:
        """Put failed events back to pending (attempts reset); returns how many will be retried.

        With ``remap`` (the current profile's mapping) the stored body is mapped again, so fixing
        the customer-id setting and retrying recovers events that had no usable identity.
        """
        with self._read_lock:
            rows = self._read.execute("SELECT event_id, body, received_at FROM events WHERE status='failed'").fetchall()
        updates: list[tuple[Any, ...]] = []
        for event_id, body, received_at in rows:
            if remap is None:
                updates.append(("pending", None, None, None, None, event_id))
                continue
            mapped = remap(bytes(body), float(received_at))
            status, reason = initial_status(mapped)
            name, _, _, as_user, properties = _mapped_columns(mapped)
            updates.append(
                (status.value, None if reason is None else _text(reason), name, as_user, properties, event_id)
            )

        def run(conn: sqlite3.Connection) -> int:
            moved = 0
            for status, reason, name, as_user, props, event_id in updates:
                if name is None:
                    cur = conn.execute(
                        "UPDATE events SET status='pending', reason=NULL, attempts=0, next_attempt_at=0"
                        " WHERE event_id=? AND status='failed' AND as_user IS NOT NULL",
                        (event_id,),
                    )
                else:
                    cur = conn.execute(
                        "UPDATE events SET status=?, reason=?, name=?, as_user=?, properties=?, attempts=0,"
                        " next_attempt_at=0 WHERE event_id=? AND status='failed'",
                        (status, reason, name, as_user, props, event_id),
                    )
                if status == "pending":
                    moved += cur.rowcount
            return moved

        result: int = self._call(run)
        return result

    def prune_forwarded(self, before: float) -> int:
        """Delete events forwarded before ``before`` (Unix seconds); Hull has them. Returns how many.

        Their event ids go too, so a re-delivery older than that would be stored again; Customer.io
        only retries for 7 days, so keep at least that long.
        """

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute("DELETE FROM events WHERE status='forwarded' AND forwarded_at < ?", (before,))
            return cur.rowcount

        removed: int = self._call(run)
        return removed

    def _call(self, run: Callable[[sqlite3.Connection], T]) -> T:
        future = self._enqueue(run)
        value: T = future.result()
        return value

    def _enqueue(self, run: Callable[[sqlite3.Connection], Any], *, wait: bool = True) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(InboxClosedError("the webhook inbox is closed"))
            return future
        self._jobs.put(_Job(run, future if wait else None))
        return future

    def _writer_loop(self) -> None:
        conn = self._write
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _MAX_GROUP:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._run_batch(conn, batch)
        # Fail whatever arrived after close() so no caller waits forever.
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future is not None:
                job.future.set_exception(InboxClosedError("the webhook inbox is closed"))

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                results.append(job.run(conn))
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    value = job.run(conn)
                    conn.execute("COMMIT")
                except Exception as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if job.future is not None:
                        job.future.set_exception(exc)
                else:
                    if job.future is not None:
                        job.future.set_result(value)
            return
        for job, value in zip(batch, results, strict=True):
            if job.future is not None:
                job.future.set_result(value)

    # ------------------------------------------------------------------ reading
    def due(self, limit: int, now: float | None = None) -> list[InboxRow]:
        """Pending events whose next attempt is due, oldest first."""
        when = time.time() if now is None else now
        return self._select(
            "WHERE status='pending' AND next_attempt_at<=? ORDER BY seq LIMIT ?",
            (when, limit),
        )

    def next_due_at(self) -> float | None:
        """When the earliest pending event becomes due (None: nothing pending)."""
        with self._read_lock:
            row = self._read.execute("SELECT MIN(next_attempt_at) FROM events WHERE status='pending'").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def list_events(
        self,
        *,
        statuses: Iterable[EventStatus] | None = None,
        search: str = "",
        limit: int = 200,
        offset: int = 0,
    ) -> list[InboxRow]:
        """Events newest first, optionally only some statuses and/or matching ``search``
        (in the event name, event id, identity or reason)."""
        clauses: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            wanted = [s.value for s in statuses]
            clauses.append(f"status IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(name LIKE ? ESCAPE '\\' OR event_id LIKE ? ESCAPE '\\' OR as_user LIKE ? ESCAPE '\\'"
                " OR reason LIKE ? ESCAPE '\\')"
            )
            params.extend([pattern] * 4)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select(f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*params, limit, offset))

    def get(self, event_id: str) -> InboxRow | None:
        rows = self._select("WHERE event_id=?", (event_id,))
        return rows[0] if rows else None

    def body(self, event_id: str) -> bytes | None:
        with self._read_lock:
            row = self._read.execute("SELECT body FROM events WHERE event_id=?", (event_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def last_event(self) -> InboxRow | None:
        rows = self._select("ORDER BY seq DESC LIMIT 1", ())
        return rows[0] if rows else None

    def counts(self) -> InboxCounts:
        with self._read_lock:
            by_status = dict(self._read.execute("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall())
            counters = dict(self._read.execute("SELECT name, value FROM counters").fetchall())
        return InboxCounts(
            received=sum(by_status.values()),
            pending=by_status.get("pending", 0),
            forwarded=by_status.get("forwarded", 0),
            failed=by_status.get("failed", 0),
            unknown=by_status.get("unknown", 0),
            duplicates=counters.get("duplicates", 0),
            rejected=counters.get("rejected", 0),
        )

    def _select(self, tail: str, params: Sequence[Any]) -> list[InboxRow]:
        with self._read_lock:
            rows = self._read.execute(f"SELECT {_COLUMNS} FROM events {tail}", params).fetchall()  # noqa: S608
        return [_row(r) for r in rows]

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Finish queued writes, then close. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._writer.join(timeout=30)
        with self._read_lock:
            self._read.close()
        if not self._writer.is_alive():
            self._write.close()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bump(conn: sqlite3.Connection, name: str, n: int) -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, n),
    )


def _row(r: Sequence[Any]) -> InboxRow:
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
    )


__all__ = [
    "INBOX_FILENAME",
    "AcceptResult",
    "EventStatus",
    "Inbox",
    "InboxClosedError",
    "InboxCounts",
    "InboxRow",
    "inbox_path",
    "initial_status",
]
