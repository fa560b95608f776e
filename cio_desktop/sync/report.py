"""Reports of a run: the per-person errors as CSV, and a one-object JSON summary for scripts."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from cio_desktop.config.private import FileInUseError, atomic_writer
from cio_desktop.sync.run_people import RunPerson
from cio_desktop.sync.runs import RunError

CSV_COLUMNS = ("time", "customer_id", "hull_id", "kind", "field", "message")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cell(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheets (CSV injection); Hull data is
    # user-controlled, so quote it out the way OWASP recommends.
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def write_errors_csv(errors: Iterable[RunError], path: Path | str) -> int:
    """Write ``errors`` to ``path`` (UTF-8 with BOM so spreadsheets read accents); returns the row count.

    Written through the atomic writer (0600, renamed into place), so a half-written export never replaces a
    good one; the folder is created (0700) if missing, an existing one is left as the user set it. A file
    open in a spreadsheet (Windows will not replace it) raises :class:`FileInUseError` saying so.
    """
    try:
        return _write(errors, Path(path))
    except FileInUseError as exc:
        if not exc.open_elsewhere:
            raise
        message = (
            f"{exc.path.name} is open in another program (Excel?): close it and export again. The file was"
            f" left as it was ({exc.path})."
        )
        raise FileInUseError(exc.path, exc, message=message) from exc


PEOPLE_CSV_COLUMNS = ("hull_id", "customer_id", "person", "decision", "outcome", "reason")


def write_people_csv(people: Iterable[RunPerson], path: Path | str, *, dry: bool) -> int:
    """Write a run's people (decision, outcome and reason of each) like :func:`write_errors_csv`."""

    def rows() -> Iterable[list[str]]:
        for p in people:
            yield [p.hull_id, p.customer_id, p.who, p.category.value, p.outcome(dry=dry), p.reason]

    try:
        return _write_rows(PEOPLE_CSV_COLUMNS, rows(), Path(path))
    except FileInUseError as exc:
        if not exc.open_elsewhere:
            raise
        message = (
            f"{exc.path.name} is open in another program (Excel?): close it and export again. The file was"
            f" left as it was ({exc.path})."
        )
        raise FileInUseError(exc.path, exc, message=message) from exc


def _write_rows(header: Iterable[str], rows: Iterable[list[str]], path: Path) -> int:
    count = 0
    with atomic_writer(path, encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([_cell(v) for v in row])
            count += 1
    return count


def _write(errors: Iterable[RunError], path: Path) -> int:
    count = 0
    with atomic_writer(path, encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for e in errors:
            writer.writerow(
                [
                    _iso(e.created_at),
                    _cell(e.customer_id),
                    _cell(e.hull_id),
                    e.kind,
                    _cell(e.field),
                    _cell(e.message),
                ]
            )
            count += 1
    return count
