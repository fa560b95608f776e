"""Questions the activity view asks the inbox: search, counts over a period, a person's activity, size.

Every query is bounded (LIMIT, or GROUP BY over indexed columns), so the view stays quick on an inbox
of millions of events. Dates are the event's own time (``created_ts``: when Customer.io says it
happened), in UTC. A person is found by customer id or email address (exact; emails in any case).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.webhooks.inbox import inbox_path
from cio_desktop.webhooks.inbox_rows import ROW_COLUMNS, EventStatus, InboxRow, row_from_db

DAY = 86400.0
T = TypeVar("T")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ActivityFilter:
    """What to look for; empty fields match everything."""

    person: str = ""  # customer id or email address, exactly
    campaign: str = ""  # part of the campaign's name or id
    metric: str = ""  # an event name exactly, e.g. "Email Opened"
    since: float | None = None  # event time >= since (Unix seconds)
    until: float | None = None  # event time < until
    statuses: tuple[EventStatus, ...] | None = None
    text: str = ""  # part of the event name, id, identity or reason

    def where(self) -> tuple[str, list[Any]]:
        """The SQL ``WHERE`` clause (or "") and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        person = self.person.strip()
        if person:
            clauses.append("(person_id = ? OR email = ?)")
            params.extend([person, person.lower()])
        if self.campaign.strip():
            clauses.append("campaign LIKE ? ESCAPE '\\'")
            params.append(_like(self.campaign.strip()))
        if self.metric:
            clauses.append("name = ?")
            params.append(self.metric)
        if self.since is not None:
            clauses.append("created_ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("created_ts < ?")
            params.append(self.until)
        if self.statuses is not None:
            wanted = [s.value for s in self.statuses]
            clauses.append(f"status IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        if self.text:
            pattern = _like(self.text)
            clauses.append(
                "(name LIKE ? ESCAPE '\\' OR event_id LIKE ? ESCAPE '\\' OR as_user LIKE ? ESCAPE '\\'"
                " OR reason LIKE ? ESCAPE '\\')"
            )
            params.extend([pattern] * 4)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class ActivityCounts:
    """How many events per event name and per campaign in a period, most first."""

    total: int
    per_metric: tuple[tuple[str, int], ...]
    per_campaign: tuple[tuple[str, int], ...]  # the top ones; events without a campaign are left out


@dataclass(frozen=True)
class StoredSize:
    """How much the inbox holds (for "how much is stored")."""

    events: int
    bytes: int  # the database file and its write-ahead log
    oldest: float | None  # received_at of the oldest event
    per_status: dict[str, int] = field(default_factory=dict)


class Readable(Protocol):
    """What the queries need: an :class:`Inbox` or a :class:`ReadOnlyInbox`."""

    path: Path

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T: ...


class ReadOnlyInbox:
    """A profile's inbox opened only to read (Preview asks it while a receiver may be writing).

    Raises ``sqlite3.Error`` from :meth:`read` when the file is missing or older than this version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        self._lock = threading.Lock()

    @classmethod
    def for_profile(cls, profile_name: str) -> ReadOnlyInbox | None:
        """None when the profile never received an event (no inbox file yet)."""
        path = inbox_path(profile_name)
        return cls(path) if path.exists() else None

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return query(self._conn)

    def close(self) -> None:
        self._conn.close()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(inbox: Readable, flt: ActivityFilter, *, limit: int = 500, offset: int = 0) -> list[InboxRow]:
    """Events matching ``flt``, newest first (by event time)."""
    where, params = flt.where()
    sql = f"SELECT {ROW_COLUMNS} FROM events {where} ORDER BY created_ts DESC, seq DESC LIMIT ? OFFSET ?"  # noqa: S608

    def query(conn: sqlite3.Connection) -> list[InboxRow]:
        return [row_from_db(r) for r in conn.execute(sql, (*params, limit, offset)).fetchall()]

    return inbox.read(query)


def count_matching(inbox: Readable, flt: ActivityFilter) -> int:
    where, params = flt.where()
    sql = f"SELECT COUNT(*) FROM events {where}"  # noqa: S608
    return int(inbox.read(lambda conn: conn.execute(sql, params).fetchone()[0]))


def activity_counts(inbox: Readable, flt: ActivityFilter, *, top: int = 8) -> ActivityCounts:
    """Counts per event name and per campaign (top ``top``) of the events matching ``flt``."""
    where, params = flt.where()
    and_ = " AND" if where else "WHERE"
    # Only a period (the chart's usual question): the (name | campaign, created_ts) indexes hold every
    # column asked, so the rows themselves are not read (a million events: under a second, not ten).
    only_period = not (flt.person.strip() or flt.campaign.strip() or flt.metric or flt.statuses or flt.text)
    by_name = "events INDEXED BY events_name" if only_period else "events"
    by_campaign = "events INDEXED BY events_campaign" if only_period else "events"

    def query(conn: sqlite3.Connection) -> ActivityCounts:
        # Clauses are built from fixed text; values are bound parameters.
        by_name_sql = f"SELECT name, COUNT(*) FROM {by_name} {where} GROUP BY name"  # noqa: S608
        by_campaign_sql = (
            f"SELECT campaign, COUNT(*) FROM {by_campaign} {where}{and_} campaign IS NOT NULL"  # noqa: S608
            " GROUP BY campaign"
        )
        names = dict(conn.execute(by_name_sql, params).fetchall())
        campaigns = dict(conn.execute(by_campaign_sql, params).fetchall())
        # Unknown events (test events, types we do not recognise) are not email activity: taken back out
        # (they are few, and found through the status index).
        for column, counts in (("name", names), ("campaign", campaigns)):
            unknown_sql = f"SELECT {column}, COUNT(*) FROM events {where}{and_} status = 'unknown' GROUP BY {column}"  # noqa: S608
            unknown = conn.execute(unknown_sql, params).fetchall()
            for value, n in unknown:
                if value in counts:
                    counts[value] -= n
        per_metric = sorted(((str(k), int(n)) for k, n in names.items() if n > 0), key=lambda x: (-x[1], x[0]))
        per_campaign = sorted(((str(k), int(n)) for k, n in campaigns.items() if n > 0), key=lambda x: (-x[1], x[0]))
        return ActivityCounts(
            total=sum(n for _, n in per_metric),
            per_metric=tuple(per_metric),
            per_campaign=tuple(per_campaign[:top]),
        )

    return inbox.read(query)


def event_names(inbox: Readable, *, limit: int = 200) -> list[str]:
    """The event names stored (for the metric filter), alphabetically; at most ``limit`` (unrecognised
    events carry names made from their body, so there could be many)."""
    sql = "SELECT DISTINCT name FROM events ORDER BY name LIMIT ?"
    return inbox.read(lambda conn: [str(r[0]) for r in conn.execute(sql, (limit,)).fetchall()])


def stored_size(inbox: Readable) -> StoredSize:
    def query(conn: sqlite3.Connection) -> tuple[int, float | None, dict[str, int]]:
        n, oldest = conn.execute("SELECT COUNT(*), MIN(received_at) FROM events").fetchone()
        per = {str(s): int(c) for s, c in conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status")}
        return int(n), None if oldest is None else float(oldest), per

    events, oldest, per = inbox.read(query)
    size = 0
    for suffix in ("", "-wal"):
        try:
            size += os.stat(f"{inbox.path}{suffix}").st_size
        except OSError:
            pass
    return StoredSize(events=events, bytes=size, oldest=oldest, per_status=per)


# Short words for a person's summary ("opened 3, clicked 1"); other names are shown lower-cased.
_SHORT_NAMES = {
    "Email Sent": "sent",
    "Email Delivered": "delivered",
    "Email Opened": "opened",
    "Email Link Clicked": "clicked",
    "Email Bounced": "bounced",
    "Email Converted": "converted",
    "Email Marked as Spam": "marked as spam",
    "Unsubscribed": "unsubscribed",
}
# The order a marketer reads them in.
_SUMMARY_ORDER = ("opened", "clicked", "delivered", "sent", "converted", "bounced", "unsubscribed", "marked as spam")


def person_activity(
    inbox: Readable, customer_ids: Sequence[str], email: str | None, *, days: int = 30, now: float
) -> dict[str, int]:
    """A person's event counts by short name over the last ``days`` days (by customer id or email)."""
    people = [c for c in customer_ids if c]
    if not people and not email:
        return {}
    who: list[str] = []
    params: list[Any] = []
    if people:
        who.append(f"person_id IN ({','.join('?' * len(people))})")
        params.extend(people)
    if email:
        who.append("email = ?")
        params.append(email.lower())
    sql = (
        f"SELECT name, COUNT(*) FROM events WHERE ({' OR '.join(who)}) AND created_ts >= ?"  # noqa: S608
        " AND status != 'unknown' GROUP BY name"
    )
    rows = inbox.read(lambda conn: conn.execute(sql, (*params, now - days * DAY)).fetchall())
    counts: dict[str, int] = {}
    for name, n in rows:
        short = _SHORT_NAMES.get(str(name), str(name).removeprefix("Email ").lower())
        counts[short] = counts.get(short, 0) + int(n)
    return counts


def summary_text(counts: dict[str, int], days: int) -> str:
    """``{"opened": 3, "clicked": 1}`` -> "opened 3, clicked 1 in the last 30 days"."""
    if not counts:
        return f"No email activity in the last {days} days."
    order = {name: i for i, name in enumerate(_SUMMARY_ORDER)}
    names = sorted(counts, key=lambda n: (order.get(n, len(order)), n))
    return ", ".join(f"{n} {counts[n]:,}" for n in names) + f" in the last {days} days"


def parse_date(text: str, *, end: bool = False) -> float:
    """A ``--since``/``--until`` date in Unix seconds: ``YYYY-MM-DD`` (UTC; as ``end``, the end of that day,
    so ``--until 2026-03-31`` includes March 31) or an ISO 8601 date-time (UTC unless it says otherwise)."""
    value = text.strip()
    # A bare number would be read as Unix seconds: refuse it rather than export from 1970.
    seconds = None if value.replace(".", "").isdigit() else parse_hull_date(value)
    if seconds is None:
        raise ValueError(
            f"{text!r} is not a date: use YYYY-MM-DD (e.g. 2026-03-31) or a date and time like 2026-03-31T18:00"
        )
    return seconds + DAY if end and _DATE_ONLY.match(value) else seconds


__all__ = [
    "DAY",
    "ActivityCounts",
    "ActivityFilter",
    "ReadOnlyInbox",
    "Readable",
    "StoredSize",
    "activity_counts",
    "count_matching",
    "event_names",
    "parse_date",
    "person_activity",
    "search",
    "stored_size",
    "summary_text",
]
