"""Where users and events come from: the Hull REST API or Hull export files.

The sync engine, the preview and the GUI only see :class:`UserSource`; they never know which
implementation they are talking to.

Users are plain dicts in Hull's own user shape (docs/api-contracts.md, "Hull API"):
``id``, ``email``, ``external_id``, ``anonymous_ids`` (list), ``name``, ``created_at``,
``updated_at``, ``segment_ids`` (list of segment ids), custom attributes flat with a ``traits_``
prefix (``traits_clearbit/given_name``), an optional ``account`` object, and the connector's
written-back traits ``traits_customerio/created_at``, ``traits_customerio/deleted_at``,
``traits_customerio/hash``, ``traits_customerio/id``, ``traits_customerio/synced_at``.
Dates may come in any form Hull emits (``2018-03-30T14:38:02Z``, ``+00:00``, ``... UTC``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

HullUser = dict[str, Any]


@dataclass(frozen=True)
class Segment:
    """A Hull user segment. ``size`` is the member count when the source knows it."""

    id: str
    name: str
    size: int | None = None


@dataclass(frozen=True)
class Attribute:
    """A Hull user attribute and its type: string, date, boolean, number, json or event."""

    key: str
    type: str = "string"


@dataclass(frozen=True)
class EventName:
    """A Hull event name with how many were seen when the source knows it."""

    name: str
    count: int | None = None


@dataclass(frozen=True)
class HullEvent:
    """One Hull event of a user.

    ``created_at`` is Unix seconds (float). ``event_type`` is ``track``, ``page`` or ``screen``.
    ``user_id`` is the Hull user id; file sources that only know ``external_id`` or ``email`` fill
    those instead and leave ``user_id`` empty.
    """

    event_id: str
    name: str
    created_at: float
    user_id: str = ""
    external_id: str = ""
    email: str = ""
    anonymous_id: str = ""
    event_type: str = "track"
    properties: dict[str, Any] = field(default_factory=dict)


class ProblemKind(StrEnum):
    """What a :class:`SourceProblem` means for the run."""

    UNREADABLE = "unreadable"  # this record could not be read: whoever it describes is unknown to the run
    TRUNCATED = "truncated"  # the file ends early or is corrupt here: nothing after it could be read
    DUPLICATE = "duplicate"  # a warning: a later row of the same user is used instead of this one


@dataclass(frozen=True)
class SourceProblem:
    """A record the source could not use (bad JSON line, wrong CSV field count, bad bytes, a cut-off
    compressed file) or, with ``kind`` DUPLICATE, a row superseded by a later one (a warning)."""

    file: str
    line: int
    reason: str
    kind: ProblemKind = ProblemKind.UNREADABLE

    @property
    def lost(self) -> bool:
        """Whether data was lost to the run (anything but a superseded duplicate)."""
        return self.kind is not ProblemKind.DUPLICATE


@dataclass(frozen=True)
class ReadReport:
    """What the last complete pass over users (or events) could not use.

    ``unreadable`` counts lost records (a truncated file counts once, though everything after the cut
    is lost: ``truncated`` says so); ``duplicates`` counts rows superseded by a later row of the same
    user, a warning that loses nothing. ``problems`` keeps the first few of each, lost ones first, so
    duplicates never crowd real read errors out. Empty for the API, which either answers or raises.
    """

    file: str = ""
    unreadable: int = 0
    truncated: bool = False
    duplicates: int = 0
    problems: tuple[SourceProblem, ...] = ()

    @property
    def clean(self) -> bool:
        """Every record of the source was read: the only input on which deleting people is safe."""
        return self.unreadable == 0 and not self.truncated

    def describe_loss(self) -> str:
        """One clause for messages: "11 rows of users.jsonl could not be read"."""
        name = Path(self.file).name or "the source"
        if self.truncated:
            others = self.unreadable - 1
            more = f" and {others:,} more {'row' if others == 1 else 'rows'} could not be read" if others > 0 else ""
            return f"{name} is cut short or corrupt, so its end could not be read{more}"
        rows = "row" if self.unreadable == 1 else "rows"
        return f"{self.unreadable:,} {rows} of {name} could not be read"


class SourceError(Exception):
    """The source as a whole cannot be used (bad credentials, missing file...). Message is user-facing."""


class Stream(StrEnum):
    USERS = "users"
    EVENTS = "events"


@runtime_checkable
class UserSource(Protocol):
    """What the engine needs from Hull (live API or export files).

    ``supports_write_back``: whether the connector's ``customerio/*`` traits can be written back to
    Hull for this source (the API: yes; export files: no).
    """

    supports_write_back: bool

    def describe(self) -> str:
        """One line for the UI: "Hull organization acme.hullapp.io" or "users.jsonl (3 files)"."""
        ...

    def check(self) -> str:
        """Verify access (credentials, files readable). Returns a short success message or raises SourceError."""
        ...

    def segments(self) -> list[Segment]: ...

    def attributes(self) -> list[Attribute]: ...

    def event_names(self) -> list[EventName]: ...

    def iter_users(
        self,
        segment_ids: Sequence[str] | None,
        *,
        updated_since: float | None = None,
    ) -> Iterator[HullUser]:
        """Stream users. ``segment_ids=None`` = every user (used to find people who left the segments);
        an empty sequence yields nothing. ``updated_since`` (Unix seconds) keeps users updated after it.
        Each user is yielded exactly once, with ``segment_ids`` filled in."""
        ...

    def iter_events(self, names: Sequence[str], *, since: float | None = None) -> Iterator[HullEvent]:
        """Stream events whose name is in ``names`` created after ``since``, oldest first."""
        ...

    def get_user(self, hull_id: str) -> HullUser | None:
        """The user with this Hull id (with ``segment_ids``), or None. Used by single-person sends:
        the API searches by id, a file source reads until the first match."""
        ...

    def count_users(self, segment_ids: Sequence[str] | None) -> int | None:
        """How many users ``iter_users(segment_ids)`` would yield, or None if unknown (cheap)."""
        ...

    def read_report(self, stream: Stream) -> ReadReport:
        """What the last iteration of ``stream`` could not use (file sources); empty for the API.
        The engine withholds deletions unless the users pass that found them was clean."""
        ...
