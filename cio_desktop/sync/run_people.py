"""Every person a run decided about, in the ledger: "why isn't Jane in Customer.io?" gets an answer.

A run (dry runs and plans included) writes one row per person it read or deleted: the Hull id, the
customer id, what it decided (a :class:`Category` and the decision's label), why, who the person is
(name and email, to search by) and whether Customer.io accepted what was sent. Only the lists of the
last ``KEEP_RUN_PEOPLE_FOR_RUNS`` runs are kept: a list holds the whole audience, so older ones go.

Rows are written in batches by :class:`PeopleLog` (one per run, on the run's threads) and read page
by page (:meth:`RunPeopleMixin.iter_run_people`): memory stays bounded whatever the audience.
:class:`RunPeopleMixin` is part of :class:`~cio_desktop.sync.ledger.Ledger` (same connection, lock).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cio_desktop.sync.model import Action, Decision, Reason

# Lists of older runs are pruned when a run starts writing its own (a plan counts as a run).
KEEP_RUN_PEOPLE_FOR_RUNS = 6
# Rows written in one transaction. The list's B-tree is written where the run's rows land, which is
# all over its newest region (people come in file order, not key order): each write rewrites most of
# that region's pages, so few large writes cost far less than many small ones (100,000 rows: 1.4 s in
# writes of 5,000, 0.55 s in writes of 25,000, measured on the bench's ledger). 25,000 rows wait in
# memory at most (about 6 MB).
_FLUSH_EVERY = 25_000
_PAGE = 1000

RUN_PEOPLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_people (
    run_id      INTEGER NOT NULL,
    hull_id     TEXT NOT NULL,
    customer_id TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL,
    decision    TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    who         TEXT NOT NULL DEFAULT '',
    sent        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, hull_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_people_category ON run_people(run_id, category);
"""


class Category(StrEnum):
    """What a run does with a person, as the plan and History count them."""

    CREATE = "create"  # new to Customer.io (as far as this tool knows)
    UPDATE = "update"  # changed since Customer.io last accepted them
    UNCHANGED = "unchanged"  # nothing changed: nothing sent
    SKIP = "skip"  # not sent, for a reason (no customerId, no email, invalid...)
    DELETE = "delete"  # left the segments: deleted from Customer.io
    WITHHELD = "withheld"  # would be deleted, but the deletion guard held it back


CATEGORY_TEXT = {
    Category.CREATE: "created",
    Category.UPDATE: "updated",
    Category.UNCHANGED: "unchanged",
    Category.SKIP: "skipped",
    Category.DELETE: "deleted",
    Category.WITHHELD: "deletion withheld",
}


_NOT_SENT = {Category.UNCHANGED: "unchanged", Category.SKIP: "not sent", Category.WITHHELD: "not deleted"}


def category_of(decision: Decision) -> Category:
    if decision.action is Action.DELETE:
        return Category.DELETE
    if decision.action is Action.SKIP:
        return Category.UNCHANGED if decision.reason is Reason.UNCHANGED else Category.SKIP
    return Category.CREATE if decision.reason is Reason.NEW else Category.UPDATE


@dataclass(frozen=True)
class RunPerson:
    """One person of a run's list. ``sent``: Customer.io accepted what the run sent for them."""

    run_id: int
    hull_id: str
    customer_id: str
    category: Category
    decision: str
    reason: str
    who: str
    sent: bool

    def outcome(self, *, dry: bool) -> str:
        """The decision in words, with what happened to it ("not sent: this person has no email")."""
        if self.category in _NOT_SENT:
            return f"{_NOT_SENT[self.category]}: {self.reason or CATEGORY_TEXT[self.category]}"
        # A merge is listed with the updates, but its old profile goes away: say so.
        what = "merged" if self.decision.startswith("merge") else CATEGORY_TEXT[self.category]
        if dry:
            return f"would be {what}"
        return what if self.sent else f"not {what} (not sent: the run stopped first, or Customer.io refused)"


def _key(row: tuple[str, str, str, str, str, str]) -> tuple[str, str]:
    return row[0], row[1]


def _like(search: str) -> str:
    return "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class RunPeopleMixin:
    """The per-person lists of runs (see the module docstring)."""

    _conn: sqlite3.Connection
    _lock: threading.RLock

    def _tx(self) -> AbstractContextManager[None]:  # provided by Ledger
        raise NotImplementedError

    def record_run_people(
        self, run_id: int, rows: Sequence[tuple[str, str, str, str, str, str]], *, sent: bool = False
    ) -> None:
        """Add (hull id, customer id, category, decision, reason, who) rows to the run's list (``sent``:
        of people Customer.io accepted, so their row and its mark are written at once)."""
        if not rows:
            return
        # In key order, the rows of one write land on neighbouring pages of the list's B-tree: in file
        # order they would land all over it (a sort that keeps ties in order: the later row still wins).
        ordered = sorted(rows, key=_key)
        flag = 1 if sent else 0
        with self._tx():
            self._conn.executemany(
                "INSERT OR REPLACE INTO run_people"
                " (run_id, hull_id, customer_id, category, decision, reason, who, sent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *row, flag) for row in ordered],
            )

    def mark_run_people_sent(self, run_id: int, people: Iterable[tuple[str, str]]) -> None:
        """Customer.io accepted these (hull id, customer id) of the run."""
        pairs = [(run_id, h, c) for h, c in people]
        if not pairs:
            return
        with self._tx():
            self._conn.executemany("UPDATE run_people SET sent=1 WHERE run_id=? AND hull_id=? AND customer_id=?", pairs)

    def prune_run_people(self, run_id: int) -> None:
        """Forget the lists of runs older than the last ``KEEP_RUN_PEOPLE_FOR_RUNS``."""
        with self._tx():
            self._conn.execute("DELETE FROM run_people WHERE run_id <= ?", (run_id - KEEP_RUN_PEOPLE_FOR_RUNS,))

    def run_people_counts(self, run_id: int) -> dict[Category, int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT category, COUNT(*) FROM run_people WHERE run_id=? GROUP BY category", (run_id,)
            ).fetchall()
        return {Category(c): int(n) for c, n in rows}

    def run_people_reasons(self, run_id: int, category: Category) -> dict[str, int]:
        """How many people of a category got each decision label (skips by reason)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT decision, COUNT(*) FROM run_people WHERE run_id=? AND category=? GROUP BY decision",
                (run_id, category.value),
            ).fetchall()
        return {str(d): int(n) for d, n in rows}

    def is_planned_deletion(self, run_id: int, hull_id: str, customer_id: str) -> bool:
        """Whether the run (a plan) listed this person (Hull id and customer id) as one it would
        delete, the deletion guard agreeing or not."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM run_people WHERE run_id=? AND hull_id=? AND customer_id=? AND category IN (?, ?)",
                (run_id, hull_id, customer_id, Category.DELETE.value, Category.WITHHELD.value),
            ).fetchone()
        return row is not None

    def run_people_decisions(self, run_id: int, hull_ids: Sequence[str]) -> dict[str, tuple[Category, str]]:
        """Hull id -> (category, customer id) of those of ``hull_ids`` the run decided about."""
        ids = list(dict.fromkeys(h for h in hull_ids if h))
        out: dict[str, tuple[Category, str]] = {}
        with self._lock:
            for i in range(0, len(ids), 900):
                chunk = ids[i : i + 900]
                marks = ",".join("?" * len(chunk))  # placeholders only: values stay bound parameters
                rows = self._conn.execute(
                    f"SELECT hull_id, category, customer_id FROM run_people WHERE run_id=? AND hull_id IN ({marks})",  # noqa: S608
                    (run_id, *chunk),
                ).fetchall()
                out.update((h, (Category(c), str(cid))) for h, c, cid in rows)
        return out

    def iter_run_people(
        self,
        run_id: int,
        *,
        category: Category | Sequence[Category] | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> Iterator[RunPerson]:
        """The run's people ordered by Hull id, read a page at a time; ``search`` matches the Hull id,
        customer id, name or email, decision and reason (case-insensitive)."""
        sql = "SELECT hull_id, customer_id, category, decision, reason, who, sent FROM run_people WHERE run_id=?"
        params: list[Any] = [run_id]
        if category is not None:
            wanted = [category] if isinstance(category, Category) else list(category)
            sql += f" AND category IN ({','.join('?' * len(wanted))})"
            params.extend(c.value for c in wanted)
        if search:
            sql += (
                " AND ("
                + " OR ".join(
                    f"{col} LIKE ? ESCAPE '\\'" for col in ("hull_id", "customer_id", "who", "decision", "reason")
                )
                + ")"
            )
            params.extend([_like(search)] * 5)
        sql += " AND (hull_id, customer_id) > (?, ?) ORDER BY hull_id, customer_id LIMIT ?"
        after = ("", "")
        remaining = -1 if limit is None else limit
        while remaining != 0:
            page = _PAGE if remaining < 0 else min(_PAGE, remaining)
            with self._lock:
                rows = self._conn.execute(sql, [*params, *after, page]).fetchall()
            if not rows:
                return
            for hid, cid, cat, decision, reason, who, sent in rows:
                yield RunPerson(run_id, hid, cid, Category(cat), decision, reason, who, bool(sent))
            after = (rows[-1][0], rows[-1][1])
            if remaining > 0:
                remaining -= len(rows)


class PeopleLog:
    """Buffers one run's per-person rows and writes them in batches (any thread)."""

    def __init__(self, ledger: RunPeopleMixin, run_id: Callable[[], int | None]) -> None:
        self._ledger = ledger
        self._run_id = run_id
        self._lock = threading.Lock()
        # Rows not written yet, by (hull id, customer id): a later row of the same key replaces the
        # earlier one, as INSERT OR REPLACE would.
        self._rows: dict[tuple[str, str], tuple[str, str, str, str, str, str]] = {}
        # When a list: the first people to be created, with what they would be sent (a plan's sample).
        self.sample: list[tuple[str, dict[str, Any]]] | None = None
        self.sample_size = 0

    def add(
        self, hull_id: str, customer_id: str | None, category: Category, decision: str, reason: str, who: str
    ) -> None:
        row = (hull_id, customer_id or "", category.value, decision, reason, who)
        with self._lock:
            self._rows[hull_id, row[1]] = row
            if len(self._rows) >= _FLUSH_EVERY:
                self._flush_locked()

    def add_rows(self, rows: Sequence[tuple[str, str, str, str, str, str]]) -> None:
        """Add (hull id, customer id, category value, decision, reason, who) rows at once."""
        with self._lock:
            buffered = self._rows
            for row in rows:
                buffered[row[0], row[1]] = row
            if len(buffered) >= _FLUSH_EVERY:
                self._flush_locked()

    def sample_left(self) -> int:
        """How many more people to be created the plan's sample wants (0: no sample)."""
        return 0 if self.sample is None else max(0, self.sample_size - len(self.sample))

    def add_sample(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """People to be created, with their attributes, for the plan's sample (up to its size)."""
        if self.sample is not None and entries:
            self.sample.extend(entries[: self.sample_left()])

    def decided(self, decision: Decision, who: str, category: Category | None = None) -> None:
        cat = category or category_of(decision)
        sample = self.sample
        if sample is not None and cat is Category.CREATE and decision.person and decision.customer_id:
            if len(sample) < self.sample_size:
                sample.append((decision.customer_id, dict(decision.person.attributes)))
        self.add(decision.hull_id, decision.customer_id, cat, decision.label, decision.message, who)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        # Written while holding the lock: a "sent" mark never overtakes the row it marks.
        run_id = self._run_id()
        rows, self._rows = self._rows, {}
        if run_id is not None and rows:
            self._ledger.record_run_people(run_id, list(rows.values()))

    def sent(self, people: Iterable[tuple[str, str]]) -> None:
        """Customer.io accepted these (hull id, customer id): a row still buffered is written now, with
        its mark (one insert, not an insert and an update); a row written earlier gets its mark."""
        run_id = self._run_id()
        if run_id is None:
            return
        with self._lock:
            buffered = self._rows
            rows, written = [], []
            for pair in people:
                row = buffered.pop(pair, None)
                if row is None:
                    written.append(pair)
                else:
                    rows.append(row)
            self._ledger.record_run_people(run_id, rows, sent=True)
            if written:
                self._ledger.mark_run_people_sent(run_id, written)


__all__ = [
    "CATEGORY_TEXT",
    "KEEP_RUN_PEOPLE_FOR_RUNS",
    "RUN_PEOPLE_SCHEMA",
    "Category",
    "PeopleLog",
    "RunPeopleMixin",
    "RunPerson",
    "category_of",
]
