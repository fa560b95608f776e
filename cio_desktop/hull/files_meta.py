"""What one streaming pass over an export file learns, and its cache.

Users: segments with sizes, attributes with inferred Hull types, duplicate user ids (the last row of
an id wins, as exports append newer rows), the segment combinations that make ``count_users()`` of
several segments exact, and those of the users Hull's hosted connector marked as created in
Customer.io (a full run's look for them outside the segments reads nothing when there are none).
Events: names with counts, and whether the file is already in time order. Each is cached as JSON in
``data_dir()/file-cache/`` keyed by the file's path, size, modification time and the record size
limit (which decides which rows are readable), so picking the same file again costs nothing.

Also here: :class:`ProblemLog`, the bounded record of a pass's bad rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cio_desktop.config import paths
from cio_desktop.config.private import write_atomic
from cio_desktop.hull.files_readers import implies_date
from cio_desktop.hull.source import HullUser, ProblemKind, ReadReport, SourceError, SourceProblem

CACHE_VERSION = 2  # 2: connector_marked
# Problems kept per iteration and kind for the run report; the total is always counted (read_report).
MAX_PROBLEMS_KEPT = 1000
SUMMARY_PROBLEMS = 20
# Distinct segment combinations remembered for exact count_users() of several segments.
MAX_SEGMENT_COMBINATIONS = 10_000
# The hosted connector's mark on the people it created in Customer.io (see sync/migration.py).
CONNECTOR_CREATED_TRAIT = "traits_customerio/created_at"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$")
# Bits of the kinds of value seen for one attribute, for type inference.
_BOOL, _NUM, _STR, _DATESTR, _JSON = 1, 2, 4, 8, 16
_KIND_OF_TYPE: dict[type, int] = {bool: _BOOL, int: _NUM, float: _NUM, list: _STR, dict: _JSON}
# Whether a text is a date depends only on its shape (every ASCII digit the same, all else kept): the
# verdict per shape is remembered, so most date checks cost a C translate and a lookup, not a regex.
_SHAPE_OF_BYTES = bytes(0x30 if 0x30 <= b <= 0x39 else b for b in range(256))
_DATE_SHAPES: dict[bytes, bool] = {}
MAX_DATE_SHAPES = 4096


def id_hash(user_id: str) -> int:
    """64 bits of a user id: 8 bytes per user find duplicates in a 1,000,000-user file in ~8 MB."""
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big")


def duplicate_key(user_id: str) -> str:
    """The key of :attr:`UsersMeta.duplicates` for a user id."""
    return f"{id_hash(user_id):016x}"


class ProblemLog:
    """Problems of one iteration: the first ``keep`` of each kind kept, all counted.

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


# --------------------------------------------------------------------------- the metadata


def _problems_to_json(problems: list[SourceProblem]) -> list[dict[str, Any]]:
    return [asdict(p) for p in problems]


def _problems_from_json(raw: list[dict[str, Any]]) -> list[SourceProblem]:
    return [
        SourceProblem(str(p["file"]), int(p["line"]), str(p["reason"]), ProblemKind(p.get("kind", "unreadable")))
        for p in raw
    ]


@dataclass(frozen=True)
class UsersMeta:
    format: str
    gzip: bool
    users: int
    segments: list[tuple[str, str, int]]
    attributes: list[tuple[str, str]]
    bad_rows: int
    problems: list[SourceProblem]
    duplicates: dict[str, int]  # duplicate_key(id) -> ordinal of the row to keep
    duplicate_rows: int
    combinations: list[tuple[list[str], int]] | None
    # The segment combinations of the users carrying CONNECTOR_CREATED_TRAIT (None: too many).
    connector_marked: list[tuple[list[str], int]] | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = _problems_to_json(self.problems)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsersMeta:
        combos = data["combinations"]
        marked = data["connector_marked"]
        return cls(
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
            connector_marked=None if marked is None else [([str(s) for s in ids], int(n)) for ids, n in marked],
        )


@dataclass(frozen=True)
class EventsMeta:
    format: str
    gzip: bool
    total: int
    names: list[tuple[str, int]]
    bad_rows: int
    problems: list[SourceProblem]
    in_order: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = _problems_to_json(self.problems)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventsMeta:
        return cls(
            format=str(data["format"]),
            gzip=bool(data["gzip"]),
            total=int(data["total"]),
            names=[(str(n), int(c)) for n, c in data["names"]],
            bad_rows=int(data["bad_rows"]),
            problems=_problems_from_json(data["problems"]),
            in_order=bool(data["in_order"]),
        )


def find_duplicates(hashes: array[int]) -> tuple[dict[str, int], int]:
    """From the id hashes of the usable rows in file order: {duplicate_key: ordinal of the last row}
    for every id seen more than once, and how many earlier rows those later ones supersede."""
    if len(hashes) < 2:
        return {}, 0
    repeated: set[int] = set()
    previous = -1
    for h in sorted(hashes):
        if h == previous:
            repeated.add(h)
        previous = h
    if not repeated:
        return {}, 0
    last: dict[int, int] = {}
    for ordinal, h in enumerate(hashes):
        if h in repeated:
            last[h] = ordinal
    superseded = sum(1 for h in hashes if h in repeated) - len(last)
    return {f"{h:016x}": ordinal for h, ordinal in last.items()}, superseded


def superseded_rows(hashes: array[int], duplicates: dict[str, int]) -> array[int]:
    """The ordinals, ascending, of the rows a later row of the same id supersedes (8 bytes each)."""
    last = {int(key, 16): ordinal for key, ordinal in duplicates.items()}
    rows: array[int] = array("Q")
    for ordinal, h in enumerate(hashes):
        kept = last.get(h)
        if kept is not None and kept != ordinal:
            rows.append(ordinal)
    return rows


# --------------------------------------------------------------------------- attribute types


def _is_date_text(value: str) -> bool:
    try:
        data = value.encode()
    except UnicodeEncodeError:  # lone surrogates, as the standard library's decoder can leave
        data = value.encode("utf-8", "surrogatepass")
    shape = data.translate(_SHAPE_OF_BYTES)
    verdict = _DATE_SHAPES.get(shape)
    if verdict is None:
        verdict = _ISO_DATE.match(value) is not None
        if len(_DATE_SHAPES) < MAX_DATE_SHAPES:
            _DATE_SHAPES[shape] = verdict
    return verdict


def _value_kind(value: Any, known: int) -> int:
    if type(value) is str:
        if known & _STR:
            return _STR  # already a plain string attribute: skip the date check
        return _DATESTR if _is_date_text(value) else _STR
    # Hull's schema types an array by its values: lists of tags are "string".
    return _KIND_OF_TYPE.get(type(value), _JSON)


def attribute_type(key: str, bits: int) -> str:
    """Hull's type for an attribute from the kinds of value seen for it."""
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
class UserTally:
    """Accumulates the users part of the metadata during one pass."""

    users: int = 0
    segment_names: dict[str, str] = field(default_factory=dict)
    segment_sizes: Counter[str] = field(default_factory=Counter)
    combinations: Counter[str] | None = field(default_factory=Counter)
    marked: Counter[str] | None = field(default_factory=Counter)
    kinds: dict[str, int] = field(default_factory=dict)
    # Keys whose type is final (and segment_ids, which is no attribute): not looked at again.
    settled: set[str] = field(default_factory=lambda: {"segment_ids"})
    settled_account: set[str] = field(default_factory=set)  # likewise, of the keys inside ``account``

    def add(self, user: HullUser, names: Iterable[tuple[str, str | None]], with_types: bool) -> None:
        self.users += 1
        segment_names = self.segment_names
        for sid, name in names:
            # The first name given wins; an id stands in for the name until one comes.
            current = segment_names.get(sid)
            if current is None:
                segment_names[sid] = name or sid
            elif name and current == sid:
                segment_names[sid] = name
        ids: list[str] = user["segment_ids"]
        sizes = self.segment_sizes
        for sid in ids:
            sizes[sid] += 1  # cheaper than Counter.update for a handful of ids
        combination = "\x1f".join(sorted(ids))
        if self.combinations is not None:
            self.combinations[combination] += 1
            if len(self.combinations) > MAX_SEGMENT_COMBINATIONS:
                self.combinations = None
        if self.marked is not None and user.get(CONNECTOR_CREATED_TRAIT) not in (None, ""):
            self.marked[combination] += 1
            if len(self.marked) > MAX_SEGMENT_COMBINATIONS:
                self.marked = None
        if with_types:
            self._add_kinds(user)

    def merge(self, later: UserTally) -> None:
        """Fold in the tally of the rows that follow this one's in the file (a parallel scan's next
        range): the result is what one tally of all those rows in order would be, with the same
        attribute types (a key's bits may hold more kinds, only where its type is "string" anyway)."""
        self.users += later.users
        names = self.segment_names
        for sid, name in later.segment_names.items():
            current = names.get(sid)
            if current is None or (current == sid and name != sid):
                names[sid] = name
        self.segment_sizes.update(later.segment_sizes)
        self.combinations = _merged_counts(self.combinations, later.combinations)
        self.marked = _merged_counts(self.marked, later.marked)
        kinds = self.kinds
        for key, bits in later.kinds.items():
            kinds[key] = kinds.get(key, 0) | bits
        self.settled |= later.settled
        self.settled_account |= later.settled_account

    def segments(self) -> list[tuple[str, str, int]]:
        """(id, name, size) by name."""
        return sorted(
            ((sid, self.segment_names[sid], self.segment_sizes[sid]) for sid in self.segment_names),
            key=lambda s: (s[1].lower(), s[0]),
        )

    def attributes(self) -> list[tuple[str, str]]:
        """(key, Hull type) by key."""
        return sorted((key, attribute_type(key, bits)) for key, bits in self.kinds.items())

    def segment_combinations(self) -> list[tuple[list[str], int]] | None:
        """Each distinct set of segments with its number of users; None when there were too many."""
        return _combinations(self.combinations)

    def connector_marked(self) -> list[tuple[list[str], int]] | None:
        """Like :meth:`segment_combinations`, of the users carrying the hosted connector's mark."""
        return _combinations(self.marked)

    def _add_kinds(self, user: HullUser) -> None:
        # The scan's hot loop, hence _value_kind inlined.
        kinds, settled = self.kinds, self.settled
        for key, value in user.items():
            if value is None or key in settled:
                continue
            value_type = type(value)
            known = kinds.get(key, 0)
            if value_type is str:
                if known & _STR:
                    continue
                kind = _DATESTR if _is_date_text(value) else _STR
            elif value_type is dict and key == "account":
                self._add_account_kinds(value)
                continue
            else:
                # Hull's schema types an array by its values: lists of tags are "string".
                kind = _KIND_OF_TYPE.get(value_type, _JSON)
            bits = known | kind
            if bits != known:
                kinds[key] = bits
                # "string" is final: no further value can change it, so stop looking at this key.
                if attribute_type(key, bits) == "string":
                    settled.add(key)

    def _add_account_kinds(self, account: dict[str, Any]) -> None:
        kinds, settled = self.kinds, self.settled_account
        for akey, value in account.items():
            if value is None or akey in settled:
                continue
            key = f"account.{akey}"
            known = kinds.get(key, 0)
            bits = known | _value_kind(value, known)
            if bits != known:
                kinds[key] = bits
                if attribute_type(key, bits) == "string":
                    settled.add(akey)


def _merged_counts(counts: Counter[str] | None, later: Counter[str] | None) -> Counter[str] | None:
    """Combination counts of two consecutive tallies, in first-seen order; None when too many."""
    if counts is None or later is None:
        return None
    for key, count in later.items():
        counts[key] += count
    return None if len(counts) > MAX_SEGMENT_COMBINATIONS else counts


def _combinations(counts: Counter[str] | None) -> list[tuple[list[str], int]] | None:
    if counts is None:
        return None
    return [(key.split("\x1f") if key else [], count) for key, count in counts.items()]


# --------------------------------------------------------------------------- the cache


class _Meta(Protocol):
    def to_json(self) -> dict[str, Any]: ...


M = TypeVar("M", bound=_Meta)


def cache_key(path: Path, what: str, max_record_bytes: int) -> dict[str, Any]:
    """What the cached metadata of ``path`` depends on; raises SourceError when the file is unusable."""
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


def cached_meta(
    path: Path, kind: str, key: dict[str, Any], load: Callable[[dict[str, Any]], M], scan: Callable[[], M]
) -> M:
    """The metadata of ``path`` from the cache when its ``key`` still matches, else ``scan()``ed and
    cached. A cache that is unreadable or of another shape is scanned again."""
    cached = _load_cache(path, kind, key)
    if cached is not None:
        try:
            return load(cached)
        except (KeyError, TypeError, ValueError):
            pass
    meta = scan()
    _save_cache(path, kind, key, meta.to_json())
    return meta


def _cache_file(path: Path, kind: str) -> Path:
    digest = hashlib.sha1(f"{kind}:{path}".encode(), usedforsecurity=False).hexdigest()
    return paths.data_dir() / "file-cache" / f"{digest}.json"


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


__all__ = [
    "CONNECTOR_CREATED_TRAIT",
    "MAX_PROBLEMS_KEPT",
    "SUMMARY_PROBLEMS",
    "EventsMeta",
    "ProblemLog",
    "UserTally",
    "UsersMeta",
    "attribute_type",
    "cache_key",
    "cached_meta",
    "duplicate_key",
    "find_duplicates",
    "id_hash",
    "superseded_rows",
]
