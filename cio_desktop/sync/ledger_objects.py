"""The ledger's objects and relationships (Hull accounts sent as Customer.io objects).

- ``cio_objects``: each object Customer.io accepted, by (type id, object id): the hash of what was
  sent, when this tool created it and, once deleted, when. Only objects with ``created_at`` here are
  ever deleted, and only under the deletion guard.
- ``cio_relationships``: each person's relationship to their account's object, as Customer.io
  accepted it (one per person: a Hull user belongs to one account).
- Per run, temp tables (forgotten by a crash, like the deletion scratch): ``objects_seen`` (each
  account met in the users pass, its id, the account as JSON, the last one seen wins, and whether
  anyone in Customer.io belongs to it: an account of skipped members only is kept, not sent) and
  ``relationships_seen`` (each synced person's customer id and their account's object id, or NULL
  when they have none).

The tables are created when missing on every open (``CREATE TABLE IF NOT EXISTS``): an older version
of the app opening the ledger ignores them, so they need no schema version of their own.
:class:`ObjectsLedgerMixin` is part of :class:`~cio_desktop.sync.ledger.Ledger`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

OBJECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS cio_objects (
    object_type_id TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    payload_hash   TEXT,
    created_at     REAL,
    deleted_at     REAL,
    synced_at      REAL,
    PRIMARY KEY (object_type_id, object_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cio_relationships (
    customer_id    TEXT PRIMARY KEY NOT NULL,
    object_type_id TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    synced_at      REAL
) WITHOUT ROWID;
"""

_PAGE = 1000


class ObjectsLedgerMixin:
    """Objects and relationships in the ledger (see the module docstring)."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _clock: Callable[[], float]
    # The Ledger's transactions: BEGIN IMMEDIATE for the tables, deferred for per-run temp tables.
    _tx: Callable[[], AbstractContextManager[None]]
    _scratch_tx: Callable[[], AbstractContextManager[None]]

    def _init_object_tables(self) -> None:
        with self._lock:
            for stmt in OBJECTS_SCHEMA.split(";"):
                if stmt.strip():
                    self._conn.execute(stmt)
            self._conn.commit()

    # ------------------------------------------------------------------ this run's observations
    def begin_objects(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS objects_seen"
                " (object_id TEXT PRIMARY KEY, account TEXT NOT NULL, related INTEGER NOT NULL) WITHOUT ROWID"
            )
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS relationships_seen (customer_id TEXT PRIMARY KEY, object_id TEXT)"
                " WITHOUT ROWID"
            )
            self._conn.execute("DELETE FROM temp.objects_seen")
            self._conn.execute("DELETE FROM temp.relationships_seen")

    def observe_objects(
        self, accounts: Sequence[tuple[str, str, int]], people: Sequence[tuple[str, str | None]]
    ) -> None:
        """``accounts``: (object id, account JSON, 1 when someone in Customer.io belongs to it, else 0: a
        member read but not sent, which keeps the object from deletion only); ``people``: (customer id,
        object id or None)."""
        with self._lock:
            with self._scratch_tx():  # one transaction per page; only temp tables: the ledger is not locked
                if accounts:
                    # A related sighting wins over an unrelated one, whichever page came first.
                    self._conn.executemany(
                        "INSERT INTO temp.objects_seen VALUES (?, ?, ?) ON CONFLICT (object_id) DO UPDATE SET"
                        " account = CASE WHEN excluded.related >= related THEN excluded.account ELSE account END,"
                        " related = MAX(related, excluded.related)",
                        accounts,
                    )
                if people:
                    self._conn.executemany("INSERT OR REPLACE INTO temp.relationships_seen VALUES (?, ?)", people)

    def seen_objects(self, type_id: str) -> Iterator[tuple[str, str, str | None, float | None]]:
        """(object id, account JSON, stored hash, deleted_at) of every account seen this run, by id."""
        last = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT s.object_id, s.account, o.payload_hash, o.deleted_at FROM temp.objects_seen s"
                    " LEFT JOIN cio_objects o ON o.object_type_id = ? AND o.object_id = s.object_id"
                    " WHERE s.object_id > ? AND s.related = 1 ORDER BY s.object_id LIMIT ?",
                    (type_id, last, _PAGE),
                ).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def relationship_changes(
        self, type_id: str, *, include_unknown: bool = False
    ) -> Iterator[tuple[str, str | None, str | None, str | None]]:
        """(customer id, stored type id, stored object id, wanted object id) of every person seen this run
        whose relationship differs from what Customer.io has, among people the ledger holds as present
        (``include_unknown``: also people it does not hold yet, as a dry run plans them)."""
        last = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT s.customer_id, r.object_type_id, r.object_id, s.object_id"
                    " FROM temp.relationships_seen s"
                    " LEFT JOIN people p ON p.customer_id = s.customer_id AND p.deleted_at IS NULL"
                    " LEFT JOIN cio_relationships r ON r.customer_id = s.customer_id"
                    " WHERE s.customer_id > ? AND (? OR p.customer_id IS NOT NULL)"
                    " AND (r.customer_id IS NULL AND s.object_id IS NOT NULL"
                    "      OR r.customer_id IS NOT NULL AND (s.object_id IS NULL OR r.object_id != s.object_id"
                    "                                        OR r.object_type_id != ?))"
                    " ORDER BY s.customer_id LIMIT ?",
                    (last, int(include_unknown), type_id, _PAGE),
                ).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def objects_step_size(self) -> int:
        """About how many accounts and relationships the objects step will go through, from what the users
        pass noted: accounts someone sent belongs to, and people with an account now or before (the
        time left of a step the source cannot count; people Customer.io refused make it a little high)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT (SELECT COUNT(*) FROM temp.objects_seen WHERE related = 1)"
                " + (SELECT COUNT(*) FROM temp.relationships_seen s WHERE s.object_id IS NOT NULL"
                "    OR EXISTS (SELECT 1 FROM cio_relationships r WHERE r.customer_id = s.customer_id))"
            ).fetchone()
        return int(row[0])

    def relationships_unchanged(self) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM temp.relationships_seen s JOIN cio_relationships r"
                " ON r.customer_id = s.customer_id AND r.object_id = s.object_id"
            ).fetchone()
        return int(row[0])

    def objects_not_seen(self, type_id: str) -> Iterator[str]:
        """Object ids this tool created (and has not deleted) that no member of this run belongs to."""
        last = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT object_id FROM cio_objects WHERE object_type_id = ? AND object_id > ?"
                    " AND created_at IS NOT NULL AND deleted_at IS NULL"
                    " AND object_id NOT IN (SELECT object_id FROM temp.objects_seen)"
                    " ORDER BY object_id LIMIT ?",
                    (type_id, last, _PAGE),
                ).fetchall()
            if not rows:
                return
            for (oid,) in rows:
                yield oid
            last = rows[-1][0]

    def end_objects(self) -> None:
        with self._lock:
            self._conn.execute("DROP TABLE IF EXISTS temp.objects_seen")
            self._conn.execute("DROP TABLE IF EXISTS temp.relationships_seen")

    # ------------------------------------------------------------------ what Customer.io accepted
    def object_present(self, type_id: str, object_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM cio_objects WHERE object_type_id = ? AND object_id = ? AND deleted_at IS NULL",
                (type_id, object_id),
            ).fetchone()
        return row is not None

    def record_objects(self, type_id: str, identified: Iterable[tuple[str, str]], deleted: Iterable[str] = ()) -> None:
        """Objects Customer.io accepted: (object id, hash) identified, object ids deleted (their
        relationships go with them, as in Customer.io)."""
        now = self._clock()
        with self._tx():  # BEGIN IMMEDIATE, as the people's writes
            self._conn.executemany(
                "INSERT INTO cio_objects (object_type_id, object_id, payload_hash, created_at, synced_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (object_type_id, object_id) DO UPDATE SET"
                " payload_hash = excluded.payload_hash, synced_at = excluded.synced_at,"
                " created_at = CASE WHEN cio_objects.deleted_at IS NULL THEN cio_objects.created_at"
                " ELSE excluded.created_at END, deleted_at = NULL",
                ((type_id, oid, h, now, now) for oid, h in identified),
            )
            gone = list(deleted)
            self._conn.executemany(
                "UPDATE cio_objects SET deleted_at = ?, payload_hash = NULL WHERE object_type_id = ? AND object_id = ?",
                ((now, type_id, oid) for oid in gone),
            )
            self._conn.executemany(
                "DELETE FROM cio_relationships WHERE object_type_id = ? AND object_id = ?",
                ((type_id, oid) for oid in gone),
            )

    def record_relationships(self, type_id: str, changes: Iterable[tuple[str, str | None]]) -> None:
        """Relationships Customer.io accepted: (customer id, object id now, or None for none)."""
        now = self._clock()
        with self._tx():  # BEGIN IMMEDIATE, as the people's writes
            for cid, oid in changes:
                if oid is None:
                    self._conn.execute("DELETE FROM cio_relationships WHERE customer_id = ?", (cid,))
                else:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO cio_relationships VALUES (?, ?, ?, ?)", (cid, type_id, oid, now)
                    )

    def forget_relationships_of_deleted(self) -> int:
        """Deleting a person in Customer.io removes their relationships: drop them here too."""
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM cio_relationships WHERE customer_id IN"
                " (SELECT customer_id FROM people WHERE deleted_at IS NOT NULL)"
            )
            self._conn.commit()
        return cur.rowcount

    def created_objects_count(self, type_id: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM cio_objects WHERE object_type_id = ? AND created_at IS NOT NULL"
                " AND deleted_at IS NULL",
                (type_id,),
            ).fetchone()
        return int(row[0])

    def objects_count(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM cio_objects WHERE deleted_at IS NULL").fetchone()
        return int(row[0])

    def relationships_count(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM cio_relationships").fetchone()
        return int(row[0])


__all__ = ["OBJECTS_SCHEMA", "ObjectsLedgerMixin"]
