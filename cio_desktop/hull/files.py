"""Hull export files as a user source: the engine syncs them exactly as it syncs the live API.

``FileSource(users_path, events_path=None)`` reads users from JSON lines (``.jsonl``/``.ndjson``),
a JSON array (``.json``) or CSV (``.csv``, header convention in :mod:`cio_desktop.hull.files_csv`),
each optionally gzip-compressed (``.gz`` or detected from the content), and events from an optional
JSON-lines file. Everything is streamed: a 1,000,000-user file never sits in memory, and one record
longer than ``max_record_bytes`` (16 MB unless the profile says otherwise) is skipped as a bad row
instead of being read into memory.

Users come out in Hull's API shape (:mod:`cio_desktop.hull.source`):

- ``segment_ids`` is always a list: the union of ``segment_ids`` and ``segments``
  (``[{"id","name"}]`` or names). A segment given by name only gets a stable id derived from the
  name (:func:`segment_id_for_name`), so the same name is the same segment in every file and run.
  The ``segments`` key itself is not passed on.
- A user without ``id`` gets a stable one derived from ``external_id``, else ``email``, else its
  first anonymous id (:func:`derived_user_id`); a user with none of them is a bad row.
- A user id that appears more than once is yielded once: the last row wins (exports append newer
  rows); the earlier rows are reported as problems.

Metadata (segments with sizes, attributes with inferred types, event names with counts, duplicate
users, whether events are in time order) comes from one streaming pass per file, cached as JSON in
``data_dir()/file-cache/`` keyed by the file's path, size and modification time. :meth:`FileSource.scan`
runs that pass with progress and cancel for the GUI and returns a :class:`FileSummary`.

Events are yielded oldest first. A file already in time order (the usual export) is streamed as it
is; otherwise it is sorted in bounded memory: sorted runs of ``EVENT_SORT_CHUNK`` events are spilled
to a temporary folder and merged. Events without ``event_id`` get a stable id derived from their
content so a re-sent event is still de-duplicated by Customer.io.

Write-back to Hull is impossible for files: :attr:`FileSource.supports_write_back` is False.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import pickle
import re
import tempfile
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cio_desktop.config import paths
from cio_desktop.config.private import private_opener, write_atomic
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.files_readers import (
    MAX_RECORD_BYTES,
    READERS,
    FileFormat,
    FileShape,
    OpenedFile,
    Row,
    detect_format,
    implies_date,
)
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

CACHE_VERSION = 1
# Problems kept per iteration and kind for the run report; the total is always counted (read_report).
MAX_PROBLEMS_KEPT = 1000
SUMMARY_PROBLEMS = 20
# Distinct segment combinations remembered for exact count_users() of several segments.
MAX_SEGMENT_COMBINATIONS = 10_000
EVENT_SORT_CHUNK = 50_000
PROGRESS_EVERY = 5000
EVENT_TYPES = frozenset({"track", "page", "screen"})

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$")
_FORMAT_LABELS = {FileFormat.JSON_LINES: "JSON lines", FileFormat.JSON_ARRAY: "JSON array", FileFormat.CSV: "CSV"}

# Bits of the kinds of value seen for one attribute, for type inference.
_BOOL, _NUM, _STR, _DATESTR, _JSON = 1, 2, 4, 8, 16


def segment_id_for_name(name: str) -> str:
    """Stable 24-hex id for a segment known only by name (same name -> same id, always)."""
    return hashlib.sha1(f"segment:{name}".encode(), usedforsecurity=False).hexdigest()[:24]


def derived_user_id(kind: str, value: str) -> str:
    """Stable 24-hex id for a user row without ``id``, from ``kind`` (external_id/email/anonymous_id)."""
    return hashlib.sha1(f"user:{kind}:{value}".encode(), usedforsecurity=False).hexdigest()[:24]


def _id_hash(user_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big")


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


class ScanCancelled(Exception):
    """The caller's cancel event was set during :meth:`FileSource.scan`."""


ProgressCallback = Callable[[ScanProgress], None]


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class _UsersMeta:
    format: str
    gzip: bool
    users: int
    segments: list[tuple[str, str, int]]
    attributes: list[tuple[str, str]]
    bad_rows: int
    problems: list[SourceProblem]
    duplicates: dict[str, int]  # id hash (hex) -> ordinal of the row to keep
    duplicate_rows: int
    combinations: list[tuple[list[str], int]] | None


@dataclass(frozen=True)
class _EventsMeta:
    format: str
    gzip: bool
    total: int
    names: list[tuple[str, int]]
    bad_rows: int
    problems: list[SourceProblem]
    in_order: bool


class _ProblemLog:
    """Problems of one iteration: the first MAX_PROBLEMS_KEPT of each kind kept, all counted.

    Lost records and superseded duplicates are kept apart, so a file with many duplicate ids never
    crowds its real read errors out of the report."""

    def __init__(self, keep: int = MAX_PROBLEMS_KEPT) -> None:
        self.keep = keep
        self.items: list[SourceProblem] = []  # lost records
        self.count = 0
        self.truncated = False
        self.warnings: list[SourceProblem] = []  # duplicates
        self.warning_count = 0

    def add(self, problem: SourceProblem) -> None:
        if not problem.lost:
            self.warning_count += 1
            if len(self.warnings) < self.keep:
                self.warnings.append(problem)
            return
        self.count += 1
        self.truncated = self.truncated or problem.kind is ProblemKind.TRUNCATED
        if len(self.items) < self.keep:
            self.items.append(problem)

    def report(self, file: Path | str) -> ReadReport:
        return ReadReport(
            file=str(file),
            unreadable=self.count,
            truncated=self.truncated,
            duplicates=self.warning_count,
            problems=(*self.items, *self.warnings),
        )


def _cache_file(path: Path, kind: str) -> Path:
    digest = hashlib.sha1(f"{kind}:{path}".encode(), usedforsecurity=False).hexdigest()
    return paths.data_dir() / "file-cache" / f"{digest}.json"


def _stat_key(path: Path, what: str, max_record_bytes: int) -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceError(f"The {what} {path} does not exist. Check the path (or pick the file again).") from None
    except OSError as exc:
        raise SourceError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from None
    # The record limit decides which rows are readable, hence the counts and row ordinals cached.
    return {
        "version": CACHE_VERSION,
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "max_record_bytes": max_record_bytes,
    }


def _load_cache(path: Path, kind: str, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(_cache_file(path, kind).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    meta = data.get("meta")
    return meta if isinstance(meta, dict) else None


def _save_cache(path: Path, kind: str, key: dict[str, Any], meta: dict[str, Any]) -> None:
    try:
        write_atomic(_cache_file(path, kind), json.dumps({"key": key, "meta": meta}).encode("utf-8"))
    except OSError:
        pass  # a cache that cannot be written only costs a rescan next time


def _problems_to_json(problems: list[SourceProblem]) -> list[dict[str, Any]]:
    return [asdict(p) for p in problems]


def _problems_from_json(raw: list[dict[str, Any]]) -> list[SourceProblem]:
    return [
        SourceProblem(str(p["file"]), int(p["line"]), str(p["reason"]), ProblemKind(p.get("kind", "unreadable")))
        for p in raw
    ]


def _users_meta_to_json(meta: _UsersMeta) -> dict[str, Any]:
    data = asdict(meta)
    data["problems"] = _problems_to_json(meta.problems)
    return data


def _users_meta_from_json(data: dict[str, Any]) -> _UsersMeta:
    combos = data["combinations"]
    return _UsersMeta(
        format=str(data["format"]),
        gzip=bool(data["gzip"]),
        users=int(data["users"]),
        segments=[(str(i), str(n), int(s)) for i, n, s in data["segments"]],
        attributes=[(str(k), str(t)) for k, t in data["attributes"]],
        bad_rows=int(data["bad_rows"]),
        problems=_problems_from_json(data["problems"]),
        duplicates={str(k): int(v) for k, v in data["duplicates"].items()},
        duplicate_rows=int(data["duplicate_rows"]),
        combinations=None if combos is None else [([str(s) for s in ids], int(n)) for ids, n in combos],
    )


def _events_meta_to_json(meta: _EventsMeta) -> dict[str, Any]:
    data = asdict(meta)
    data["problems"] = _problems_to_json(meta.problems)
    return data


def _events_meta_from_json(data: dict[str, Any]) -> _EventsMeta:
    return _EventsMeta(
        format=str(data["format"]),
        gzip=bool(data["gzip"]),
        total=int(data["total"]),
        names=[(str(n), int(c)) for n, c in data["names"]],
        bad_rows=int(data["bad_rows"]),
        problems=_problems_from_json(data["problems"]),
        in_order=bool(data["in_order"]),
    )


_KIND_OF_TYPE: dict[type, int] = {bool: _BOOL, int: _NUM, float: _NUM, list: _STR, dict: _JSON}


def _value_kind(value: Any, known: int) -> int:
    if type(value) is str:
        if known & _STR:
            return _STR  # already a plain string attribute: skip the date check
        return _DATESTR if _ISO_DATE.match(value) else _STR
    # Hull's schema types an array by its values: lists of tags are "string".
    return _KIND_OF_TYPE.get(type(value), _JSON)


def _attribute_type(key: str, bits: int) -> str:
    if implies_date(key) and bits and not bits & ~(_NUM | _DATESTR):
        return "date"
    if bits == _BOOL:
        return "boolean"
    if bits == _NUM:
        return "number"
    if bits == _DATESTR:
        return "date"
    if bits == _JSON:
        return "json"
    return "string"


@dataclass
class _UserTally:
    """Accumulates the users part of the metadata during one pass."""

    users: int = 0
    segment_names: dict[str, str] = field(default_factory=dict)
    segment_sizes: Counter[str] = field(default_factory=Counter)
    combinations: Counter[str] | None = field(default_factory=Counter)
    kinds: dict[str, int] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)

    def add(self, user: HullUser, names: Iterable[tuple[str, str | None]], with_types: bool) -> None:
        self.users += 1
        for sid, name in names:
            if name and self.segment_names.get(sid, sid) == sid:
                self.segment_names[sid] = name
            else:
                self.segment_names.setdefault(sid, sid)
        ids: list[str] = user["segment_ids"]
        self.segment_sizes.update(ids)
        if self.combinations is not None:
            self.combinations["\x1f".join(sorted(ids))] += 1
            if len(self.combinations) > MAX_SEGMENT_COMBINATIONS:
                self.combinations = None
        if with_types:
            self._add_kinds(user)

    def _add_kinds(self, user: HullUser) -> None:
        kinds, settled = self.kinds, self.settled
        for key in user.keys() - settled:
            value = user[key]
            if value is None or key == "segment_ids":
                continue
            if key == "account" and type(value) is dict:
                for akey, avalue in value.items():
                    if avalue is not None:
                        self._add_kind(f"account.{akey}", avalue)
                continue
            known = kinds.get(key, 0)
            bits = known | _value_kind(value, known)
            if bits != known:
                kinds[key] = bits
                # "string" is final: no further value can change it, so stop looking at this key.
                if _attribute_type(key, bits) == "string":
                    settled.add(key)

    def _add_kind(self, key: str, value: Any) -> None:
        known = self.kinds.get(key, 0)
        bits = known | _value_kind(value, known)
        if bits != known:
            self.kinds[key] = bits


# --------------------------------------------------------------------------- normalising records


def _normalize_user(value: Any) -> tuple[HullUser, list[tuple[str, str | None]]] | str:
    """A user in Hull's API shape plus its (segment id, name) pairs, or why the row is unusable."""
    if not isinstance(value, dict):
        return 'not a JSON object (each user must be an object like {"id": ..., "email": ...})'
    user: HullUser = value
    pairs: list[tuple[str, str | None]] = []
    raw_ids = user.get("segment_ids")
    if raw_ids is not None:
        if not isinstance(raw_ids, list):
            return "segment_ids must be a list of segment ids"
        for sid in raw_ids:
            if isinstance(sid, str | int) and not isinstance(sid, bool) and str(sid):
                pairs.append((str(sid), None))
            else:
                return f"segment_ids holds {sid!r}, which is not a segment id"
    segments = user.pop("segments", None)
    if segments is not None:
        if not isinstance(segments, list):
            return 'segments must be a list of {"id", "name"} objects or segment names'
        for seg in segments:
            if isinstance(seg, str) and seg:
                pairs.append((segment_id_for_name(seg), seg))
            elif isinstance(seg, dict):
                name = seg.get("name")
                sid = seg.get("id")
                if not sid and isinstance(name, str) and name:
                    sid = segment_id_for_name(name)
                if not sid:
                    return "a segment has neither an id nor a name"
                pairs.append((str(sid), name if isinstance(name, str) and name else None))
            else:
                return f"segments holds {seg!r}, which is neither a segment object nor a name"
    user["segment_ids"] = list(dict.fromkeys(sid for sid, _ in pairs))
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id:
        if user_id is not None and not isinstance(user_id, str) and not isinstance(user_id, bool):
            user["id"] = str(user_id)
        else:
            for kind in ("external_id", "email"):
                other = user.get(kind)
                if isinstance(other, str) and other:
                    user["id"] = derived_user_id(kind, other)
                    break
            else:
                anonymous = user.get("anonymous_ids")
                if isinstance(anonymous, list) and anonymous and isinstance(anonymous[0], str) and anonymous[0]:
                    user["id"] = derived_user_id("anonymous_id", anonymous[0])
                else:
                    return "the user has no id, external_id, email or anonymous id"
    return user, pairs


def _str_field(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _normalize_event(value: Any) -> HullEvent | str:
    """A HullEvent from one record of the events file, or why the record is unusable."""
    if not isinstance(value, dict):
        return 'not a JSON object (each event must be an object like {"event": ..., "created_at": ...})'
    name = value.get("event")
    if not isinstance(name, str) or not name:
        return 'the event has no name ("event")'
    created = parse_hull_date(value.get("created_at"))
    if created is None:
        return f"created_at {value.get('created_at')!r} is not a date (use ISO 8601 or Unix seconds)"
    properties = value.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return "properties must be a JSON object"
    user_id = _str_field(value, "user_id")
    external_id = _str_field(value, "external_id")
    email = _str_field(value, "email")
    anonymous_id = _str_field(value, "anonymous_id")
    if not (user_id or external_id or email or anonymous_id):
        return "the event names no user (user_id, external_id, email or anonymous_id)"
    event_type = _str_field(value, "event_type") or "track"
    if event_type not in EVENT_TYPES:
        event_type = "track"
    event_id = _str_field(value, "event_id") or _str_field(value, "id")
    if not event_id:
        # Deterministic, so a re-sent event is still de-duplicated downstream.
        basis = json.dumps(
            [user_id, external_id, email, anonymous_id, name, created, properties], sort_keys=True, default=str
        )
        event_id = hashlib.sha1(basis.encode(), usedforsecurity=False).hexdigest()[:24]
    return HullEvent(
        event_id=event_id,
        name=name,
        created_at=created,
        user_id=user_id,
        external_id=external_id,
        email=email,
        anonymous_id=anonymous_id,
        event_type=event_type,
        properties=properties,
    )


def _format_label(shape: FileShape) -> str:
    label = _FORMAT_LABELS[shape.format]
    return f"{label} (gzip)" if shape.gzip else label


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
    ) -> None:
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
        self._users_meta_memo: tuple[dict[str, Any], _UsersMeta] | None = None
        self._events_meta_memo: tuple[dict[str, Any], _EventsMeta] | None = None
        self._user_problems = _ProblemLog()
        self._event_problems = _ProblemLog()
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
        self._user_problems = _ProblemLog()
        if segment_ids is not None and not segment_ids:
            return
        meta = self._users_meta()
        wanted = None if segment_ids is None else set(segment_ids)
        keep = meta.duplicates
        log = self._user_problems
        name = str(self.users_path)
        for ordinal, line, user, _ in self._read_users(log.add):
            if keep:
                key = f"{_id_hash(user['id']):016x}"
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
            yield user

    def get_user(self, hull_id: str) -> HullUser | None:
        """The user with this Hull id: reads the users file until the row that counts for it (a
        user listed twice is the later row, as in :meth:`iter_users`), then stops."""
        self._user_problems = _ProblemLog()
        if not hull_id:
            return None
        keep = self._users_meta().duplicates
        for ordinal, _line, user, _ in self._read_users(self._user_problems.add):
            if user["id"] != hull_id:
                continue
            if keep:
                key = f"{_id_hash(user['id']):016x}"
                if key in keep and keep[key] != ordinal:
                    continue  # a later row of the same user wins
            return user
        return None

    def iter_events(self, names: Sequence[str], *, since: float | None = None) -> Iterator[HullEvent]:
        """Events named in ``names`` created strictly after ``since``, oldest first (ties in file
        order), as the API source does: the engine's checkpoint never sits on a time an unfinished
        event shares."""
        self._event_problems = _ProblemLog()
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
            yield from _sorted_by_time(selected)

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
            users_format=_FORMAT_LABELS[FileFormat(users.format)] + (" (gzip)" if users.gzip else ""),
            duplicate_users=users.duplicate_rows,
            events_total=events.total if events else 0,
            events_in_order=events.in_order if events else True,
        )

    # ------------------------------------------------------------------ internals
    def _check_one(self, path: Path, shape: FileShape, what: str) -> str:
        reader = READERS[shape.format]
        with OpenedFile(path, what) as opened, contextlib.closing(reader(opened, self.max_record_bytes)) as items:
            for item in items:
                if isinstance(item, Row):
                    break
        return f"{path.name} ({_format_label(shape)}, {_size_label(path.stat().st_size)})"

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
    ) -> Iterator[tuple[int, int, HullUser, list[tuple[str, str | None]]]]:
        """(ordinal, line, user, segment pairs) for each usable row; ordinals count usable rows,
        so the scan and later iterations agree on them."""
        shape = detect_format(self.users_path, "users file")
        name = str(self.users_path)
        ordinal = 0
        for row in self._records(self.users_path, shape, "users file", report, progress):
            result = _normalize_user(row.value)
            if isinstance(result, str):
                report(SourceProblem(name, row.line, result))
                continue
            yield ordinal, row.line, result[0], result[1]
            ordinal += 1

    def _read_events(
        self,
        report: Callable[[SourceProblem], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[HullEvent]:
        assert self.events_path is not None
        shape = self._events_shape()
        name = str(self.events_path)
        for row in self._records(self.events_path, shape, "events file", report, progress):
            event = _normalize_event(row.value)
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

    def _users_meta(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> _UsersMeta:
        with self._meta_lock:
            return self._users_meta_locked(on_progress, cancel)

    def _users_meta_locked(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> _UsersMeta:
        key = _stat_key(self.users_path, "users file", self.max_record_bytes)
        if self._users_meta_memo and self._users_meta_memo[0] == key:
            return self._users_meta_memo[1]
        cached = _load_cache(self.users_path, "users", key)
        meta: _UsersMeta | None = None
        if cached is not None:
            try:
                meta = _users_meta_from_json(cached)
            except (KeyError, TypeError, ValueError):
                meta = None
        if meta is None:
            meta = self._scan_users(self._progress(self.users_path, on_progress, cancel))
            _save_cache(self.users_path, "users", key, _users_meta_to_json(meta))
        self._users_meta_memo = (key, meta)
        return meta

    def _scan_users(self, progress: Callable[[int, int], None] | None) -> _UsersMeta:
        shape = detect_format(self.users_path, "users file")
        log = _ProblemLog(SUMMARY_PROBLEMS)
        tally = _UserTally()
        # 8 bytes per user: enough to find duplicate ids in a 1,000,000-user file in ~8 MB.
        hashes: array[int] = array("Q")
        for _, _, user, pairs in self._read_users(log.add, progress):
            tally.add(user, pairs, with_types=True)
            hashes.append(_id_hash(user["id"]))
        duplicates: dict[str, int] = {}
        duplicate_rows = 0
        if len(hashes) > 1:
            repeated: set[int] = set()
            previous = -1
            for h in sorted(hashes):
                if h == previous:
                    repeated.add(h)
                previous = h
            if repeated:
                last: dict[int, int] = {}
                for ordinal, h in enumerate(hashes):
                    if h in repeated:
                        last[h] = ordinal
                duplicates = {f"{h:016x}": ordinal for h, ordinal in last.items()}
                duplicate_rows = sum(1 for h in hashes if h in repeated) - len(last)
        del hashes
        if duplicates:
            # Second pass so sizes and counts describe the users actually synced (last row wins).
            kinds = tally.kinds
            tally = _UserTally(kinds=kinds)
            for ordinal, _, user, pairs in self._read_users(lambda _p: None):
                key = f"{_id_hash(user['id']):016x}"
                if key in duplicates and duplicates[key] != ordinal:
                    continue
                tally.add(user, pairs, with_types=False)
        segments = sorted(
            ((sid, tally.segment_names[sid], tally.segment_sizes[sid]) for sid in tally.segment_names),
            key=lambda s: (s[1].lower(), s[0]),
        )
        attributes = sorted((key, _attribute_type(key, bits)) for key, bits in tally.kinds.items())
        combos = tally.combinations
        return _UsersMeta(
            format=shape.format.value,
            gzip=shape.gzip,
            users=tally.users,
            segments=segments,
            attributes=attributes,
            bad_rows=log.count,
            problems=log.items,
            duplicates=duplicates,
            duplicate_rows=duplicate_rows,
            combinations=None
            if combos is None
            else [(key.split("\x1f") if key else [], count) for key, count in combos.items()],
        )

    def _events_meta(
        self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> _EventsMeta:
        with self._meta_lock:
            return self._events_meta_locked(on_progress, cancel)

    def _events_meta_locked(self, on_progress: ProgressCallback | None, cancel: threading.Event | None) -> _EventsMeta:
        assert self.events_path is not None
        key = _stat_key(self.events_path, "events file", self.max_record_bytes)
        if self._events_meta_memo and self._events_meta_memo[0] == key:
            return self._events_meta_memo[1]
        cached = _load_cache(self.events_path, "events", key)
        meta: _EventsMeta | None = None
        if cached is not None:
            try:
                meta = _events_meta_from_json(cached)
            except (KeyError, TypeError, ValueError):
                meta = None
        if meta is None:
            meta = self._scan_events(self._progress(self.events_path, on_progress, cancel))
            _save_cache(self.events_path, "events", key, _events_meta_to_json(meta))
        self._events_meta_memo = (key, meta)
        return meta

    def _scan_events(self, progress: Callable[[int, int], None] | None) -> _EventsMeta:
        shape = self._events_shape()
        log = _ProblemLog(SUMMARY_PROBLEMS)
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
        return _EventsMeta(
            format=shape.format.value,
            gzip=shape.gzip,
            total=total,
            names=sorted(names.items()),
            bad_rows=log.count,
            problems=log.items,
            in_order=in_order,
        )


def _sorted_by_time(events: Iterable[HullEvent], chunk: int = EVENT_SORT_CHUNK) -> Iterator[HullEvent]:
    """Events oldest first in bounded memory: sorted runs of ``chunk`` events spilled to temporary
    files, then merged. Ties keep file order."""
    with tempfile.TemporaryDirectory(prefix="cio-desktop-events-") as folder:
        runs: list[Path] = []
        buffer: list[tuple[float, int, HullEvent]] = []
        for seq, event in enumerate(events):
            buffer.append((event.created_at, seq, event))
            if len(buffer) >= chunk:
                runs.append(_spill(sorted(buffer, key=_sort_key), Path(folder), len(runs)))
                buffer = []
        buffer.sort(key=_sort_key)
        if not runs:
            for _, _, event in buffer:
                yield event
            return
        if buffer:
            runs.append(_spill(buffer, Path(folder), len(runs)))
            buffer = []
        for _, _, event in heapq.merge(*(_read_run(run) for run in runs), key=_sort_key):
            yield event


def _sort_key(item: tuple[float, int, HullEvent]) -> tuple[float, int]:
    return item[0], item[1]


def _spill(items: list[tuple[float, int, HullEvent]], folder: Path, index: int) -> Path:
    path = folder / f"run-{index}.pickle"
    with open(path, "wb", opener=private_opener) as out:  # the people's events, so 0600 like the rest
        for item in items:
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[tuple[float, int, HullEvent]]:
    # Only ever reads files this process just wrote into its own temporary folder.
    with path.open("rb") as run:
        while True:
            try:
                yield pickle.load(run)  # noqa: S301
            except EOFError:
                return
