"""The ledger: what this tool sent to whom, per profile, in SQLite (WAL).

It is the engine's memory between runs and the reason a run can be cancelled or killed at any
moment without losing or duplicating anything:

- ``people``: per Customer.io customer id, the Hull id, the hash (and a JSON copy) of the last
  attributes Customer.io accepted, when we created and deleted the person. A person is written only
  after Customer.io accepted the operation, so whatever was not acknowledged is retried next run.
- ``events_sent``: Hull event ids already accepted (with the ULID sent), so no event goes twice.
- ``anonymous_users``: Hull users of the synced segments who have no customerId, with their first
  Hull anonymous id. Only their events (and those of anonymous visitors) may go out as anonymous
  events: a user who has a customerId but is not synced must never leak as an anonymous one.
- ``checkpoints``: the event checkpoint and the time of the last completed user pass (incremental).
- ``runs`` / ``run_errors``: the run history and every per-person failure, exportable to CSV.
- ``run_people``: every person the last few runs decided about, with the decision and reason.

One connection guarded by a lock serves every thread (the pipeline reads, sender threads write):
SQLite serializes writers anyway and one connection keeps the per-run ``seen`` temp table visible
to all of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cio_desktop import jsonfast
from cio_desktop.config import paths
from cio_desktop.config.lock import RUN_LOCK_FILENAME, RunLock
from cio_desktop.config.private import StorageError, open_private_sqlite
from cio_desktop.sync.ledger_objects import ObjectsLedgerMixin
from cio_desktop.sync.ledger_scratch import DeletionScratchMixin, known_person
from cio_desktop.sync.model import KnownPerson
from cio_desktop.sync.run_people import RUN_PEOPLE_SCHEMA, RunPeopleMixin
from cio_desktop.sync.runs import (
    KEEP_RUN_ERRORS_FOR_RUNS,
    RUNS_MIGRATION_4,
    RUNS_MIGRATION_5,
    RUNS_SCHEMA,
    LedgerBusyError,
    LedgerError,
    RunError,
    RunRecord,
    RunsMixin,
    RunStatus,
    WithheldDeletion,
)

SCHEMA_VERSION = 5
LEDGER_FILENAME = "ledger.sqlite3"
# SQLite limits host parameters per statement (32766 since 3.32); stay well below.
_CHUNK = 900

_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    customer_id  TEXT PRIMARY KEY NOT NULL,
    hull_id      TEXT,
    payload_hash TEXT,
    attributes   TEXT,
    created_at   REAL,
    deleted_at   REAL,
    synced_at    REAL,
    source_fp    TEXT
);
CREATE INDEX IF NOT EXISTS people_hull_id ON people(hull_id);
CREATE TABLE IF NOT EXISTS events_sent (
    event_id TEXT PRIMARY KEY,
    ulid     TEXT NOT NULL,
    sent_at  REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anonymous_users (
    hull_id      TEXT PRIMARY KEY NOT NULL,
    anonymous_id TEXT
) WITHOUT ROWID;
"""


class Checkpoint(StrEnum):
    """Keys of the ``checkpoints`` table."""

    # Hull event time (Unix seconds) up to which every whitelisted event was handled.
    EVENTS = "events_since"
    # Start time of the last user pass that completed; incremental runs take users updated after it.
    USERS_UPDATED = "users_updated_since"


@dataclass(frozen=True)
class PersonWrite:
    """A person operation Customer.io accepted.

    ``deleted`` marks a delete; otherwise an identify with the ``payload_hash`` (and the
    ``attributes``, kept to show what changed in a preview). ``created_at`` keeps an earlier creation
    time (e.g. known from Hull's written-back trait); None means "now" for a new person.
    ``merged_from`` is the previous customer id when this identify followed a merge.
    ``source_fp`` fingerprints the Hull data (and sync settings) the payload was made from: the
    next run may call the person unchanged from it without mapping them again.
    """

    customer_id: str
    hull_id: str
    deleted: bool = False
    payload_hash: str | None = None
    attributes: Mapping[str, Any] | None = None
    created_at: float | None = None
    merged_from: str | None = None
    source_fp: str | None = None
    # ``attributes`` already encoded as JSON (the sync has them from the operation it sent).
    attributes_json: bytes | None = None


@dataclass(frozen=True)
class EventWrite:
    """A Hull event Customer.io accepted, with the ULID it was sent under."""

    event_id: str
    ulid: str


@dataclass(frozen=True)
class ErrorWrite:
    """A failure concerning one person (or one event): ``kind`` is a short machine label."""

    kind: str
    message: str
    customer_id: str = ""
    hull_id: str = ""
    field: str = ""


def ledger_path(profile_name: str) -> Path:
    return paths.profile_data_dir(profile_name) / LEDGER_FILENAME


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _in_query(prefix: str, n: int) -> str:
    """``prefix IN (?, ?, ...)``: only placeholders are interpolated, values stay bound parameters."""
    return f"{prefix} IN ({','.join('?' * n)})"


def _pack(attributes: Mapping[str, Any] | None) -> str | None:
    # Plain compact JSON: compressing saves ~30% of the bytes but costs twice the encoding time, on
    # the hot path of every person sent. Stored as text, as older versions did.
    if attributes is None:
        return None
    try:
        return jsonfast.dumps(attributes).decode("utf-8")
    except jsonfast.EncodeError:  # integers over 64 bits: the standard library takes them
        return json.dumps(attributes, separators=(",", ":"))


def _unpack(stored: str | bytes | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    value = json.loads(stored)
    return value if isinstance(value, dict) else None


# What to do with a ledger that cannot be read: nothing is lost by starting again.
_MOVE_ASIDE = (
    "move it aside: the next full sync rebuilds it (people already in Customer.io are updated, not duplicated)."
)


def known_with_fingerprints(
    reader: sqlite3.Connection, hull_ids: Iterable[str]
) -> dict[str, tuple[KnownPerson, str | None]]:
    """:meth:`Ledger.known_with_fingerprints` on a connection to a ledger (a reading process has its own)."""
    ids = list(dict.fromkeys(i for i in hull_ids if i))
    out: dict[str, tuple[KnownPerson, str | None]] = {}
    best: dict[str, tuple[bool, float]] = {}
    for chunk in _chunks(ids):
        rows = reader.execute(
            _in_query(
                "SELECT customer_id, hull_id, payload_hash, created_at, deleted_at, synced_at, source_fp"
                " FROM people WHERE hull_id",
                len(chunk),
            ),
            tuple(chunk),
        ).fetchall()
        for cid, hid, phash, created, deleted, synced, fp in rows:
            rank = (deleted is None, synced or 0.0)
            if hid not in best or rank > best[hid]:
                best[hid] = rank
                out[hid] = (known_person(cid, hid, phash, created, deleted), fp)
    return out


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A connection that only reads the ledger at ``path`` (a reading process's); it never creates one."""
    if not path.exists():
        raise LedgerError(f"The sync ledger {path} is gone.")
    try:
        reader = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        raise LedgerError(f"The sync ledger {path} cannot be read ({exc}).") from exc
    return reader


# The ledger connection's page cache, in KiB (allocated only as pages are used).
LEDGER_CACHE_KIB = 32_000


class Ledger(DeletionScratchMixin, ObjectsLedgerMixin, RunsMixin, RunPeopleMixin):
    """The per-profile ledger. Safe to share between threads; close it when done."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._seen_ready = False
        # The profile's run lock sits beside its ledger (see cio_desktop.sync.runs).
        self._run_lock = RunLock(self.path.parent / RUN_LOCK_FILENAME)
        self._active_runs: set[int] = set()
        # A second connection, opened on first use, for the run's per-page lookups: in WAL mode it reads
        # while a sender thread's transaction holds the main one, instead of waiting for it.
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        try:
            self._conn, version = open_private_sqlite(
                self.path,
                schema_version=SCHEMA_VERSION,
                what="sync ledger",
                timeout=30.0,
                if_damaged=f"To start again, {_MOVE_ASIDE}",
            )
            self._init_schema(version)
        except StorageError as exc:  # not created, not a database, or written by a newer version
            raise LedgerError(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise LedgerError(
                f"The sync ledger {self.path} cannot be opened ({exc}). If the file is damaged, {_MOVE_ASIDE}"
            ) from exc
        self._mark_interrupted_runs()

    @classmethod
    def for_profile(cls, profile_name: str) -> Ledger:
        return cls(ledger_path(profile_name))

    # ------------------------------------------------------------------ lifecycle
    def _init_schema(self, version: int) -> None:
        c = self._conn
        # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commits,
        # which are then simply resent (Customer.io identify is idempotent, events carry ULIDs).
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA temp_store=FILE")
        # 32 MB of page cache (SQLite's default is 2 MB): a run writes its list of people (100,000 rows
        # for 100,000 people) into one region of a B-tree much larger than 2 MB, and each write that
        # misses the cache reads a page back from the file.
        c.execute(f"PRAGMA cache_size=-{LEDGER_CACHE_KIB}")
        if version < SCHEMA_VERSION:
            with self._tx():
                if version == 1:
                    # v2: fingerprint of the Hull data a person was last sent from (fast unchanged check).
                    c.execute("ALTER TABLE people ADD COLUMN source_fp TEXT")
                # v3: anonymous_users (created by the schema below); nothing else changes.
                if 1 <= version < 4:
                    # v4: the outcome of a run (unreadable records, audience, withheld deletions).
                    have = {row[1] for row in c.execute("PRAGMA table_info(runs)")}
                    for column, stmt in RUNS_MIGRATION_4:
                        if have and column not in have:  # no runs table yet: created whole below
                            c.execute(stmt)
                if 1 <= version < 5:
                    # v5: what a run sent (one source for every page), and its people (run_people, below).
                    have = {row[1] for row in c.execute("PRAGMA table_info(runs)")}
                    for column, stmt in RUNS_MIGRATION_5:
                        if have and column not in have:
                            c.execute(stmt)
                for stmt in (*_SCHEMA.split(";"), *RUNS_SCHEMA.split(";"), *RUN_PEOPLE_SCHEMA.split(";")):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._init_object_tables()  # objects need no schema version: see ledger_objects
        self._add_run_columns()  # nor do the runs' newer columns: see runs.RUNS_ADDED_COLUMNS

    def close(self) -> None:
        """Close; a run not finished lets its run lock go (the next open marks it interrupted)."""
        with self._lock:
            self._run_lock.release()
            self._active_runs.clear()
            with self._reader_lock:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Tx:
        def __init__(self, ledger: Ledger) -> None:
            self._ledger = ledger

        def __enter__(self) -> None:
            self._ledger._lock.acquire()
            try:
                self._ledger._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._ledger._lock.release()
                raise

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            try:
                self._ledger._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self._ledger._lock.release()

    def _tx(self) -> Ledger._Tx:
        return Ledger._Tx(self)

    # ------------------------------------------------------------------ people
    def known_by_hull_id(self, hull_ids: Iterable[str]) -> dict[str, KnownPerson]:
        """The ledger's person for each Hull id it knows (one query per ~900 ids).

        When several customer ids share a Hull id (an old deleted one and a current one), the
        person not deleted, then the most recently synced, wins.
        """
        return {hid: known for hid, (known, _fp) in self.known_with_fingerprints(hull_ids).items()}

    def known_with_fingerprints(self, hull_ids: Iterable[str]) -> dict[str, tuple[KnownPerson, str | None]]:
        """Like :meth:`known_by_hull_id`, with the source fingerprint stored with each person
        (see :attr:`PersonWrite.source_fp`)."""
        with self._reader_lock:
            return known_with_fingerprints(self._read_connection(), hull_ids)

    def _read_connection(self) -> sqlite3.Connection:
        """The lookup connection (call with ``_reader_lock`` held); it only reads."""
        if self._reader is None:
            self._reader = open_for_reading(self.path)
        return self._reader

    def set_fingerprints(self, rows: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Store (customer id, source fingerprint, payload hash) for people found unchanged the slow
        way; a None hash keeps the stored one."""
        if not rows:
            return
        with self._tx():
            self._conn.executemany(
                "UPDATE people SET source_fp=?, payload_hash=coalesce(?, payload_hash) WHERE customer_id=?",
                [(fp, h, c) for c, fp, h in rows],
            )

    def known_by_customer_id(self, customer_ids: Iterable[str]) -> dict[str, KnownPerson]:
        ids = list(dict.fromkeys(i for i in customer_ids if i))
        out: dict[str, KnownPerson] = {}
        with self._lock:
            for chunk in _chunks(ids):
                for cid, hid, phash, created, deleted in self._conn.execute(
                    _in_query(
                        "SELECT customer_id, hull_id, payload_hash, created_at, deleted_at"
                        " FROM people WHERE customer_id",
                        len(chunk),
                    ),
                    tuple(chunk),
                ):
                    out[cid] = known_person(cid, hid, phash, created, deleted)
        return out

    def last_attributes(self, customer_id: str) -> dict[str, Any] | None:
        """The attributes Customer.io last accepted for this person (None if never identified)."""
        with self._lock:
            row = self._conn.execute("SELECT attributes FROM people WHERE customer_id=?", (customer_id,)).fetchone()
        return _unpack(row[0]) if row else None

    def people_count(self, *, active_only: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM people"
        if active_only:
            sql += " WHERE deleted_at IS NULL"
        with self._lock:
            return int(self._conn.execute(sql).fetchone()[0])

    # --- synced-segment members without a customerId (whose events may go out anonymously)
    def anonymous_users(self, hull_ids: Iterable[str]) -> dict[str, str | None]:
        """Hull id -> first Hull anonymous id (None if they have none) for those of ``hull_ids``
        recorded as members of the synced segments without a customerId."""
        ids = list(dict.fromkeys(i for i in hull_ids if i))
        out: dict[str, str | None] = {}
        with self._reader_lock:
            reader = self._read_connection()
            for chunk in _chunks(ids):
                out.update(
                    reader.execute(
                        _in_query("SELECT hull_id, anonymous_id FROM anonymous_users WHERE hull_id", len(chunk)),
                        tuple(chunk),
                    ).fetchall()
                )
        return out

    def update_anonymous_users(self, record: Sequence[tuple[str, str | None]] = (), forget: Sequence[str] = ()) -> None:
        """Record (Hull id, anonymous id) pairs and forget Hull ids (they got a customerId or left
        the segments), in one transaction."""
        if not (record or forget):
            return
        with self._tx():
            if forget:
                self._conn.executemany("DELETE FROM anonymous_users WHERE hull_id=?", ((h,) for h in forget))
            if record:
                self._conn.executemany(
                    "INSERT INTO anonymous_users (hull_id, anonymous_id) VALUES (?, ?)"
                    " ON CONFLICT(hull_id) DO UPDATE SET anonymous_id=excluded.anonymous_id",
                    record,
                )

    def forget_anonymous_not_seen(self) -> int:
        """After a complete full pass: forget anonymous users not among the segment members seen
        since begin_seen() (they left the segments). Returns how many were forgotten."""
        with self._tx():
            if not self._seen_ready:
                raise RuntimeError("begin_seen() first")
            cur = self._conn.execute("DELETE FROM anonymous_users WHERE hull_id NOT IN (SELECT hull_id FROM temp.seen)")
            return int(cur.rowcount or 0)

    def anonymous_users_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM anonymous_users").fetchone()[0])

    # ------------------------------------------------------------------ events
    def sent_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Those of ``event_ids`` already accepted by Customer.io."""
        ids = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        with self._lock:
            for chunk in _chunks(ids):
                found.update(
                    r[0]
                    for r in self._conn.execute(
                        _in_query("SELECT event_id FROM events_sent WHERE event_id", len(chunk)), tuple(chunk)
                    )
                )
        return found

    def events_sent_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM events_sent").fetchone()[0])

    # ------------------------------------------------------------------ one accepted batch
    def record_sent(
        self,
        run_id: int | None,
        *,
        people: Sequence[PersonWrite] = (),
        events: Sequence[EventWrite] = (),
        errors: Sequence[ErrorWrite] = (),
    ) -> None:
        """Record the outcome of one batch in one transaction: it is all there or not at all."""
        if not (people or events or errors):
            return
        now = self._clock()
        identifies = []
        deletes = []
        merged = []
        for p in people:
            if p.merged_from and p.merged_from != p.customer_id:
                merged.append((p.merged_from,))
            if p.deleted:
                deletes.append((p.customer_id, p.hull_id, p.created_at, now))
            else:
                identifies.append(
                    (
                        p.customer_id,
                        p.hull_id,
                        p.payload_hash,
                        p.attributes_json.decode("utf-8") if p.attributes_json is not None else _pack(p.attributes),
                        p.created_at or now,
                        now,
                        p.source_fp,
                    )
                )
        with self._tx():
            c = self._conn
            if merged:
                # Customer.io folded the old person into the new one: the old customer id is gone.
                c.executemany("DELETE FROM people WHERE customer_id=?", merged)
            if identifies:
                c.executemany(
                    "INSERT INTO people"
                    " (customer_id, hull_id, payload_hash, attributes, created_at, synced_at, source_fp)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(customer_id) DO UPDATE SET hull_id=excluded.hull_id,"
                    " payload_hash=excluded.payload_hash, attributes=excluded.attributes,"
                    " synced_at=excluded.synced_at, source_fp=excluded.source_fp,"
                    # Someone deleted earlier and sent again was created again, now.
                    " created_at=CASE WHEN people.deleted_at IS NOT NULL OR people.created_at IS NULL"
                    " THEN excluded.created_at ELSE people.created_at END,"
                    " deleted_at=NULL",
                    identifies,
                )
            if deletes:
                c.executemany(
                    "INSERT INTO people (customer_id, hull_id, created_at, deleted_at, synced_at)"
                    " VALUES (?, ?, ?, ?, ?4)"
                    " ON CONFLICT(customer_id) DO UPDATE SET deleted_at=excluded.deleted_at,"
                    " synced_at=excluded.synced_at, payload_hash=NULL, attributes=NULL, source_fp=NULL",
                    deletes,
                )
            if events:
                c.executemany(
                    "INSERT OR IGNORE INTO events_sent (event_id, ulid, sent_at) VALUES (?, ?, ?)",
                    [(e.event_id, e.ulid, now) for e in events],
                )
            if errors and run_id is not None:
                c.executemany(
                    "INSERT INTO run_errors (run_id, customer_id, hull_id, kind, message, field, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, e.customer_id, e.hull_id, e.kind, e.message, e.field, now) for e in errors],
                )

    def record_errors(self, run_id: int, errors: Sequence[ErrorWrite]) -> None:
        self.record_sent(run_id, errors=errors)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, key: Checkpoint | str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM checkpoints WHERE key=?", (str(key),)).fetchone()
        return None if row is None else str(row[0])

    def checkpoint_float(self, key: Checkpoint | str) -> float | None:
        value = self.checkpoint(key)
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def set_checkpoint(self, key: Checkpoint | str, value: str | float) -> None:
        with self._tx():
            self._conn.execute(
                "INSERT INTO checkpoints (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(key), repr(value) if isinstance(value, float) else str(value)),
            )


__all__ = [
    "KEEP_RUN_ERRORS_FOR_RUNS",
    "SCHEMA_VERSION",
    "Checkpoint",
    "ErrorWrite",
    "EventWrite",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "PersonWrite",
    "RunError",
    "RunRecord",
    "RunStatus",
    "WithheldDeletion",
    "ledger_path",
]
