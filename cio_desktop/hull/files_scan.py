"""The metadata pass over a users file (:class:`~cio_desktop.hull.files_meta.UsersMeta`): in one
go, or for a large uncompressed JSON-lines file range by range, in worker processes where there are.

Serial (:func:`scan_users_serial`): every usable row is tallied (:class:`UserTally`) and its id hashed;
when an id repeats, a second pass tallies only the rows that count (the last of each id), so sizes and
counts describe the users actually synced.

In ranges (:func:`scan_users_in_ranges`): a JSON-lines file splits safely at line breaks, so it is cut
into byte ranges that start at line starts (:func:`split_ranges`), several per worker so progress
and cancel are fine-grained. A worker (:func:`scan_range`) reads its range with the same reader,
normalisation and problem detection as the serial pass and returns its partial tally, the id hashes
of its usable rows in order (an ``array('Q')``, never user dicts), its first problems with line
numbers counted from the range's start, its line count and its usable-row count. The parent merges
the ranges in file order, offsetting line numbers and row ordinals by the ranges before, into the
metadata the serial pass gives. Workers take ranges from the front, a few at a time; the calling
thread scans ranges from the back meanwhile (the same function), so its core is not idle and the
workers' start-up (about 0.2 s each) is not waited for. Without workers the calling thread scans
the ranges in order. Either way, after duplicates only the ranges holding a superseded row are read
again; the others keep their first tally. A gzip file cannot be split without reading it all, a
JSON array or a CSV file (quoted line breaks) not at line breaks: those keep the serial pass.

Worker functions are top-level and import no Qt: spawned workers import this module by name.
"""

from __future__ import annotations

import io
import itertools
import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TypeVar, cast

from cio_desktop.hull.files_meta import (
    SUMMARY_PROBLEMS,
    ProblemLog,
    UsersMeta,
    UserTally,
    find_duplicates,
    id_hash,
    superseded_rows,
)
from cio_desktop.hull.files_normalize import SegmentPairs, normalize_user
from cio_desktop.hull.files_readers import FileFormat, FileShape, OpenedFile, Row, read_json_lines
from cio_desktop.hull.source import HullUser, SourceError, SourceProblem
from cio_desktop.parallel import process_pool

# Below this size the serial pass: a worker's start (about 0.2 s of Python start-up) costs more than
# it saves, and a second pass (after duplicates) is short anyway.
RANGES_MIN_BYTES = 32 << 20
# Bytes per range: a range is the unit of progress and of cancel (about 0.1 s of one worker's time).
RANGE_BYTES = 8 << 20
# A range's tally with more segment combinations than this is not kept for the second pass.
KEEP_COMBINATIONS = 1000
# How often the parent looks at the cancel event while no range completes.
POLL_SECONDS = 0.1
_FIND_CHUNK = 1 << 16

# (ordinal, line, user, segment pairs) of each usable row, problems to ``report``, progress to
# ``progress(position, records)``: FileSource._read_users.
ReadUsers = Callable[
    [Callable[[SourceProblem], None], Callable[[int, int], None] | None],
    Iterator[tuple[int, int, HullUser, SegmentPairs]],
]
Progress = Callable[[int, int], None]
T = TypeVar("T")


def can_split(shape: FileShape) -> bool:
    """Whether a file of this shape can be scanned in ranges (uncompressed JSON lines only)."""
    return shape.format is FileFormat.JSON_LINES and not shape.gzip


def _users_meta(
    shape: FileShape,
    tally: UserTally,
    bad_rows: int,
    problems: list[SourceProblem],
    duplicates: dict[str, int],
    duplicate_rows: int,
) -> UsersMeta:
    return UsersMeta(
        format=shape.format.value,
        gzip=shape.gzip,
        users=tally.users,
        segments=tally.segments(),
        attributes=tally.attributes(),
        bad_rows=bad_rows,
        problems=problems,
        duplicates=duplicates,
        duplicate_rows=duplicate_rows,
        combinations=tally.segment_combinations(),
        connector_marked=tally.connector_marked(),
    )


def _kept(
    users: Iterator[tuple[int, int, HullUser, SegmentPairs]], skip: array[int]
) -> Iterator[tuple[HullUser, SegmentPairs]]:
    """The rows whose ordinal is not in ``skip`` (ascending)."""
    position = 0
    for ordinal, _line, user, pairs in users:
        if position < len(skip) and skip[position] == ordinal:
            position += 1
            continue
        yield user, pairs


# --------------------------------------------------------------------------- serial


def scan_users_serial(shape: FileShape, read_users: ReadUsers, progress: Progress | None) -> UsersMeta:
    """The metadata pass in the calling thread (``progress`` may raise to cancel it)."""
    log = ProblemLog(SUMMARY_PROBLEMS)
    tally = UserTally()
    hashes: array[int] = array("Q")
    for _, _, user, pairs in read_users(log.add, progress):
        tally.add(user, pairs, with_types=True)
        hashes.append(id_hash(user["id"]))
    duplicates, duplicate_rows = find_duplicates(hashes)
    if duplicates:
        skip = superseded_rows(hashes, duplicates)
        del hashes
        # Second pass so sizes and counts describe the users actually synced (last row wins).
        tally = UserTally(kinds=tally.kinds)
        for user, pairs in _kept(read_users(lambda _p: None, None), skip):
            tally.add(user, pairs, with_types=False)
    return _users_meta(shape, tally, log.count, log.items, duplicates, duplicate_rows)


# --------------------------------------------------------------------------- ranges


class _RangeStream:
    """``size`` bytes of a file from where it is positioned, counting the line breaks read."""

    def __init__(self, raw: io.BufferedReader, size: int) -> None:
        self.raw = raw
        self.left = size
        self.line_breaks = 0

    def read1(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.raw.read1(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        self.line_breaks += data.count(b"\n")
        return data

    read = read1

    def close(self) -> None:
        pass  # the file is closed by RangeFile


class RangeFile(OpenedFile):
    """The bytes ``start`` to ``end`` of an uncompressed file, opened for a reader."""

    def __init__(self, path: Path, start: int, end: int) -> None:  # no super(): nothing to detect
        self.path = path
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise SourceError(f"The users file {path} cannot be read: {exc.strerror or exc}.") from None
        raw.seek(start)
        self.gzip = False
        self.raw = raw
        self.range = _RangeStream(raw, end - start)
        self.stream = cast(IO[bytes], self.range)

    def __enter__(self) -> RangeFile:
        return self


def _line_start(file: IO[bytes], position: int, size: int) -> int:
    """The first line start at or after ``position`` (``size`` when none), read in bounded chunks."""
    if position <= 0:
        return 0
    file.seek(position - 1)
    offset = position - 1
    while True:
        chunk = file.read(_FIND_CHUNK)
        if not chunk:
            return size
        found = chunk.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(chunk)


def split_ranges(path: Path, size: int, count: int) -> list[tuple[int, int]]:
    """At most ``count`` non-empty byte ranges covering ``size`` bytes of ``path``, each starting at a
    line start: about equal, except where a line is longer than a range (it stays whole)."""
    bounds = [0]
    with path.open("rb") as file:
        for part in range(1, count):
            start = _line_start(file, max(size * part // count, bounds[-1]), size)
            if start >= size:
                break  # no line starts further on: the later parts would read to the end again
            if start > bounds[-1]:
                bounds.append(start)
    bounds.append(size)
    return [(start, end) for start, end in itertools.pairwise(bounds) if end > start]


@dataclass
class RangeScan:
    """What a worker learnt from one range: line numbers are counted from the range's first line."""

    tally: UserTally
    hashes: array[int]  # id hashes of the usable rows, in order
    problems: list[SourceProblem]  # the first SUMMARY_PROBLEMS lost records
    bad_rows: int
    lines: int  # line breaks in the range: the next range's first line is this many further on
    records: int  # rows read (usable or not), for progress


def scan_range(path: str, start: int, end: int, max_record: int) -> RangeScan:
    """Worker: the first pass over the bytes ``start`` to ``end`` of a JSON-lines users file, read as
    FileSource._read_users reads the whole file."""
    log = ProblemLog(SUMMARY_PROBLEMS)
    tally = UserTally()
    hashes: array[int] = array("Q")
    records = 0
    with RangeFile(Path(path), start, end) as opened:
        for item in read_json_lines(opened, max_record, at_file_start=start == 0):
            if not isinstance(item, Row):
                log.add(item)
                continue
            records += 1
            result = normalize_user(item.value)
            if isinstance(result, str):
                log.add(SourceProblem(path, item.line, result))
                continue
            user, pairs = result
            tally.add(user, pairs, with_types=True)
            hashes.append(id_hash(user["id"]))
        lines = opened.range.line_breaks  # the reader reads its stream to the end
    return RangeScan(tally, hashes, log.items, log.count, lines, records)


def tally_range(path: str, start: int, end: int, max_record: int, skip: array[int]) -> UserTally:
    """Worker: the second pass over a range, of its usable rows but those whose ordinal within the
    range is in ``skip`` (superseded by a later row of the same id)."""
    tally = UserTally()
    for user, pairs in _kept(_range_rows(path, start, end, max_record), skip):
        tally.add(user, pairs, with_types=False)
    return tally


def _range_rows(path: str, start: int, end: int, max_record: int) -> Iterator[tuple[int, int, HullUser, SegmentPairs]]:
    """(ordinal, line, user, pairs) of the usable rows of a range, problems ignored."""
    with RangeFile(Path(path), start, end) as opened:
        ordinal = 0
        for item in read_json_lines(opened, max_record, at_file_start=start == 0):
            if isinstance(item, Row):
                result = normalize_user(item.value)
                if not isinstance(result, str):
                    yield ordinal, item.line, result[0], result[1]
                    ordinal += 1


# --------------------------------------------------------------------------- parallel


def _in_order(
    count: int,
    sizes: list[int],
    submit: Callable[[int], Future[T]],
    run_here: Callable[[int], T],
    ahead: int,
    tick: Callable[[int], None],
) -> Iterator[T]:
    """The results of calls 0 to ``count - 1`` in order, each as soon as it and those before it are
    done. Workers get calls from the front, ``ahead`` unfinished at most (``submit(i)``); meanwhile the
    calling thread runs calls from the back itself (``run_here(i)``), so its core works too and the
    workers' start-up is not waited for. ``tick(bytes of the calls done)`` runs before each result and
    every POLL_SECONDS (it may raise to stop: calls not submitted are then never run)."""
    queued = deque(range(count))
    sent: dict[int, Future[T]] = {}
    here: dict[int, T] = {}
    done_bytes = 0
    following = 0
    while following < count:
        tick(done_bytes)  # also between results that come in a row: cancel is looked at every call
        while queued and sum(not future.done() for future in sent.values()) < ahead:
            index = queued.popleft()
            sent[index] = submit(index)
        if following in here:
            yield here.pop(following)
            following += 1
            continue
        future = sent.get(following)
        if future is not None and future.done():
            del sent[following]
            done_bytes += sizes[following]
            yield future.result()
            following += 1
            continue
        if queued:
            index = queued.pop() if ahead else queued.popleft()  # no workers: in order, nothing held
            here[index] = run_here(index)
            done_bytes += sizes[index]
        else:
            # Only the unfinished ones: wait() returns at once while any future it gets is done.
            running = [future for future in sent.values() if not future.done()]
            wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
    tick(done_bytes)


def scan_users_in_ranges(
    path: Path,
    shape: FileShape,
    max_record: int,
    workers: int,
    progress: Progress | None,
    *,
    range_bytes: int | None = None,
) -> UsersMeta:
    """The metadata pass of an uncompressed JSON-lines file range by range, with ``workers`` processes
    (0: all in the calling thread, in order): the same :class:`UsersMeta` as :func:`scan_users_serial`.
    ``progress(bytes, records)`` runs in the calling thread as ranges complete and every POLL_SECONDS;
    when it raises (cancel), the ranges not started are dropped, those running finish (each is
    small), and the exception propagates."""
    size = path.stat().st_size
    ranges = split_ranges(path, size, max(workers, math.ceil(size / (range_bytes or RANGE_BYTES))))
    name = str(path)
    sizes = [end - start for start, end in ranges]
    workers = min(workers, len(ranges))
    ahead = 2 * workers  # one range running and one waiting per worker
    pool = process_pool(workers) if workers else None

    def submit(function: Callable[..., T], *args: object) -> Future[T]:
        assert pool is not None  # nothing is submitted when ahead is 0
        return pool.submit(function, *args)

    try:
        tally = UserTally()
        hashes: array[int] = array("Q")
        problems: list[SourceProblem] = []
        bad_rows = lines = 0
        ticker = _Ticker(progress)
        ordinals: list[int] = []  # the ordinal of each range's first usable row
        reusable: list[UserTally | None] = []  # each range's tally, kept if small, for a second pass
        scans = [(name, start, end, max_record) for start, end in ranges]
        for part in _in_order(
            len(ranges),
            sizes,
            lambda i: submit(scan_range, *scans[i]),
            lambda i: scan_range(*scans[i]),
            ahead,
            ticker,
        ):
            ordinals.append(len(hashes))
            reusable.append(part.tally if _small(part.tally) else None)
            tally.merge(part.tally)
            hashes.extend(part.hashes)
            room = SUMMARY_PROBLEMS - len(problems)
            problems.extend(replace(p, line=p.line + lines) for p in part.problems[:room])
            bad_rows += part.bad_rows
            ticker.records += part.records
            lines += part.lines
        duplicates, duplicate_rows = find_duplicates(hashes)
        if duplicates:
            skip = superseded_rows(hashes, duplicates)
            bounds = [*ordinals, len(hashes)]
            del hashes
            kept = UserTally(kinds=tally.kinds)
            calls = [
                (name, start, end, max_record, _local(skip, first, bounds[i + 1]))
                for i, ((start, end), first) in enumerate(zip(ranges, ordinals, strict=True))
            ]
            # A range none of whose rows is superseded keeps its first tally; only the others are read
            # again (their kinds are in ``kept`` already: the second pass counts, it does not type).
            again = [i for i, call in enumerate(calls) if len(call[4]) or reusable[i] is None]
            tallies = _in_order(
                len(again), [sizes[i] for i in again], lambda k: submit(tally_range, *calls[again[k]]),
                lambda k: tally_range(*calls[again[k]]), ahead, ticker.done,
            )  # fmt: skip
            for i, call in enumerate(calls):
                reused = reusable[i]
                kept.merge(next(tallies) if len(call[4]) or reused is None else reused)
            for _ in tallies:
                pass  # the last tick
            tally = kept
    except BrokenProcessPool:
        raise SourceError(
            f"A worker process stopped while reading {path}. Read it in the app's own process "
            "by setting CIO_DESKTOP_WORKERS=0."
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return _users_meta(shape, tally, bad_rows, problems, duplicates, duplicate_rows)


class _Ticker:
    """Progress of the parallel scan: bytes of the ranges done, rows of those merged."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.records = 0
        self.position = 0

    def __call__(self, position: int) -> None:
        self.position = position
        if self.progress is not None:
            self.progress(position, self.records)

    def done(self, _position: int) -> None:
        """During the second pass: the first pass's end again (the serial scan reports nothing then),
        so cancel is still looked at."""
        if self.progress is not None:
            self.progress(self.position, self.records)


def _small(tally: UserTally) -> bool:
    """Whether a range's tally is small enough to keep until the second pass (memory stays bounded
    whatever the number of segment combinations)."""
    return len(tally.combinations or ()) + len(tally.marked or ()) <= KEEP_COMBINATIONS


def _local(skip: array[int], first: int, end: int) -> array[int]:
    """The ordinals of ``skip`` from ``first`` to before ``end``, counted from ``first``."""
    low = bisect_left(skip, first)
    high = bisect_left(skip, end, low)
    return array("Q", (ordinal - first for ordinal in skip[low:high]))
