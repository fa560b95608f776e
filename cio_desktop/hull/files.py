"""Hull export files as a user source: the engine syncs them exactly as it syncs the live API.

``FileSource(users_path, events_path=None)`` reads users from JSON lines (``.jsonl``/``.ndjson``),
a JSON array (``.json``) or CSV (``.csv``, header convention in :mod:`cio_desktop.hull.files_csv`),
each optionally gzip-compressed (``.gz`` or detected from the content), and events from an optional
JSON-lines file. Everything is streamed: a 1,000,000-user file never sits in memory, and one record
longer than ``max_record_bytes`` (16 MB unless the profile says otherwise) is skipped as a bad row
instead of being read into memory.

Where each part lives:

- reading records: :mod:`~cio_desktop.hull.files_io` (opening, format detection),
  :mod:`~cio_desktop.hull.files_readers` (JSON lines, JSON arrays), :mod:`~cio_desktop.hull.files_csv`;
- one record -> a user or an event in Hull's API shape (segments, derived ids, event ids):
  :mod:`~cio_desktop.hull.files_normalize`;
- the metadata pass (segments with sizes, attribute types, event names, duplicate users, whether
  events are in time order) and its cache: :mod:`~cio_desktop.hull.files_meta`; the users file's
  pass, in worker processes where the file can be split: :mod:`~cio_desktop.hull.files_scan`;
- events oldest first when the file is not in time order: :mod:`~cio_desktop.hull.files_events`.

This module ties them together. A user id that appears more than once is yielded once: the last row
wins (exports append newer rows); the earlier rows are reported as problems. :meth:`FileSource.scan`
runs the metadata pass with progress and cancel for the GUI and returns a :class:`FileSummary`.
Write-back to Hull is impossible for files: :attr:`FileSource.supports_write_back` is False.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cio_desktop.hull import files_scan
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.files_events import sorted_by_time
from cio_desktop.hull.files_meta import (
    SUMMARY_PROBLEMS,
    EventsMeta,
    ProblemLog,
    UsersMeta,
    cache_key,
    cached_meta,
    duplicate_key,
)
from cio_desktop.hull.files_normalize import (
    SegmentPairs,
    derived_user_id,
    normalize_event,
    normalize_user,
    segment_id_for_name,
)
from cio_desktop.hull.files_readers import (
    MAX_RECORD_BYTES,
    READERS,
    FileFormat,
    FileShape,
    OpenedFile,
    Row,
    detect_format,
    read_json_lines,
)
from cio_desktop.hull.files_scan import can_split, scan_users_in_ranges, scan_users_serial
from cio_desktop.hull.source import (
    Attribute,
    EventName,
    HullEvent,
    HullUser,
    ProblemKind,
    ReadReport,
    Segment,
    SourceError,
    SourceProblem,
    Stream,
)
from cio_desktop.parallel import WorkersSettingError, scan_workers

PROGRESS_EVERY = 5000
_FORMAT_LABELS = {FileFormat.JSON_LINES: "JSON lines", FileFormat.JSON_ARRAY: "JSON array", FileFormat.CSV: "CSV"}


@dataclass(frozen=True)
class ScanProgress:
    """Where a metadata scan is: ``bytes_read`` of ``bytes_total`` (on disk) of ``file``."""

    file: str
    bytes_read: int
    bytes_total: int
    records: int


@dataclass(frozen=True)
class FileSummary:
    """What the Connect page shows after picking files."""

    users: int
    segments: tuple[Segment, ...]
    attributes: tuple[Attribute, ...]
    events: tuple[EventName, ...]
    bad_rows: int
    problems: tuple[SourceProblem, ...]  # the first few bad rows, users file first
    users_format: str  # "JSON lines", "CSV (gzip)", ...
    duplicate_users: int = 0  # rows whose user id appeared again later (the later row is used)
    events_total: int = 0
    events_in_order: bool = True  # False: events get sorted (in bounded memory) on every sync
    user_bad_rows: int = 0  # of ``bad_rows``, those of the users file


class ScanCancelled(Exception):
    """The caller's cancel event was set during :meth:`FileSource.scan`."""


ProgressCallback = Callable[[ScanProgress], None]


def _format_label(file_format: FileFormat, gzip: bool) -> str:
    label = _FORMAT_LABELS[file_format]
    return f"{label} (gzip)" if gzip else label


def _size_label(size: int) -> str:
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} bytes"


# --------------------------------------------------------------------------- the source


class FileSource:
    """Users (and optionally events) from Hull export files. Implements :class:`UserSource`."""

    supports_write_back = False

    def __init__(
        self,
        users_path: str | Path,
        events_path: str | Path | None = None,
        *,
        max_record_bytes: int = MAX_RECORD_BYTES,
        workers: int | None = None,
    ) -> None:
        """``workers``: processes for the metadata scan of a large uncompressed JSON-lines users file
        (0: none); None takes :func:`cio_desktop.parallel.scan_workers`."""
        if max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be at least 1, not {max_record_bytes}")
        if not str(users_path).strip():
            raise SourceError("No users file is set. Pick a Hull export file (.jsonl, .json or .csv).")
        self.users_path = Path(users_path).expanduser().absolute()
        self.events_path = (
            Path(events_path).expanduser().absolute() if events_path and str(events_path).strip() else None
        )
        # A longer line, array element or CSV row is a bad row, read past without being held.
        self.max_record_bytes = max_record_bytes
        self.workers = workers
        self._users_meta_memo: tuple[dict[str, Any], UsersMeta] | None = None
        self._events_meta_memo: tuple[dict[str, Any], EventsMeta] | None = None
        self._user_problems = ProblemLog()
        self._event_problems = ProblemLog()
        # Lines in the byte range the last ranged read of users went through (iter_users_raw).
        self.range_lines = 0
        # One metadata pass at a time: GUI workers may ask for segments and attributes at once.
        self._meta_lock = threading.RLock()

    # ------------------------------------------------------------------ UserSource
    def describe(self) -> str:
        if self.events_path:
            return f"Export files {self.users_path.name} + {self.events_path.name}"
        return f"Export file {self.users_path.name}"

    def check(self) -> str:
        users_shape = detect_format(self.users_path, "users file")
        parts = [self._check_one(self.users_path, users_shape, "users file")]
        if self.events_path:
            events_shape = self._events_shape()
            parts.append(self._check_one(self.events_path, events_shape, "events file"))
        return " and ".join(parts) + (" are readable" if len(parts) > 1 else " is readable")

    def segments(self) -> list[Segment]:
        return [Segment(sid, name, size) for sid, name, size in self._users_meta().segments]

    def attributes(self) -> list[Attribute]:
        return [Attribute(key, kind) for key, kind in self._users_meta().attributes]

    def event_names(self) -> list[EventName]:
        if not self.events_path:
            return []
        return [EventName(name, count) for name, count in self._events_meta().names]

    def count_users(self, segment_ids: Sequence[str] | None) -> int | None:
        meta = self._users_meta()
        if segment_ids is None:
            return meta.users
        wanted = set(segment_ids)
        if not wanted:
            return 0
        if meta.combinations is None:
            return None
        return sum(count for ids, count in meta.combinations if wanted.intersection(ids))

    def problems(self) -> list[SourceProblem]:
        """Every problem kept from the last iterations: users', then events' (lost records first)."""
        return [*self.read_report(Stream.USERS).problems, *self.read_report(Stream.EVENTS).problems]

    def read_report(self, stream: Stream) -> ReadReport:
        if stream is Stream.USERS:
            return self._user_problems.report(self.users_path)
        return self._event_problems.report(self.events_path or "")

    def iter_users(
        self,
        segment_ids: Sequence[str] | None,
        *,
        updated_since: float | None = None,
    ) -> Iterator[HullUser]:
        """Users in file order. ``updated_since`` keeps users whose ``updated_at`` is at or after it;
        a user without a readable ``updated_at`` is always kept (it might have changed)."""
        for user, _raw, _offset in self.iter_users_raw(segment_ids, updated_since=updated_since):
            yield user

    def iter_users_raw(
        self,
        segment_ids: Sequence[str] | None,
        *,
        updated_since: float | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> Iterator[tuple[HullUser, bytes | None, int]]:
        """:meth:`iter_users`, each user with the bytes of its line when ``normalize_user(orjson.loads(raw))``
        gives that user again (a JSON-lines row read the fast way), else None, and where those bytes start
        in the file (uncompressed: in its decompressed stream). A process that reads the file for another
        (sync/read_ahead.py) tells where the line is instead of pickling the user.

        ``byte_range`` (start, end): only the lines of those bytes of an uncompressed JSON-lines file
        (``start`` at a line start, :func:`~cio_desktop.hull.files_scan.split_ranges`), for a reading
        process of several; problems then carry line numbers counted from the range's first line, and
        :attr:`range_lines` tells how many lines the range held. A file with duplicate ids is read
        whole (which row of an id counts is decided by its ordinal in the whole file)."""
        if byte_range is not None and self._users_meta().duplicates:
            raise SourceError(f"{self.users_path.name} has duplicate user ids: it is read whole, not in ranges.")
        self._user_problems = ProblemLog()
        if segment_ids is not None and not segment_ids:
            return
        meta = self._users_meta()
        wanted = None if segment_ids is None else set(segment_ids)
        keep = meta.duplicates
        log = self._user_problems
        name = str(self.users_path)
        for ordinal, line, user, _, raw, offset in self._read_user_rows(log.add, byte_range=byte_range):
            if keep:
                key = duplicate_key(user["id"])
                if key in keep and keep[key] != ordinal:
                    log.add(
                        SourceProblem(
                            name,
                            line,
                            f"user {user['id']} appears again later; the later row is used",
                            ProblemKind.DUPLICATE,
                        )
                    )
                    continue
            if wanted is not None and wanted.isdisjoint(user["segment_ids"]):
                continue
            if updated_since is not None:
                updated = parse_hull_date(user.get("updated_at"))
                if updated is not None and updated < updated_since:
                    continue
            yield user, raw, offset

    def iter_connector_created(self, segment_ids: Sequence[str]) -> Iterator[HullUser]:
        """Every user, for the full run's look outside ``segment_ids`` for the people Hull's hosted
        connector created (the caller keeps those outside and marked); nothing at all when the
        metadata shows that no user outside them carries the mark, so that look costs no second read."""
        marked = self._users_meta().connector_marked
        wanted = set(segment_ids)
        if marked is not None and not any(wanted.isdisjoint(ids) for ids, _count in marked):
            return iter(())
        return self.iter_users(None)

    def get_user(self, hull_id: str) -> HullUser | None:
        """The user with this Hull id: reads the users file until the row that counts for it (a
        user listed twice is the later row, as in :meth:`iter_users`), then stops."""
        self._user_problems = ProblemLog()
        if not hull_id:
            return None
        keep = self._users_meta().duplicates
        for ordinal, _line, user, _ in self._read_users(self._user_problems.add):
            if user["id"] != hull_id:
                continue
            if keep:
                key = duplicate_key(user["id"])
                if key in keep and keep[key] != ordinal:
                    continue  # a later row of the same user wins
            return user
        return None

    def iter_events(self, names: Sequence[str], *, since: float | None = None) -> Iterator[HullEvent]:
        """Events named in ``names`` created strictly after ``since``, oldest first (ties in file
        order), as the API source does: the engine's checkpoint never sits on a time an unfinished
        event shares."""
        self._event_problems = ProblemLog()
        wanted = set(names)
        if not self.events_path or not wanted:
            return
        meta = self._events_meta()
        selected = (
            event
            for event in self._read_events(self._event_problems.add)
            if event.name in wanted and (since is None or event.created_at > since)
        )
        if meta.in_order:
            yield from selected
        else:
            yield from sorted_by_time(selected)

    # ------------------------------------------------------------------ summary for the GUI
    def scan(self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> FileSummary:
        """Read the metadata (one streaming pass per file, or the cache) and summarise it.
        Raises SourceError for unusable files, ScanCancelled when ``cancel`` is set."""
        users = self._users_meta(on_progress, cancel)
        events = self._events_meta(on_progress, cancel) if self.events_path else None
        problems = [*users.problems, *(events.problems if events else [])][:SUMMARY_PROBLEMS]
        return FileSummary(
            users=users.users,
            segments=tuple(Segment(i, n, s) for i, n, s in users.segments),
            attributes=tuple(Attribute(k, t) for k, t in users.attributes),
            events=tuple(EventName(n, c) for n, c in events.names) if events else (),
            bad_rows=users.bad_rows + (events.bad_rows if events else 0),
            problems=tuple(problems),
            users_format=_format_label(FileFormat(users.format), users.gzip),
            duplicate_users=users.duplicate_rows,
            events_total=events.total if events else 0,
            events_in_order=events.in_order if events else True,
            user_bad_rows=users.bad_rows,
        )

    # ------------------------------------------------------------------ internals
    def _check_one(self, path: Path, shape: FileShape, what: str) -> str:
        reader = READERS[shape.format]
        with OpenedFile(path, what) as opened, contextlib.closing(reader(opened, self.max_record_bytes)) as items:
            for item in items:
                if isinstance(item, Row):
                    break
        return f"{path.name} ({_format_label(shape.format, shape.gzip)}, {_size_label(path.stat().st_size)})"

    def _events_shape(self) -> FileShape:
        assert self.events_path is not None
        shape = detect_format(self.events_path, "events file")
        if shape.format is FileFormat.CSV:
            raise SourceError(
                f"The events file {self.events_path} is CSV; events must be JSON lines "
                "(one Hull event object per line)."
            )
        return shape

    def _records(
        self,
        path: Path,
        shape: FileShape,
        what: str,
        report: Callable[[SourceProblem], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[Row]:
        reader = READERS[shape.format]
        with OpenedFile(path, what) as opened, contextlib.closing(reader(opened, self.max_record_bytes)) as items:
            count = 0
            for item in items:
                if isinstance(item, Row):
                    count += 1
                    if progress is not None and count % PROGRESS_EVERY == 0:
                        progress(opened.position(), count)
                    yield item
                else:
                    report(item)

    def _read_users(
        self,
        report: Callable[[SourceProblem], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[int, int, HullUser, SegmentPairs]]:
        """(ordinal, line, user, segment pairs) for each usable row; ordinals count usable rows,
        so the scan and later iterations agree on them."""
        for ordinal, line, user, pairs, _raw, _offset in self._read_user_rows(report, progress):
            yield ordinal, line, user, pairs

    def _read_user_rows(
        self,
        report: Callable[[SourceProblem], None],
        progress: Callable[[int, int], None] | None = None,
        *,
        byte_range: tuple[int, int] | None = None,
    ) -> Iterator[tuple[int, int, HullUser, SegmentPairs, bytes | None, int]]:
        """:meth:`_read_users` with each row's bytes and where they start in the file (:attr:`Row.raw`,
        :attr:`Row.offset`); ``byte_range``: see :meth:`iter_users_raw`."""
        shape = detect_format(self.users_path, "users file")
        name = str(self.users_path)
        ordinal = 0
        if byte_range is None:
            rows = self._records(self.users_path, shape, "users file", report, progress)
            start = 0
        else:
            if not can_split(shape):
                raise SourceError(f"{self.users_path.name} cannot be read in ranges (only uncompressed JSON lines).")
            rows = self._range_records(byte_range, report)
            start = byte_range[0]
        for row in rows:
            result = normalize_user(row.value)
            if isinstance(result, str):
                report(SourceProblem(name, row.line, result))
                continue
            yield ordinal, row.line, result[0], result[1], row.raw, (row.offset + start if row.offset >= 0 else -1)
            ordinal += 1

    def _range_records(self, byte_range: tuple[int, int], report: Callable[[SourceProblem], None]) -> Iterator[Row]:
        start, end = byte_range
        self.range_lines = 0
        with files_scan.RangeFile(self.users_path, start, end) as opened:
            items = read_json_lines(opened, self.max_record_bytes, at_file_start=start == 0)
            with contextlib.closing(items):
                for item in items:
                    if isinstance(item, Row):
                        yield item
                    else:
                        report(item)
            self.range_lines = opened.range.line_breaks

    def _read_events(
        self,
        report: Callable[[SourceProblem], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[HullEvent]:
        assert self.events_path is not None
        shape = self._events_shape()
        name = str(self.events_path)
        for row in self._records(self.events_path, shape, "events file", report, progress):
            event = normalize_event(row.value)
            if isinstance(event, str):
                report(SourceProblem(name, row.line, event))
                continue
            yield event

    def _progress(
        self,
        path: Path,
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> Callable[[int, int], None] | None:
        if on_progress is None and cancel is None:
            return None
        total = path.stat().st_size

        def report(position: int, records: int) -> None:
            if cancel is not None and cancel.is_set():
                raise ScanCancelled(f"Reading {path.name} was cancelled.")
            if on_progress is not None:
                on_progress(ScanProgress(str(path), min(position, total), total, records))

        return report

    # ------------------------------------------------------------------ a reading process (sync/read_ahead.py)
    def users_meta_for_reader(self) -> tuple[dict[str, Any], UsersMeta]:
        """The users file's metadata and its cache key, for a process that reads the same file."""
        with self._meta_lock:
            meta = self._users_meta()
            assert self._users_meta_memo is not None
            return self._users_meta_memo[0], meta

    def adopt_users_meta(self, key: dict[str, Any], meta: UsersMeta) -> None:
        """Use ``meta`` as the users file's metadata while the file's cache key stays ``key`` (a reading
        process: the run's process already has it, no scan again)."""
        with self._meta_lock:
            self._users_meta_memo = (key, meta)

    def reset_user_problems(self) -> None:
        """Forget the problems of the last iteration of users (a reading process reads the next one)."""
        self._user_problems = ProblemLog()

    def adopt_user_problems(self, log: ProblemLog) -> None:
        """The problems a reading process met iterating users: this source's read report from now."""
        self._user_problems = log

    def user_problem_log(self) -> ProblemLog:
        return self._user_problems

    def _users_meta(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> UsersMeta:
        with self._meta_lock:
            return self._users_meta_locked(on_progress, cancel)

    def _users_meta_locked(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> UsersMeta:
        key = cache_key(self.users_path, "users file", self.max_record_bytes)
        if self._users_meta_memo and self._users_meta_memo[0] == key:
            return self._users_meta_memo[1]
        meta = cached_meta(
            self.users_path,
            "users",
            key,
            UsersMeta.from_json,
            lambda: self._scan_users(self._progress(self.users_path, on_progress, cancel)),
        )
        self._users_meta_memo = (key, meta)
        return meta

    def _scan_users(self, progress: Callable[[int, int], None] | None) -> UsersMeta:
        shape = detect_format(self.users_path, "users file")
        if can_split(shape) and self.users_path.stat().st_size >= files_scan.RANGES_MIN_BYTES:
            workers = self._worker_count()
            return scan_users_in_ranges(self.users_path, shape, self.max_record_bytes, workers, progress)
        return scan_users_serial(shape, self._read_users, progress)

    def _worker_count(self) -> int:
        if self.workers is not None:
            return self.workers
        try:
            return scan_workers()
        except WorkersSettingError as exc:
            raise SourceError(f"{exc}. Fix that setting to read {self.users_path.name}.") from None

    def _events_meta(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> EventsMeta:
        with self._meta_lock:
            return self._events_meta_locked(on_progress, cancel)

    def _events_meta_locked(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> EventsMeta:
        assert self.events_path is not None
        key = cache_key(self.events_path, "events file", self.max_record_bytes)
        if self._events_meta_memo and self._events_meta_memo[0] == key:
            return self._events_meta_memo[1]
        path = self.events_path
        meta = cached_meta(
            path,
            "events",
            key,
            EventsMeta.from_json,
            lambda: self._scan_events(self._progress(path, on_progress, cancel)),
        )
        self._events_meta_memo = (key, meta)
        return meta

    def _scan_events(self, progress: Callable[[int, int], None] | None) -> EventsMeta:
        shape = self._events_shape()
        log = ProblemLog(SUMMARY_PROBLEMS)
        names: Counter[str] = Counter()
        in_order = True
        latest = float("-inf")
        total = 0
        for event in self._read_events(log.add, progress):
            total += 1
            names[event.name] += 1
            if event.created_at < latest:
                in_order = False
            latest = max(latest, event.created_at)
        return EventsMeta(
            format=shape.format.value,
            gzip=shape.gzip,
            total=total,
            names=sorted(names.items()),
            bad_rows=log.count,
            problems=log.items,
            in_order=in_order,
        )


__all__ = [
    "FileSource",
    "FileSummary",
    "ScanCancelled",
    "ScanProgress",
    "derived_user_id",
    "segment_id_for_name",
]
