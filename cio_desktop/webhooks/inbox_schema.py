"""The inbox's tables, and the migration of an inbox written by an older cio-desktop.

Version 1 had one delivery state (Hull). Version 2 adds what the activity view searches on
(person, email, campaign and the event's own time as Unix seconds, each indexed) and a second,
independent delivery state for the profile's own HTTPS destination (``http_*`` columns), so an
event can be forwarded to Hull and to another endpoint and retried for each separately.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.webhooks.events import MappedEvent

SCHEMA_VERSION = 2

_TABLES = """
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
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Added by version 2 (to a version-1 table with ALTER TABLE, so the rows stay where they are).
_V2_COLUMNS = (
    ("person_id", "TEXT"),
    ("email", "TEXT"),  # lower case, so a search is an index lookup
    ("campaign", "TEXT"),
    ("created_ts", "REAL NOT NULL DEFAULT 0"),
    ("http_status", "TEXT"),  # NULL: not for the HTTPS destination
    ("http_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("http_next_at", "REAL NOT NULL DEFAULT 0"),
    ("http_sent_at", "REAL"),
    ("http_reason", "TEXT"),
)

_INDEXES = """
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS events_http_due ON events (http_status, http_next_at);
CREATE INDEX IF NOT EXISTS events_created ON events (created_ts);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE INDEX IF NOT EXISTS events_person ON events (person_id, created_ts);
CREATE INDEX IF NOT EXISTS events_email ON events (email, created_ts);
CREATE INDEX IF NOT EXISTS events_campaign ON events (campaign, created_ts);
CREATE INDEX IF NOT EXISTS events_name ON events (name, created_ts);
"""

# Where a campaign's label comes from, best first (Customer.io names the kind of message it was).
_CAMPAIGN_KEYS = (
    "campaign_name",
    "broadcast_name",
    "newsletter_name",
    "transactional_message_name",
    "campaign_id",
    "broadcast_id",
    "newsletter_id",
    "transactional_message_id",
)


def create_or_migrate(conn: sqlite3.Connection, found: int) -> None:
    """Bring the inbox at ``conn`` (``user_version`` ``found``; 0 = new) to :data:`SCHEMA_VERSION`,
    in one transaction: a crash half-way leaves the old version, which is migrated again."""
    if found == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        _run_all(conn, _TABLES)
        have = {str(r[1]) for r in conn.execute("PRAGMA table_info(events)")}
        for name, kind in _V2_COLUMNS:
            if name not in have:
                conn.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
        if found == 1:
            _backfill(conn)
        _run_all(conn, _INDEXES)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _run_all(conn: sqlite3.Connection, script: str) -> None:
    # One by one: executescript() would commit the open transaction first.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _backfill(conn: sqlite3.Connection) -> None:
    """Fill the search columns of version-1 rows from what they already hold."""
    sql = (
        "UPDATE events SET"
        " person_id = COALESCE(json_extract(as_user, '$.external_id'), json_extract(as_user, '$.id'),"
        "   CAST(json_extract(properties, '$.customer_id') AS TEXT)),"
        " email = lower(json_extract(as_user, '$.email')),"
        " campaign = COALESCE("  # the keys of _CAMPAIGN_KEYS, in its order
        "   CAST(json_extract(properties, '$.campaign_name') AS TEXT),"
        "   CAST(json_extract(properties, '$.broadcast_name') AS TEXT),"
        "   CAST(json_extract(properties, '$.newsletter_name') AS TEXT),"
        "   CAST(json_extract(properties, '$.transactional_message_name') AS TEXT),"
        "   CAST(json_extract(properties, '$.campaign_id') AS TEXT),"
        "   CAST(json_extract(properties, '$.broadcast_id') AS TEXT),"
        "   CAST(json_extract(properties, '$.newsletter_id') AS TEXT),"
        "   CAST(json_extract(properties, '$.transactional_message_id') AS TEXT)),"
        " created_ts = COALESCE(CAST(strftime('%s', created_at) AS REAL), received_at)"
    )
    conn.execute(sql)


def search_columns(mapped: MappedEvent, received_at: float) -> tuple[str | None, str | None, str | None, float]:
    """person_id, email, campaign and created_ts of a freshly mapped event."""
    who = mapped.as_user or {}
    person = who.get("external_id") or who.get("id") or _scalar_text(mapped.properties.get("customer_id"))
    email = who.get("email")
    campaign = next((t for k in _CAMPAIGN_KEYS if (t := _scalar_text(mapped.properties.get(k)))), None)
    return person or None, email.lower() if email else None, campaign, event_time(mapped.created_at, received_at)


def event_time(created_at: str, fallback: float) -> float:
    """``created_at`` (ISO 8601, as the mapping writes it) in Unix seconds."""
    seconds = parse_hull_date(created_at)
    return fallback if seconds is None else seconds


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


__all__ = ["SCHEMA_VERSION", "create_or_migrate", "event_time", "search_columns"]
