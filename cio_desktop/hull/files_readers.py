"""Streaming readers for Hull export files: JSON lines, JSON arrays and CSV, each plain or gzip.

Every reader yields :class:`Row` (one record as a dict, with the line it starts on) or
:class:`SourceProblem` (a record it could not read) and never holds more than one record plus a
small buffer in memory, whatever the size of the file.

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
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, cast

from cio_desktop.hull.source import ProblemKind, SourceError, SourceProblem

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_CHARS = 1 << 16
# A single user bigger than this in a JSON array is treated as broken (keeps memory bounded).
MAX_ELEMENT_CHARS = 16 << 20

# Lone surrogates produced by errors="surrogateescape" mark bytes that are not UTF-8.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_COMPACT_BOUNDARY = re.compile(r"\}\s*,\s*(\{)")
_DATE_NAME = re.compile(r"(_at|_date)$")
_CORRUPT_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class FileFormat(StrEnum):
    """How a users file is laid out."""

    JSON_LINES = "jsonl"
    JSON_ARRAY = "json"
    CSV = "csv"


class CsvType(StrEnum):
    """Value types a CSV header may declare (``traits_mrr:number``)."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    JSON = "json"


@dataclass(frozen=True)
class Row:
    """One record read from a file: the line it starts on and its value."""

    line: int
    value: Any


@dataclass(frozen=True)
class FileShape:
    """What :func:`detect_format` found."""

    format: FileFormat
    gzip: bool


Item = Row | SourceProblem


def implies_date(name: str) -> bool:
    """Hull's convention, kept by the old connector: ``*_at`` and ``*_date`` attributes are dates."""
    return bool(_DATE_NAME.search(name))


# --------------------------------------------------------------------------- opening files


def _open_raw(path: Path, what: str) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"The {what} {path} does not exist. Check the path (or pick the file again).") from None
    except IsADirectoryError:
        raise SourceError(f"The {what} {path} is a folder, not a file. Pick the export file itself.") from None
    except PermissionError:
        raise SourceError(
            f"The {what} {path} cannot be read: permission denied. Check the file's permissions."
        ) from None
    except OSError as exc:
        raise SourceError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from None


class OpenedFile:
    """A file opened for streaming: ``stream`` gives decompressed bytes, ``position()`` the bytes read
    from disk (compressed position for gzip, for progress against the file size)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.raw = _open_raw(path, what)
        try:
            head = self.raw.read(2)
            self.raw.seek(0)
        except OSError as exc:
            self.raw.close()
            raise SourceError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from None
        self.gzip = head == GZIP_MAGIC
        self.stream: IO[bytes] = cast(IO[bytes], gzip.GzipFile(fileobj=self.raw, mode="rb")) if self.gzip else self.raw

    def position(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self.stream is not self.raw:
            self.stream.close()
        self.raw.close()

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def detect_format(path: Path, what: str = "users file") -> FileShape:
    """Decide the format from the extension (``.jsonl``/``.ndjson``, ``.json``, ``.csv``, each
    optionally ``.gz``) and, for ``.json`` and unknown extensions, from the first bytes."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    with OpenedFile(path, what) as opened:
        try:
            head = opened.stream.read(4096)
        except (*_CORRUPT_ERRORS, OSError):
            raise SourceError(f"The {what} {path} looks gzip-compressed but cannot be decompressed.") from None
        compressed = opened.gzip
    if ext in (".jsonl", ".ndjson"):
        return FileShape(FileFormat.JSON_LINES, compressed)
    if ext == ".csv":
        return FileShape(FileFormat.CSV, compressed)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"[":
        return FileShape(FileFormat.JSON_ARRAY, compressed)
    if first == b"{" or (ext == ".json" and not first):
        # Many ".json" exports are really one object per line.
        return FileShape(FileFormat.JSON_LINES, compressed)
    if ext in (".json", ""):
        if ext == "" and b"," in head.split(b"\n", 1)[0]:
            return FileShape(FileFormat.CSV, compressed)
        raise SourceError(
            f"The {what} {path} is neither JSON lines nor a JSON array (it starts with {head[:20]!r}). "
            "Export users as .jsonl, .json or .csv."
        )
    raise SourceError(
        f"The {what} {path} has an unknown extension {ext!r}. Use .jsonl, .ndjson, .json or .csv (optionally .gz)."
    )


def _corrupt(path: Path, line: int) -> SourceProblem:
    return SourceProblem(
        str(path),
        line,
        "the compressed file is truncated or corrupt here; the rest of it could not be read",
        ProblemKind.TRUNCATED,
    )


# --------------------------------------------------------------------------- JSON lines


def read_json_lines(opened: OpenedFile) -> Generator[Item, None, None]:
    """One JSON value per line; blank lines are ignored."""
    name = str(opened.path)
    lines = iter(opened.stream)
    line = 0
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            return
        except _CORRUPT_ERRORS:
            yield _corrupt(opened.path, line + 1)
            return
        line += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield SourceProblem(name, line, f"undecodable bytes (not UTF-8) at column {exc.start + 1}")
            continue
        if line == 1:
            text = text.lstrip("\ufeff")
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield SourceProblem(name, line, f"broken JSON: {exc.msg} at column {exc.colno}")
            continue
        yield Row(line, value)


# --------------------------------------------------------------------------- JSON arrays


class _ArrayReader:
    """Incremental parser for a (possibly huge) JSON array of objects.

    A sliding text buffer is fed from the byte stream and each element is parsed with
    ``JSONDecoder.raw_decode`` (C speed); consumed text is dropped so memory stays at about one
    element plus one chunk. A broken element is reported and skipped up to the start of the next
    element: the next ``{`` at the same indentation on a later line (pretty-printed or
    one-per-line arrays), or the next ``},{`` boundary for arrays written on one line.
    """

    def __init__(self, opened: OpenedFile, chunk: int = CHUNK_CHARS, max_element: int = MAX_ELEMENT_CHARS) -> None:
        self.opened = opened
        self.name = str(opened.path)
        self.chunk = chunk
        self.max_element = max_element
        self.decoder = json.JSONDecoder()
        self.text_decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.corrupt = False
        # Line bookkeeping: buf[counted_pos] is on line counted_line (1-based).
        self.counted_pos = 0
        self.counted_line = 1
        self.first_read = True
        self.finished = False
        self.resynced = False

    def _read(self) -> bool:
        """Append a chunk to the buffer; False at end of input."""
        if self.eof:
            return False
        try:
            data = self.opened.stream.read(self.chunk)
        except _CORRUPT_ERRORS:
            data = b""
            self.corrupt = True
        text = self.text_decoder.decode(data, final=not data)
        if self.first_read:
            text = text.lstrip("\ufeff")
            self.first_read = False
        if not data:
            self.eof = True
        # Drop what is consumed so the buffer never grows with the file.
        if self.pos > self.chunk:
            self.line_at(self.pos)
            self.buf = self.buf[self.pos :]
            self.counted_pos -= self.pos
            self.pos = 0
        self.buf += text
        return bool(data) or bool(text)

    def line_at(self, p: int) -> int:
        if p >= self.counted_pos:
            self.counted_line += self.buf.count("\n", self.counted_pos, p)
        else:
            self.counted_line -= self.buf.count("\n", p, self.counted_pos)
        self.counted_pos = p
        return self.counted_line

    def _skip_ws(self) -> bool:
        """Move pos to the next non-whitespace character; False at end of input."""
        while True:
            m = _WHITESPACE.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return True
            if not self._read():
                return False

    def _problem(self, line: int, reason: str) -> SourceProblem:
        return SourceProblem(self.name, line, reason)

    def __iter__(self) -> Iterator[Item]:
        if not self._skip_ws():
            return
        if self.buf[self.pos] != "[":
            yield self._problem(self.line_at(self.pos), "not a JSON array (expected '[')")
            return
        self.pos += 1
        expect_value = True
        while True:
            if not self._skip_ws():
                if self.corrupt:
                    yield _corrupt(self.opened.path, self.line_at(self.pos))
                else:
                    yield self._problem(self.line_at(self.pos), "the JSON array is not closed with ']'")
                return
            ch = self.buf[self.pos]
            if ch == "]":
                return
            if not expect_value:
                if ch == ",":
                    self.pos += 1
                    expect_value = True
                    continue
                # Missing comma: say so, then read on as if it were there.
                yield self._problem(self.line_at(self.pos), f"expected ',' between elements, found {ch!r}")
            self.resynced = False
            yield from self._element()
            if self.finished:
                return
            # After a broken element pos sits on the next element's "{", its comma already passed.
            expect_value = self.resynced

    def _element(self) -> list[Item]:
        start = self.pos
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if self._maybe_cut(exc) and len(self.buf) - start < self.max_element and self._read():
                    start = self.pos  # _read may have moved the buffer
                    continue
                return self._broken(start, exc)
            if end >= len(self.buf) and not self.eof and self._read():
                start = self.pos
                continue  # a value ending exactly at the buffer end may be cut (numbers): re-read
            line = self.line_at(start)
            self.pos = end
            if _UNDECODABLE.search(self.buf, start, end):
                return [self._problem(line, "undecodable bytes (not UTF-8)")]
            return [Row(line, value)]

    def _maybe_cut(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error may only mean the element continues past the buffer. A string cannot
        hold a raw newline, so an unterminated string runs to the buffer end; other errors of a cut
        element sit within a literal's length (``tr``) of the end."""
        if self.eof:
            return False
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 8

    def _broken(self, start: int, exc: json.JSONDecodeError) -> list[Item]:
        line = self.line_at(start)
        err_line = line + self.buf.count("\n", start, min(exc.pos, len(self.buf)))
        where = f" (line {err_line})" if err_line != line else ""
        items: list[Item] = [self._problem(line, f"broken JSON: {exc.msg}{where}")]
        if self.corrupt:
            items.append(_corrupt(self.opened.path, err_line))
            self.pos = len(self.buf)
            self.finished = True
            return items
        line_start = self.buf.rfind("\n", 0, start) + 1
        indent = self.buf[line_start:start]
        if line_start > 0 and not indent.strip():
            pattern = re.compile(r"\n" + re.escape(indent) + r"(\{)")
        else:
            pattern = _COMPACT_BOUNDARY
        search_from = start + 1
        while True:
            m = pattern.search(self.buf, search_from)
            if m:
                self.pos = m.start(1)
                self.resynced = True
                return items
            # Keep a small tail so a boundary split across chunks is still found.
            self.pos = max(search_from, len(self.buf) - len(indent) - 8)
            if not self._read():
                if not self.buf[search_from:].rstrip().endswith("]"):
                    items.append(self._problem(line, "nothing after this broken element could be read"))
                self.pos = len(self.buf)
                self.finished = True
                return items
            search_from = self.pos


def read_json_array(opened: OpenedFile) -> Generator[Item, None, None]:
    yield from _ArrayReader(opened)


# --------------------------------------------------------------------------- CSV


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
        if _UNDECODABLE.search(text):
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
        raise ValueError(f"{cell!r} is not a finite number")
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


def read_csv(opened: OpenedFile) -> Generator[Item, None, None]:
    """CSV per the header convention in this module's docstring; rows start on physical lines
    (quoted cells may span lines)."""
    text = io.TextIOWrapper(opened.stream, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        yield from _csv_items(text, opened)
    finally:
        with contextlib.suppress(ValueError):
            text.detach()  # the OpenedFile owns the stream and closes it


def _csv_items(text: io.TextIOWrapper, opened: OpenedFile) -> Generator[Item, None, None]:
    name = str(opened.path)
    reader = csv.reader(text, strict=True)
    columns: list[CsvColumn] | None = None
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceProblem(name, start_line, f"broken CSV: {exc}")
            continue
        except _CORRUPT_ERRORS:
            yield _corrupt(opened.path, start_line)
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
        if _UNDECODABLE.search("\x00".join(row)):
            yield SourceProblem(name, start_line, "undecodable bytes (not UTF-8)")
            continue
        cell_problems: list[str] = []
        user = csv_row_to_user(columns, row, cell_problems.append)
        for reason in cell_problems:
            yield SourceProblem(name, start_line, reason)
        yield Row(start_line, user)


READERS: dict[FileFormat, Callable[[OpenedFile], Generator[Item, None, None]]] = {
    FileFormat.JSON_LINES: read_json_lines,
    FileFormat.JSON_ARRAY: read_json_array,
    FileFormat.CSV: read_csv,
}


# --------------------------------------------------------------------------- dates


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from the date forms Hull emits (ISO 8601 with ``Z``/offset/`` UTC``, date only)
    or a number (seconds; milliseconds when it is too large to be seconds). None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return None
        return number / 1000.0 if abs(number) > 1e11 else number
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.upper().endswith(" UTC"):
        text = text[:-4].rstrip() + "+00:00"
    elif text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_timestamp(float(text))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
