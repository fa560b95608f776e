"""Opening Hull export files and what every reader yields: the shared ground of the JSON readers
(:mod:`cio_desktop.hull.files_readers`) and the CSV reader (:mod:`cio_desktop.hull.files_csv`).

Every reader caps the size of one record (``max_record`` bytes, :data:`MAX_RECORD_BYTES` unless the
profile says otherwise) so that a pathological file, such as a 2 GB line without a newline in a 2 MB
gzip, costs at most about that much memory: the record is read past in bounded chunks and reported as
a :class:`SourceProblem`, and the rest of the file still reads.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from cio_desktop.hull.source import ProblemKind, SourceError, SourceProblem

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_CHARS = 1 << 16
# One record (a line, an array element, a CSV row) longer than this is skipped as unreadable.
MAX_RECORD_BYTES = 16 << 20
# Pieces in which the rest of an over-long line is read past (and dropped).
SKIP_CHUNK = 1 << 20

# Lone surrogates produced by errors="surrogateescape" mark bytes that are not UTF-8.
UNDECODABLE = re.compile("[\udc80-\udcff]")
CORRUPT_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class FileFormat(StrEnum):
    """How a users file is laid out."""

    JSON_LINES = "jsonl"
    JSON_ARRAY = "json"
    CSV = "csv"


class Row(NamedTuple):
    """One record read from a file: the line it starts on and its value; ``raw``: the line's bytes when
    ``orjson.loads(raw)`` alone gives ``value`` (JSON lines read the fast way), else None. A named tuple:
    one is made per record, and a tuple is made several times faster than a frozen dataclass."""

    line: int
    value: Any
    raw: bytes | None = None
    offset: int = -1  # where ``raw`` starts in the (decompressed) stream, when it is given


@dataclass(frozen=True)
class FileShape:
    """What :func:`detect_format` found."""

    format: FileFormat
    gzip: bool


Item = Row | SourceProblem


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
        except (*CORRUPT_ERRORS, OSError):
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


def corrupt(path: Path, line: int) -> SourceProblem:
    return SourceProblem(
        str(path),
        line,
        "the compressed file is truncated or corrupt here; the rest of it could not be read",
        ProblemKind.TRUNCATED,
    )


def size_text(limit: int) -> str:
    """``16 MB`` for whole megabytes (what a profile sets), else bytes."""
    return f"{limit >> 20} MB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit:,} bytes"


def too_long(what: str, limit: int) -> str:
    return f"{what} is longer than {size_text(limit)} (the limit); skipped"
