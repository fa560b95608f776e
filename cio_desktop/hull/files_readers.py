"""Streaming readers for Hull export files: JSON lines, JSON arrays and CSV, each plain or gzip.

Every reader yields :class:`Row` (one record as a dict, with the line it starts on) or
:class:`SourceProblem` (a record it could not read) and never holds more than one record plus a
small buffer in memory, whatever the size of the file. One record is at most ``max_record`` long
(:data:`MAX_RECORD_BYTES` by default; bytes for JSON lines, characters for JSON arrays and CSV, the
same for ASCII): a longer one is read past in bounded chunks and reported, and reading goes on.

Opening files and detecting their format live in :mod:`cio_desktop.hull.files_io`, the CSV reader and
its header convention in :mod:`cio_desktop.hull.files_csv`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Generator, Iterator
from typing import IO

from cio_desktop import jsonfast
from cio_desktop.hull.files_csv import MAX_CSV_COLUMNS, CsvColumn, CsvType, implies_date, read_csv
from cio_desktop.hull.files_io import (
    CHUNK_CHARS,
    CORRUPT_ERRORS,
    MAX_RECORD_BYTES,
    UNDECODABLE,
    FileFormat,
    FileShape,
    Item,
    OpenedFile,
    Row,
    corrupt,
    detect_format,
    too_long,
)
from cio_desktop.hull.source import SourceProblem
from cio_desktop.jsonfast import long_digit_run

__all__ = [
    "MAX_CSV_COLUMNS",
    "MAX_RECORD_BYTES",
    "READERS",
    "CsvColumn",
    "CsvType",
    "FileFormat",
    "FileShape",
    "Item",
    "OpenedFile",
    "Reader",
    "Row",
    "detect_format",
    "implies_date",
    "read_csv",
    "read_json_array",
    "read_json_lines",
]

# JSON lines are read in blocks this large (and split into lines in C).
READ_BLOCK = 1 << 20
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_COMPACT_BOUNDARY = re.compile(r"\}\s*,\s*(\{)")


def _unreadable_value(exc: ValueError | RecursionError) -> str:
    """Why ``json`` gave up on text that is valid JSON: Python reads integers of at most 4300
    digits, and nesting deeper than its recursion limit."""
    if isinstance(exc, RecursionError):
        return "broken JSON: nested too deeply to read"
    return "broken JSON: a number has too many digits to read"


# --------------------------------------------------------------------------- JSON lines


def read_json_lines(
    opened: OpenedFile, max_record: int = MAX_RECORD_BYTES, *, at_file_start: bool = True
) -> Generator[Item, None, None]:
    """One JSON value per line; blank lines are ignored. A line of more than ``max_record`` bytes
    (its line break not counted) is read past in bounded blocks and reported. Lines are numbered from
    1 where the stream starts; a byte order mark is ignored only on the file's first line, so a stream
    that starts further into the file (a parallel scan's range) says ``at_file_start=False``."""
    name = str(opened.path)
    stream: IO[bytes] = opened.stream
    line = 0
    pending = b""  # the start of a line whose end is not read yet
    pending_at = 0  # where it starts in the stream
    at = 0  # where the next block starts in the stream
    skipping = False  # inside a line already over the limit: dropped up to its end
    # Large blocks split in C: a readline() call per line costs more than the split. read1 returns
    # what one read gave, so a truncated gzip file loses only the data after the last good piece.
    read = getattr(stream, "read1", stream.read)
    while True:
        try:
            block = read(READ_BLOCK)
        except CORRUPT_ERRORS:
            yield corrupt(opened.path, line + 1)
            return
        # orjson reads integers past 64 bits as floats: lines with long digit runs go the slow way
        # (checked once per block, then per line only in a block that has one).
        clean = not long_digit_run(block)
        if block:
            parts = block.split(b"\n")
            tail = parts.pop()  # the line the block ends in (complete only at the end of the file)
        elif pending or skipping:
            parts, tail = [b""], b""  # the last line has no line break
        else:
            return
        cursor = at  # where parts[i] starts in the stream (i > 0)
        for i, raw in enumerate(parts):
            line += 1
            start = cursor
            cursor += len(raw) + 1
            if i == 0:
                if skipping:
                    skipping = False
                    yield SourceProblem(name, line, too_long("record", max_record))
                    continue
                raw = pending + raw
                start = pending_at
            if len(raw) > max_record:
                yield SourceProblem(name, line, too_long("record", max_record))
                continue
            item = _json_line(
                raw,
                line,
                name,
                fast=(clean and i > 0) or not long_digit_run(raw),
                bom=at_file_start and line == 1,
                offset=start,
            )
            if item is not None:
                yield item
        if not block:
            return
        if parts or not skipping:
            if parts:
                pending, pending_at = tail, at + len(block) - len(tail)
            else:
                pending += tail
            if len(pending) > max_record:
                pending, skipping = b"", True
        at += len(block)


def _json_line(
    raw: bytes, line: int, name: str, *, fast: bool = True, bom: bool = False, offset: int = -1
) -> Item | None:
    """One line as a row, the problem with it, or None for a blank line (``bom``: the file's first
    line, where a byte order mark is ignored; ``offset``: where the line starts in the stream)."""
    if fast:
        try:
            # The common case at orjson's speed; anything it refuses (a BOM, a blank line, bytes that
            # are not UTF-8, what the standard library reads but orjson does not) takes the path
            # below, which decides and words the problem exactly as before.
            return Row(line, jsonfast.fast_loads(raw), raw, offset)
        except jsonfast.DecodeError:
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SourceProblem(name, line, f"undecodable bytes (not UTF-8) at column {exc.start + 1}")
    if bom:
        text = text.lstrip("\ufeff")
    if not text.strip():
        return None
    try:
        return Row(line, json.loads(text))
    except json.JSONDecodeError as exc:
        return SourceProblem(name, line, f"broken JSON: {exc.msg} at column {exc.colno}")
    except (ValueError, RecursionError) as exc:
        return SourceProblem(name, line, _unreadable_value(exc))


# --------------------------------------------------------------------------- JSON arrays


class _ArrayReader:
    """Incremental parser for a (possibly huge) JSON array of objects.

    A sliding text buffer is fed from the byte stream and each element is parsed with
    ``JSONDecoder.raw_decode`` (C speed); consumed text is dropped so memory stays at about one
    element plus one chunk. A broken element is reported and skipped up to the start of the next
    element: the next ``{`` at the same indentation on a later line (pretty-printed or
    one-per-line arrays), or the next ``},{`` boundary for arrays written on one line.
    """

    def __init__(self, opened: OpenedFile, chunk: int = CHUNK_CHARS, max_element: int = MAX_RECORD_BYTES) -> None:
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

    def _read(self, size: int = 0) -> bool:
        """Append ``size`` bytes (a chunk if 0) to the buffer; False at end of input."""
        if self.eof:
            return False
        try:
            data = self.opened.stream.read(size or self.chunk)
        except CORRUPT_ERRORS:
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
                    yield corrupt(self.opened.path, self.line_at(self.pos))
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
                if not self._maybe_cut(exc):
                    return self._broken(start, exc)
            except (ValueError, RecursionError) as exc:
                return self._skip(start, _unreadable_value(exc))
            else:
                # A value ending exactly at the buffer end may be cut (numbers): read on to be sure.
                if end < len(self.buf) or self.eof:
                    line = self.line_at(start)
                    self.pos = end
                    if UNDECODABLE.search(self.buf, start, end):
                        return [self._problem(line, "undecodable bytes (not UTF-8)")]
                    return [Row(line, value)]
            held = len(self.buf) - start
            if held > self.max_element:
                return self._skip(start, too_long("array element", self.max_element))
            # Read about as much again as the element holds so far: a long element is parsed a
            # few times, not once per chunk.
            self._read(max(self.chunk, min(held, self.max_element + 1 - held)))
            start = self.pos  # _read may have moved the buffer; at the end of input eof is now set

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
        return self._skip(start, f"broken JSON: {exc.msg}{where}", err_line)

    def _skip(self, start: int, reason: str, err_line: int | None = None) -> list[Item]:
        """Report the element at ``start`` and move to the start of the next one."""
        line = self.line_at(start)
        items: list[Item] = [self._problem(line, reason)]
        if self.corrupt:
            items.append(corrupt(self.opened.path, err_line if err_line is not None else line))
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


def read_json_array(opened: OpenedFile, max_record: int = MAX_RECORD_BYTES) -> Generator[Item, None, None]:
    yield from _ArrayReader(opened, max_element=max_record)


# A reader: the records of an opened file, each at most ``max_record`` long.
Reader = Callable[[OpenedFile, int], Generator[Item, None, None]]

READERS: dict[FileFormat, Reader] = {
    FileFormat.JSON_LINES: read_json_lines,
    FileFormat.JSON_ARRAY: read_json_array,
    FileFormat.CSV: read_csv,
}
