"""The deletion step's scratch space in the ledger: per-run temp tables that nothing keeps.

- ``seen`` / ``seen_customers``: the Hull ids and customer ids of a full run's members, so
  :meth:`DeletionScratchMixin.known_not_seen` finds the people who left the segments.
- ``deferred_deletions``: deletions found while reading users, held until the deletion guard has
  counted them all (see :mod:`cio_desktop.sync.deletions`).

Temp tables live on the ledger's one connection, so a crash forgets them and a second run starts
clean. :class:`DeletionScratchMixin` is part of :class:`~cio_desktop.sync.ledger.Ledger`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence

from cio_desktop.sync.model import KnownPerson


class DeletionScratchMixin:
    """Who was seen in this run, and the deletions it found (see the module docstring)."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _seen_ready: bool

    # --- members seen during a full run (to find who left the segments)
    def begin_seen(self) -> None:
        """Start tracking the Hull ids seen among segment members (a temp table: nothing persists)."""
        with self._lock:
            self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen (hull_id TEXT PRIMARY KEY) WITHOUT ROWID")
            self._conn.execute("DELETE FROM temp.seen")
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen_customers (customer_id TEXT PRIMARY KEY) WITHOUT ROWID"
            )
            self._conn.execute("DELETE FROM temp.seen_customers")
            self._seen_ready = True

    @contextlib.contextmanager
    def _scratch_tx(self) -> Iterator[None]:
        """One deferred transaction for a page of temp-table rows: row by row, each INSERT would be
        its own commit (most of a plan's time). Deferred: the main database is not locked."""
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def mark_seen(self, hull_ids: Iterable[str]) -> None:
        self._insert_seen("INSERT OR IGNORE INTO temp.seen VALUES (?)", hull_ids)

    def mark_seen_customers(self, customer_ids: Iterable[str]) -> None:
        """Customer ids that members of this run map to: never counted as gone, even while the ledger
        still files them under another Hull id (Hull merged two users) or Customer.io refused the update."""
        self._insert_seen("INSERT OR IGNORE INTO temp.seen_customers VALUES (?)", customer_ids)

    def _insert_seen(self, sql: str, ids: Iterable[str]) -> None:
        with self._lock:
            if not self._seen_ready:
                raise RuntimeError("begin_seen() first")
            with self._scratch_tx():
                self._conn.executemany(sql, ((i,) for i in ids if i))

    def known_not_seen(self, page_size: int = 1000) -> Iterator[KnownPerson]:
        """People this tool created and has not deleted whose Hull id was not seen since begin_seen().

        Paged by customer id so sender threads can keep writing while this is consumed.
        """
        last = ""
        while True:
            with self._lock:
                if not self._seen_ready:
                    raise RuntimeError("begin_seen() first")
                rows = self._conn.execute(
                    "SELECT customer_id, hull_id, payload_hash, created_at, deleted_at FROM people"
                    " WHERE customer_id > ? AND created_at IS NOT NULL AND deleted_at IS NULL"
                    " AND (hull_id IS NULL OR hull_id NOT IN (SELECT hull_id FROM temp.seen))"
                    " AND customer_id NOT IN (SELECT customer_id FROM temp.seen_customers)"
                    " ORDER BY customer_id LIMIT ?",
                    (last, page_size),
                ).fetchall()
            if not rows:
                return
            for cid, hid, phash, created, deleted in rows:
                yield known_person(cid, hid, phash, created, deleted)
            last = rows[-1][0]

    def end_seen(self) -> None:
        with self._lock:
            if self._seen_ready:
                self._conn.execute("DROP TABLE IF EXISTS temp.seen")
                self._conn.execute("DROP TABLE IF EXISTS temp.seen_customers")
                self._seen_ready = False
            self._conn.execute("DROP TABLE IF EXISTS temp.deferred_deletions")

    def created_people_count(self) -> int:
        """People created in Customer.io (by this tool, or by Hull's connector per the trait it wrote
        back) and not deleted since: the deletion guard's measure of "how many we have"."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM people WHERE created_at IS NOT NULL AND deleted_at IS NULL"
            ).fetchone()
        return int(row[0])

    # --- deletions found while reading users, held until the deletion guard has seen them all
    def defer_deletions(self, rows: Sequence[tuple[str, str, str, bool]]) -> None:
        """Hold (customer id, Hull id, the decision as JSON, whether the ledger knows them) until the
        run's deletion step (a temp table: nothing persists, a crash forgets them)."""
        if not rows:
            return
        with self._lock:
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS deferred_deletions (customer_id TEXT PRIMARY KEY, hull_id TEXT,"
                " decision TEXT, known INTEGER) WITHOUT ROWID"
            )
            self._conn.executemany(
                "INSERT OR REPLACE INTO temp.deferred_deletions VALUES (?, ?, ?, ?)",
                [(cid, hid, decision, int(known)) for cid, hid, decision, known in rows],
            )

    def deferred_deletions(self, page_size: int = 1000) -> Iterator[tuple[str, str, str, bool]]:
        """The deferred deletions, by customer id (paged, so sender threads can write meanwhile)."""
        last = ""
        while True:
            with self._lock:
                exists = self._conn.execute(
                    "SELECT 1 FROM temp.sqlite_master WHERE name='deferred_deletions'"
                ).fetchone()
                if not exists:
                    return
                rows = self._conn.execute(
                    "SELECT customer_id, hull_id, decision, known FROM temp.deferred_deletions"
                    " WHERE customer_id > ? ORDER BY customer_id LIMIT ?",
                    (last, page_size),
                ).fetchall()
            if not rows:
                return
            for cid, hid, decision, known in rows:
                yield str(cid), str(hid or ""), str(decision or "{}"), bool(known)
            last = rows[-1][0]


def known_person(
    cid: str, hid: str | None, phash: str | None, created: float | None, deleted: float | None
) -> KnownPerson:
    return KnownPerson(cid, hid or "", phash, created, deleted)  # positional: built for every person looked up
