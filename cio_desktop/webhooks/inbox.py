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
``unknown`` (a type or metric we do not recognise; kept and shown, not forwarded), ``kept`` (would be
pending, but there is no live Hull to send it to: stored for the activity view and export; it becomes
pending again when Hull forwarding starts). The profile's own HTTPS destination has its own
``http_status`` (pending / forwarded / failed, NULL when the event is not for it): see
:class:`Destination`. Tables and migrations: :mod:`cio_desktop.webhooks.inbox_schema`.

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
from pathlib import Path
from typing import Any, TypeVar

from cio_desktop.config import paths
from cio_desktop.config.private import open_private_sqlite
from cio_desktop.webhooks.events import MappedEvent
from cio_desktop.webhooks.inbox_rows import (
    ROW_COLUMNS,
    STATE_COLUMNS,
    AcceptResult,
    Destination,
    EventStatus,
    InboxCounts,
    InboxRow,
    row_from_db,
)
from cio_desktop.webhooks.inbox_schema import SCHEMA_VERSION, create_or_migrate, search_columns

INBOX_FILENAME = "inbox.sqlite3"
_MAX_GROUP = 1000  # jobs per transaction; bounds the latency one commit can add
# JSON may escape half of a UTF-16 pair ("\\ud800"); Python keeps it, SQLite's UTF-8 cannot.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

T = TypeVar("T")
# Its events were accepted (Customer.io will not send them again): keep the file, do not delete it.
_IF_DAMAGED = (
    "Move it aside (keep it: the events it holds are not sent again) and start the receiver again: it"
    " creates a new, empty inbox."
)


class InboxClosedError(RuntimeError):
    """The inbox was closed while a write was waiting (the receiver answers 503, so Customer.io retries)."""


@dataclass
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: Future[Any] | None


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
        self._write, found = self._connect()
        create_or_migrate(self._write, found)
        self._read, _ = self._connect()
        # Who takes new events (see set_destinations); Hull by default, as before there was a choice.
        self._hull_live = True
        self._http_live = False
        self._read_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._writer_loop, name="webhook-inbox-writer", daemon=True)
        self._writer.start()

    @classmethod
    def for_profile(cls, profile_name: str) -> Inbox:
        return cls(inbox_path(profile_name))

    def _connect(self) -> tuple[sqlite3.Connection, int]:
        """A private (0600) WAL connection and the schema version found; raises StorageError (with what
        to do) for a file written by a newer cio-desktop or one that is not a database, leaving it untouched."""
        conn, found = open_private_sqlite(
            self.path, schema_version=SCHEMA_VERSION, what="webhook inbox", timeout=10, if_damaged=_IF_DAMAGED
        )
        conn.execute("PRAGMA synchronous=FULL")
        return conn, found

    def set_destinations(self, *, hull: bool, http: bool) -> None:
        """Say where new events go. Without a live Hull, pending events become ``kept`` (and back to
        ``pending`` once Hull forwarding runs), so nothing claims to wait for a Hull that is not there."""
        self._hull_live, self._http_live = hull, http
        old, new = (EventStatus.KEPT, EventStatus.PENDING) if hull else (EventStatus.PENDING, EventStatus.KEPT)
        self._call(
            lambda conn: conn.execute(
                "UPDATE events SET status=?, next_attempt_at=0 WHERE status=?", (new.value, old.value)
            )
        )

    # ------------------------------------------------------------------ writing (group commit)
    def submit(self, mapped: MappedEvent, body: bytes, received_at: float) -> Future[AcceptResult]:
        """Queue an event for storage; the future resolves after the commit that holds it."""
        status, reason = initial_status(mapped)
        # Forwardable events go to the HTTPS destination too, whether or not Hull takes them.
        http_status = EventStatus.PENDING.value if self._http_live and status is EventStatus.PENDING else None
        if status is EventStatus.PENDING and not self._hull_live:
            status = EventStatus.KEPT
        name, object_type, metric, as_user, properties = _mapped_columns(mapped)
        person, email, campaign, created_ts = search_columns(mapped, received_at)
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
            None if person is None else _text(person),
            None if email is None else _text(email),
            None if campaign is None else _text(campaign),
            created_ts,
            http_status,
        )

        def run(conn: sqlite3.Connection) -> AcceptResult:
            cur = conn.execute(
                "INSERT OR IGNORE INTO events (event_id, status, name, format, object_type, metric, created_at,"
                " received_at, reason, as_user, properties, body, person_id, email, campaign, created_ts,"
                " http_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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

    def mark_forwarded(
        self, event_ids: Sequence[str], now: float | None = None, *, destination: Destination = Destination.HULL
    ) -> None:
        when = time.time() if now is None else now
        st, att, _, fwd, why = STATE_COLUMNS[destination]
        self._call(
            lambda conn: conn.executemany(
                f"UPDATE events SET {st}='forwarded', {fwd}=?, {why}=NULL, {att}={att}+1"  # noqa: S608
                f" WHERE event_id=? AND {st}='pending'",
                [(when, e) for e in event_ids],
            )
        )

    def mark_retry(
        self, retries: Mapping[str, float], reason: str, *, destination: Destination = Destination.HULL
    ) -> None:
        """Leave events pending, count the attempt, and try again at the given times."""
        st, att, nxt, _, why = STATE_COLUMNS[destination]
        self._call(
            lambda conn: conn.executemany(
                f"UPDATE events SET {att}={att}+1, {nxt}=?, {why}=?"  # noqa: S608
                f" WHERE event_id=? AND {st}='pending'",
                [(at, reason, e) for e, at in retries.items()],
            )
        )

    def mark_failed(self, reasons: Mapping[str, str], *, destination: Destination = Destination.HULL) -> None:
        st, att, _, _, why = STATE_COLUMNS[destination]
        self._call(
            lambda conn: conn.executemany(
                f"UPDATE events SET {st}='failed', {att}={att}+1, {why}=?"  # noqa: S608
                f" WHERE event_id=? AND {st}='pending'",
                [(r, e) for e, r in reasons.items()],
            )
        )

    def retry_http_failed(self) -> int:
        """Put events the HTTPS destination failed on back in its queue (attempts reset)."""

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE events SET http_status='pending', http_attempts=0, http_next_at=0, http_reason=NULL"
                " WHERE http_status='failed'"
            )
            return cur.rowcount

        moved: int = self._call(run)
        return moved

    def retry_failed(self, remap: Callable[[bytes, float], MappedEvent] | None = None) -> int:
        """Put failed events back to pending (attempts reset); returns how many will be retried.

        With ``remap`` (the current profile's mapping) the stored body is mapped again, so fixing
        the customer-id setting and retrying recovers events that had no usable identity. Without a
        live Hull they become ``kept`` instead (and are counted all the same).
        """
        target = EventStatus.PENDING.value if self._hull_live else EventStatus.KEPT.value
        with self._read_lock:
            rows = self._read.execute("SELECT event_id, body, received_at FROM events WHERE status='failed'").fetchall()
        updates: list[tuple[Any, ...]] = []
        for event_id, body, received_at in rows:
            if remap is None:
                updates.append(("pending", None, None, None, None, None, event_id))
                continue
            mapped = remap(bytes(body), float(received_at))
            status, reason = initial_status(mapped)
            name, _, _, as_user, properties = _mapped_columns(mapped)
            new_status = target if status is EventStatus.PENDING else status.value
            person, email, _, _ = search_columns(mapped, float(received_at))
            why = None if reason is None else _text(reason)
            updates.append((new_status, why, name, as_user, properties, (person, email), event_id))
        # An event that names someone now goes to the HTTPS endpoint too, if it runs.
        http = EventStatus.PENDING.value if self._http_live else None

        def run(conn: sqlite3.Connection) -> int:
            moved = 0
            for status, reason, name, as_user, props, who, event_id in updates:
                if name is None:
                    cur = conn.execute(
                        "UPDATE events SET status=?, reason=NULL, attempts=0, next_attempt_at=0"
                        " WHERE event_id=? AND status='failed' AND as_user IS NOT NULL",
                        (target, event_id),
                    )
                else:
                    cur = conn.execute(
                        "UPDATE events SET status=?, reason=?, name=?, as_user=?, properties=?, attempts=0,"
                        " next_attempt_at=0, person_id=?, email=?, http_status=CASE WHEN ? IN ('pending', 'kept')"
                        " THEN COALESCE(http_status, ?) ELSE http_status END"
                        " WHERE event_id=? AND status='failed'",
                        (status, reason, name, as_user, props, *who, status, http, event_id),
                    )
                if status in ("pending", target):
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

    def prune_older_than(self, before: float) -> int:
        """Retention: delete events received before ``before`` (Unix seconds), except those still
        waiting for a destination (pending for Hull or the HTTPS endpoint). Returns how many went."""

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM events WHERE received_at < ? AND status != 'pending'"
                " AND (http_status IS NULL OR http_status != 'pending')",
                (before,),
            )
            return cur.rowcount

        removed: int = self._call(run)
        return removed

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``query`` on the shared read connection (the activity view's searches)."""
        with self._read_lock:
            return query(self._read)

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
    def due(
        self, limit: int, now: float | None = None, *, destination: Destination = Destination.HULL
    ) -> list[InboxRow]:
        """Events pending for ``destination`` whose next attempt is due, oldest first."""
        when = time.time() if now is None else now
        st, _, nxt, _, _ = STATE_COLUMNS[destination]
        return self._select(f"WHERE {st}='pending' AND {nxt}<=? ORDER BY seq LIMIT ?", (when, limit))

    def next_due_at(self, *, destination: Destination = Destination.HULL) -> float | None:
        """When the earliest pending event becomes due (None: nothing pending)."""
        st, _, nxt, _, _ = STATE_COLUMNS[destination]
        with self._read_lock:
            row = self._read.execute(f"SELECT MIN({nxt}) FROM events WHERE {st}='pending'").fetchone()  # noqa: S608
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
            by_http = dict(
                self._read.execute(
                    "SELECT http_status, COUNT(*) FROM events WHERE http_status IS NOT NULL GROUP BY http_status"
                ).fetchall()
            )
            counters = dict(self._read.execute("SELECT name, value FROM counters").fetchall())
        return InboxCounts(
            received=sum(by_status.values()),
            pending=by_status.get("pending", 0),
            forwarded=by_status.get("forwarded", 0),
            failed=by_status.get("failed", 0),
            unknown=by_status.get("unknown", 0),
            duplicates=counters.get("duplicates", 0),
            rejected=counters.get("rejected", 0),
            kept=by_status.get("kept", 0),
            http_pending=by_http.get("pending", 0),
            http_forwarded=by_http.get("forwarded", 0),
            http_failed=by_http.get("failed", 0),
        )

    def _select(self, tail: str, params: Sequence[Any]) -> list[InboxRow]:
        with self._read_lock:
            rows = self._read.execute(f"SELECT {ROW_COLUMNS} FROM events {tail}", params).fetchall()  # noqa: S608
        return [row_from_db(r) for r in rows]

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


__all__ = [
    "INBOX_FILENAME",
    "ROW_COLUMNS",
    "AcceptResult",
    "Destination",
    "EventStatus",
    "Inbox",
    "InboxClosedError",
    "InboxCounts",
    "InboxRow",
    "inbox_path",
    "initial_status",
    "row_from_db",
]
