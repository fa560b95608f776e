"""Export the inbox's email activity: JSON lines in Hull's event shape, or CSV for a spreadsheet.

JSON lines: one event per line as Hull's export files hold them (``event`` with the name the Hull
forwarder gives it, e.g. "Email Opened", ``properties``, ``created_at``, ``event_id``,
``event_type``, ``source`` and the person's identifiers ``external_id`` / ``user_id`` / ``email``),
so the file can be imported wherever Hull's events went (cio-desktop's own events-file reader takes it).

Streaming: rows come from their own read-only connection in pages of 1,000 and are written as they
come, so memory stays flat whatever the inbox holds. The file is written privately (0600) beside its
target and renamed into place at the end: an interrupted export never leaves half a file.
Events we do not recognise (``unknown``: test events, unknown types) are not email activity and are
left out; everything else is exported whatever its delivery status.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from cio_desktop.config.private import FileInUseError, atomic_writer
from cio_desktop.net.errors import Cancelled
from cio_desktop.webhooks.activity import ActivityFilter
from cio_desktop.webhooks.events import SOURCE
from cio_desktop.webhooks.inbox_rows import ROW_COLUMNS, InboxRow, row_from_db

_PAGE = 1000
CSV_COLUMNS = (
    "created_at",
    "event",
    "customer_id",
    "email",
    "campaign",
    "subject",
    "link",
    "event_id",
    "status",
    "properties",
)
# Hull identity claim key -> the key Hull's export files use for it.
_IDENTITY_KEYS = {"id": "user_id", "external_id": "external_id", "email": "email"}


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def hull_event(row: InboxRow) -> dict[str, Any]:
    """One inbox row as an event of a Hull export file."""
    event: dict[str, Any] = {
        "event": row.name,
        "event_id": row.event_id,
        "created_at": row.created_at,
        "event_type": "track",
        "source": SOURCE,
        "properties": dict(row.properties),
    }
    for key, value in (row.as_user or {}).items():
        if key in _IDENTITY_KEYS and value:
            event[_IDENTITY_KEYS[key]] = value
    if not row.as_user and row.person_id:  # no usable Hull identity; still say who it was about
        event["external_id"] = row.person_id
    return event


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ tab or CR would start a formula
    (CSV injection), so such a cell gets a leading apostrophe, as OWASP recommends."""
    text = "" if value is None else str(value)
    return "'" + text if text and text[0] in "=+-@\t\r" else text


def csv_row(row: InboxRow) -> list[str]:
    props = row.properties
    subject = props.get("email_subject")
    link = props.get("href")
    return [
        csv_cell(v)
        for v in (
            row.created_at,
            row.name,
            row.person_id,
            row.email,
            row.campaign,
            subject,
            link,
            row.event_id,
            row.status.value,
            json.dumps(dict(props), ensure_ascii=False, sort_keys=True),
        )
    ]


def iter_rows(inbox_path: Path, flt: ActivityFilter, *, cancel: threading.Event | None = None) -> Iterator[InboxRow]:
    """Matching events, oldest first, read page by page from a read-only connection of their own."""
    where, params = flt.where()
    where = (where + " AND" if where else "WHERE") + " status != 'unknown'"
    conn = sqlite3.connect(f"{inbox_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        cur = conn.execute(f"SELECT {ROW_COLUMNS} FROM events {where} ORDER BY created_ts, seq", params)  # noqa: S608
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("export cancelled")
            page = cur.fetchmany(_PAGE)
            if not page:
                return
            for r in page:
                yield row_from_db(r)
    finally:
        conn.close()


def export_activity(
    inbox_path: Path,
    out: Path,
    fmt: ExportFormat,
    flt: ActivityFilter | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the events matching ``flt`` to ``out``; returns how many. ``progress(n)`` every 10,000."""
    try:
        with atomic_writer(out, encoding="utf-8-sig" if fmt is ExportFormat.CSV else "utf-8", newline="") as fh:
            return _write(fh, iter_rows(inbox_path, flt or ActivityFilter(), cancel=cancel), fmt, progress)
    except FileInUseError as exc:
        if not exc.open_elsewhere:
            raise
        raise FileInUseError(
            exc.path,
            exc,
            message=f"{exc.path.name} is open in another program: close it and export again. It was left as it was.",
        ) from exc


def _write(fh: IO[str], rows: Iterator[InboxRow], fmt: ExportFormat, progress: Callable[[int], None] | None) -> int:
    count = 0
    if fmt is ExportFormat.CSV:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(csv_row(row))
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(count)
    else:
        for row in rows:
            fh.write(json.dumps(hull_event(row), ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(count)
    return count


__all__ = ["CSV_COLUMNS", "ExportFormat", "csv_cell", "csv_row", "export_activity", "hull_event", "iter_rows"]
