"""The CSV reader for Hull export files, and the header convention it reads.

CSV header convention (one column per Hull attribute, empty cell = attribute absent):

- ``name`` or ``name:type`` with type ``string``, ``number``, ``boolean``, ``date`` or ``json``.
  Without a type a column is a string, unless its name implies a date (ends with ``_at`` or
  ``_date``, e.g. ``created_at``, ``traits_trial_end_date``): then it is a date.
- ``number``: ``42`` -> 42, ``4.5`` -> 4.5. ``boolean``: true/false, yes/no, 1/0 (any case).
  ``json``: any JSON value (``["a","b"]``, ``{"plan":"pro"}``). ``date``: kept as written
  (``2018-03-30T14:38:02Z``, ``2018-03-30 14:38:02 UTC``); all digits = Unix seconds, a number.
  A cell that does not fit its type is reported as a problem and left out; the row is kept.
- ``segments``: segment names separated by ``;``. ``segment_ids``: segment ids separated by ``;``.
  With both columns and the same number of entries in a row, they are paired in order (so ids and
  names both survive a round trip). ``anonymous_ids``: ids separated by ``;``.
- ``account.<key>`` (optionally ``:type``) fills the user's ``account`` object.

Limits, so memory stays bounded: a row longer than ``max_record`` characters or with more than
:data:`MAX_CSV_COLUMNS` fields is reported and skipped before it is split into cells; a header over
either limit makes the file unreadable (:class:`SourceError`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cio_desktop.hull.files_io import (
    CORRUPT_ERRORS,
    MAX_RECORD_BYTES,
    SKIP_CHUNK,
    UNDECODABLE,
    Item,
    OpenedFile,
    Row,
    corrupt,
    size_text,
    too_long,
)
from cio_desktop.hull.source import SourceError, SourceProblem

# Hull organizations have hundreds of attributes, rarely thousands; 10,000 columns of one row stay
# around a megabyte once split, where a million take hundreds.
MAX_CSV_COLUMNS = 10_000

_DATE_NAME = re.compile(r"(_at|_date)$")
# A quoted run, closed on the same line ("" escapes pair up as two runs).
_QUOTED_RUN = re.compile(r'"[^"]*"')


class CsvType(StrEnum):
    """Value types a CSV header may declare (``traits_mrr:number``)."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    JSON = "json"


def implies_date(name: str) -> bool:
    """Hull's convention, kept by the old connector: ``*_at`` and ``*_date`` attributes are dates."""
    return bool(_DATE_NAME.search(name))


@dataclass(frozen=True)
class CsvColumn:
    """How one CSV column maps onto a Hull user."""

    header: str
    key: str  # attribute name, or the key inside ``account``
    type: CsvType
    in_account: bool = False
    list_column: bool = False  # segments / segment_ids / anonymous_ids: ";"-separated


_LIST_COLUMNS = frozenset({"segments", "segment_ids", "anonymous_ids"})
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_csv_header(header: list[str], path: Path) -> list[CsvColumn]:
    """Turn the header row into column specs; a header the convention cannot read -> SourceError."""
    columns: list[CsvColumn] = []
    seen: set[str] = set()
    for index, raw in enumerate(header, 1):
        text = raw.strip()
        if index == 1:
            text = text.lstrip("\ufeff")
        if not text:
            raise SourceError(
                f"{path}: column {index} of the header is empty. Every column needs a Hull attribute name."
            )
        if UNDECODABLE.search(text):
            raise SourceError(f"{path}: the header has bytes that are not UTF-8. Save the file as UTF-8.")
        name, declared = text, None
        if ":" in text:
            base, _, suffix = text.rpartition(":")
            try:
                declared = CsvType(suffix.strip().lower())
            except ValueError:
                raise SourceError(
                    f"{path}: column {index} {text!r} declares an unknown type {suffix!r}; "
                    f"use one of {', '.join(t.value for t in CsvType)} (e.g. traits_mrr:number)."
                ) from None
            name = base.strip()
        in_account = name.startswith("account.")
        key = name[len("account.") :] if in_account else name
        if not key:
            raise SourceError(f"{path}: column {index} {text!r} has no attribute name.")
        if name in seen:
            raise SourceError(f"{path}: column {name!r} appears twice in the header.")
        seen.add(name)
        list_column = not in_account and name in _LIST_COLUMNS
        kind = declared or (CsvType.DATE if implies_date(key) else CsvType.STRING)
        columns.append(CsvColumn(text, key, kind, in_account, list_column))
    return columns


def _to_number(cell: str) -> int | float:
    text = cell.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{cell[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{cell[:40]!r} is not a finite number")
    return number


def _to_date(cell: str) -> Any:
    return _to_number(cell) if cell.strip().isdigit() else cell


def _to_boolean(cell: str) -> bool:
    low = cell.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{cell[:40]!r} is not a boolean (true/false, yes/no, 1/0)")


def _to_json(cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cell[:40]!r} is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError(f"{cell[:40]!r} is JSON nested too deeply to read") from None
    except ValueError:  # Python reads integers of at most 4300 digits
        raise ValueError(f"{cell[:40]!r} holds a number too long to read") from None


_CONVERTERS: dict[CsvType, Callable[[str], Any] | None] = {
    CsvType.STRING: None,  # kept as written
    CsvType.NUMBER: _to_number,
    CsvType.BOOLEAN: _to_boolean,
    CsvType.DATE: _to_date,
    CsvType.JSON: _to_json,
}


def _split_list(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def csv_row_to_user(columns: list[CsvColumn], row: list[str], report: Callable[[str], None]) -> dict[str, Any]:
    """One CSV row (as many cells as columns) as a Hull user; cells that do not fit their type are
    reported through ``report`` and left out."""
    user: dict[str, Any] = {}
    account: dict[str, Any] = {}
    for column, cell in zip(columns, row, strict=True):
        if cell == "":
            continue
        if column.list_column:
            user[column.key] = _split_list(cell)
            continue
        convert = _CONVERTERS[column.type]
        if convert is None:
            value: Any = cell
        else:
            try:
                value = convert(cell)
            except ValueError as exc:
                report(f"column {column.header!r}: {exc}; the value was left out")
                continue
        if column.in_account:
            account[column.key] = value
        else:
            user[column.key] = value
    if account:
        user["account"] = account
    names, ids = user.get("segments"), user.get("segment_ids")
    if isinstance(names, list) and isinstance(ids, list) and len(names) == len(ids):
        user["segments"] = [{"id": i, "name": n} for i, n in zip(ids, names, strict=True)]
    return user


# How much of the header line is read to choose between ',' and ';' (the rest follows as usual).
_SNIFF_CHARS = 65536


class _RowRefused(Exception):
    """The row being read is too long or has too many fields. Raised through ``csv.reader``, which
    starts the next row afresh; the offending line has been read to its end."""

    def __init__(self, *, too_many_fields: bool) -> None:
        super().__init__("too many fields" if too_many_fields else "too long")
        self.too_many_fields = too_many_fields


class _CsvLines:
    """The lines ``csv.reader`` parses, handed over one at a time so a row is refused before csv
    splits it: when it grows past ``max_chars`` (the rest of the line is read past in bounded
    chunks, never held) or when it has more than MAX_CSV_COLUMNS fields. ``line`` counts the
    physical lines read, as csv's ``line_num`` would."""

    def __init__(self, text: io.TextIOWrapper, max_chars: int, *, first: str = "", separator: str = ",") -> None:
        self.text = text
        self.max_chars = max_chars
        self.line = 0
        self.separator = separator
        self.pending = first  # the start of the first line, already read to choose the separator
        self.start_row()

    def start_row(self) -> None:
        self.chars = 0
        # Every comma of the row so far: a cheap upper bound of its field separators.
        self.commas = 0
        self.lines: list[str] = []
        # Once the bound reaches the limit: the separators outside quotes, and whether the row's
        # text so far ends inside a quoted cell.
        self.separators: int | None = None
        self.quoted = False

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        budget = self.max_chars - self.chars
        piece, self.pending = self.pending, ""
        if len(piece) <= budget and not piece.endswith(("\n", "\r")):
            piece += self.text.readline(budget + 1 - len(piece))
        if not piece:
            raise StopIteration
        self.line += 1
        if len(piece) > budget:
            while piece and not piece.endswith(("\n", "\r")):
                piece = self.text.readline(SKIP_CHUNK)
            raise _RowRefused(too_many_fields=False)
        self.chars += len(piece)
        if self.separators is None:
            self.commas += piece.count(self.separator)
            if self.commas < MAX_CSV_COLUMNS:
                self.lines.append(piece)
                return piece
            # Commas inside quoted cells count in the bound: count the real separators from here on.
            self.separators = 0
            for earlier in self.lines:
                self._count(earlier)
            self.lines = []
        self._count(piece)
        if self.separators >= MAX_CSV_COLUMNS:
            raise _RowRefused(too_many_fields=True)
        return piece

    def _count(self, text: str) -> None:
        assert self.separators is not None
        if self.quoted:
            end = text.find('"')
            if end < 0:
                return
            text = text[end + 1 :]
            self.quoted = False
        outside = _QUOTED_RUN.sub("", text)
        opened = outside.find('"')
        if opened >= 0:
            self.quoted = True
            outside = outside[:opened]
        self.separators += outside.count(self.separator)


def read_csv(opened: OpenedFile, max_record: int = MAX_RECORD_BYTES) -> Generator[Item, None, None]:
    """CSV per the header convention in this module's docstring; rows start on physical lines
    (quoted cells may span lines). ``max_record`` caps a row's characters (bytes for ASCII)."""
    text = io.TextIOWrapper(opened.stream, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        yield from _csv_items(text, opened, max_record)
    finally:
        with contextlib.suppress(ValueError):
            text.detach()  # the OpenedFile owns the stream and closes it


def _csv_items(text: io.TextIOWrapper, opened: OpenedFile, max_record: int) -> Generator[Item, None, None]:
    name = str(opened.path)
    # Excel in much of Europe saves CSV with ';' between fields (',' is the decimal mark there):
    # the header line says which one this file uses.
    try:
        first = text.readline(_SNIFF_CHARS)
    except CORRUPT_ERRORS:
        yield corrupt(opened.path, 1)
        return
    separator = ";" if first.count(";") > first.count(",") else ","
    lines = _CsvLines(text, max_record, first=first, separator=separator)
    reader = csv.reader(lines, delimiter=separator, strict=True)
    columns: list[CsvColumn] | None = None
    while True:
        lines.start_row()
        start_line = lines.line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except _RowRefused as refused:
            if columns is None:
                raise SourceError(_header_refused(opened.path, refused, max_record)) from None
            if refused.too_many_fields:
                reason = (
                    f"wrong number of fields: the header has {len(columns)}, this row has more than"
                    f" {MAX_CSV_COLUMNS:,} (the limit); skipped"
                )
            else:
                reason = too_long("row", max_record)
            yield SourceProblem(name, start_line, reason)
            continue
        except csv.Error as exc:
            yield SourceProblem(name, start_line, f"broken CSV: {exc}")
            continue
        except CORRUPT_ERRORS:
            yield corrupt(opened.path, start_line)
            return
        if not row:
            continue
        if columns is None:
            columns = parse_csv_header(row, opened.path)
            continue
        if len(row) != len(columns):
            yield SourceProblem(
                name, start_line, f"wrong number of fields: the header has {len(columns)}, this row has {len(row)}"
            )
            continue
        if UNDECODABLE.search("\x00".join(row)):
            yield SourceProblem(name, start_line, "undecodable bytes (not UTF-8)")
            continue
        cell_problems: list[str] = []
        user = csv_row_to_user(columns, row, cell_problems.append)
        for reason in cell_problems:
            yield SourceProblem(name, start_line, reason)
        yield Row(start_line, user)


def _header_refused(path: Path, refused: _RowRefused, max_record: int) -> str:
    if refused.too_many_fields:
        return (
            f"{path}: the header has more than {MAX_CSV_COLUMNS:,} columns (the limit). A Hull export has one "
            "column per attribute; check that the file is comma-separated."
        )
    return (
        f"{path}: the header row is longer than {size_text(max_record)} (the limit for one record), so the file "
        "cannot be read. Check that it is a CSV export, or raise files.max_record_mb in the profile (its JSON file: "
        "Profiles > Export…, edit, Import…)."
    )
