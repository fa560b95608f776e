"""The sync engine: source pages -> map + plan -> batches -> sender threads -> ledger (+ write-back).

One :class:`SyncEngine` per profile. :meth:`SyncEngine.run` does a whole run on the calling thread
(the GUI calls it from a worker thread, the CLI from the main thread) and reports through plain
callbacks: ``on_progress`` (throttled :class:`Progress`), ``on_log`` (one human line at a time).
:meth:`SyncEngine.preview` shows what a run would send, user by user, without sending anything.

This module is the engine's public face; a run is made of these parts (docs/architecture.md
"Data flow of one sync"):

- :mod:`~cio_desktop.sync.run`: one run from start to end, and its outcome (status, message, summary);
- :mod:`~cio_desktop.sync.run_users`: the users pass (plan each user), the deletion step, the single send;
- :mod:`~cio_desktop.sync.run_events`: the events pass, held to :mod:`~cio_desktop.sync.checkpoint`;
- :mod:`~cio_desktop.sync.prefetch`: a thread reads the source ahead into a small bounded queue;
- :mod:`~cio_desktop.sync.sender`: sender threads post batches; what Customer.io accepted is written
  to the ledger, then write-back traits go to Hull's firehose;
- :mod:`~cio_desktop.sync.state`: what these parts share (stop, problems, saved progress).

Memory stays flat: at most a few pages and ``2 x concurrency`` batches are alive at any moment.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cio_desktop.config.profile import Profile
from cio_desktop.customerio.track import TrackClient
from cio_desktop.hull.firehose import FirehoseWriter
from cio_desktop.hull.source import HullUser, UserSource
from cio_desktop.sync.batching import DEFAULT_MAX_OPS
from cio_desktop.sync.digest import user_line
from cio_desktop.sync.events import event_label
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.ledger import Ledger
from cio_desktop.sync.model import Action, Decision, MappingContext, Reason
from cio_desktop.sync.objects import account_of, map_object, object_id_of, relationship_operation
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.prefetch import PAGE_SIZE, chunks
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.run import Run
from cio_desktop.sync.state import RunState
from cio_desktop.sync.summary import Problem, RunMode, RunSummary
from cio_desktop.sync.validation import describe

# Incremental runs re-read users updated shortly before the previous run started: Hull's clock and
# this machine's may differ and Hull's search index lags writes by a moment. Unchanged users cost
# no Customer.io request, so the overlap is cheap.
INCREMENTAL_OVERLAP_S = 60.0

__all__ = [
    "INCREMENTAL_OVERLAP_S",
    "AttributeChanges",
    "PreviewRow",
    "Problem",
    "Progress",
    "RunMode",
    "RunSummary",
    "SyncEngine",
    "event_label",
]


@dataclass(frozen=True)
class AttributeChanges:
    """How a person's attributes differ from what Customer.io last accepted (per the ledger)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class PreviewRow:
    """One user of a preview: the decision, the exact operations Customer.io would receive (JSON text
    of the list of batch operations, "" when nothing is sent), the changes since the last sync and a
    one-line description of the user."""

    decision: Decision
    payload: str
    changes: AttributeChanges
    user: str
    # With accounts sent as objects: JSON text of the person's account as an object identify and their
    # add_relationships operation ("" without objects, an account, or when the person is not sent).
    objects: str = ""

    @property
    def label(self) -> str:
        return self.decision.label


class SyncEngine:
    """Runs syncs of one profile. ``track`` may be None for previews and dry runs only.

    ``on_progress`` and ``on_log`` are called from the engine's threads (the caller's and the
    sender threads), progress at most ~5 times a second: a GUI forwards them as queued signals.
    One run at a time per ledger (a second process gets ``Problem.BUSY``).

    ``hull_writer`` receives the write-back traits (``customerio/*``) when ``profile.write_back``
    is on and the source ``supports_write_back`` (the Hull API source). The engine flushes it at the end of each run but
    does not close it.
    """

    def __init__(
        self,
        profile: Profile,
        source: UserSource,
        ledger: Ledger,
        track: TrackClient | None,
        hull_writer: FirehoseWriter | None = None,
        *,
        clock: Callable[[], float] = time.time,
        incremental_overlap_s: float = INCREMENTAL_OVERLAP_S,
        batch_max_ops: int = DEFAULT_MAX_OPS,
    ) -> None:
        self.profile = profile
        self.source = source
        self.ledger = ledger
        self.track = track
        self.hull_writer = hull_writer
        # Traits go back to Hull only where the source can take them (the API; never export files).
        self.write_back = bool(profile.write_back and hull_writer is not None and source.supports_write_back)
        self.clock = clock
        self.incremental_overlap_s = incremental_overlap_s
        # Smaller batches cost more requests but less rework when one fails (tests use few).
        self.batch_max_ops = batch_max_ops

    # ------------------------------------------------------------------ public API
    def run(
        self,
        mode: RunMode | str,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        on_log: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        hull_id: str | None = None,
        allow_deletions: DeletionApproval | None = None,
        dry: bool = False,
        sample: list[tuple[str, dict[str, Any]]] | None = None,
        sample_size: int = 0,
    ) -> RunSummary:
        """Run a sync and return its summary (never raises for problems of the data or services:
        they end up in ``status``/``problem``/``message``). ``allow_deletions`` is the user's
        approval to delete past the deletion guard (never past an incomplete read). ``dry`` plans
        ``mode`` without sending (recorded as a dry run), as :mod:`~cio_desktop.sync.plan` does; ``sample``
        receives the first ``sample_size`` people it would create, with their attributes."""
        mode = RunMode(mode)
        if mode is RunMode.SINGLE and not hull_id:
            raise ValueError("a single send needs the Hull id of the user")
        if mode is not RunMode.DRY_RUN and not dry and self.track is None:
            raise ValueError("sending needs a Customer.io Track client")
        state = RunState(self, mode, on_progress, on_log, cancel or threading.Event(), allow_deletions, dry=dry)
        if sample is not None:
            state.people.sample, state.people.sample_size = sample, sample_size
        return Run(state).execute(hull_id)

    def send_one(self, hull_id: str, **kwargs: Any) -> RunSummary:
        """Send one person now (a test send), even when nothing changed since the last sync."""
        return self.run(RunMode.SINGLE, hull_id=hull_id, **kwargs)

    def context(self) -> MappingContext:
        """The mapping context of this profile (reads segment names and attribute types from the source)."""
        segments = self.source.segments()
        names = {s.id: s.name for s in segments}
        for ref in self.profile.segments:  # names kept in the profile help when the source lacks them
            names.setdefault(ref.id, ref.name)
        types = {a.key: a.type for a in self.source.attributes()}
        return MappingContext(self.profile, names, types)

    def iter_preview(
        self,
        *,
        cancel: threading.Event | None = None,
        match: Callable[[HullUser], bool] | None = None,
    ) -> Iterator[PreviewRow]:
        """Members of the synchronized segments with their decision and exact payload, lazily.

        ``match`` keeps only the users it accepts, before any planning or ledger read (a search
        reads the whole audience but plans only who it finds)."""
        ctx = self.context()
        stop = cancel or threading.Event()
        users = self.source.iter_users(self.profile.segment_ids)
        pages = chunks(users, PAGE_SIZE) if match is None else _matching_pages(users, match, PAGE_SIZE)
        try:
            for chunk in pages:
                if stop.is_set():
                    return
                known = self.ledger.known_by_hull_id(str(u.get("id", "")) for u in chunk)
                now = self.clock()
                for user in chunk:
                    kp = known.get(str(user.get("id", "")))
                    decision = plan_user(user, ctx, kp, now=now)
                    previous = self.ledger.last_attributes(kp.customer_id) if kp and kp.deleted_at is None else None
                    current = decision.person.attributes if decision.person else None
                    payload = (
                        json.dumps(list(decision.operations), ensure_ascii=False, separators=(",", ":"))
                        if decision.operations
                        else ""
                    )
                    objects = _object_preview(user, decision, ctx)
                    yield PreviewRow(decision, payload, _diff(previous, current), user_line(user), objects)
        finally:
            close = getattr(users, "close", None)
            if callable(close):
                close()

    def preview(self, limit: int, *, cancel: threading.Event | None = None) -> list[PreviewRow]:
        """The first ``limit`` members of the segments with their decision and exact payload."""
        return list(islice(self.iter_preview(cancel=cancel), max(0, limit)))


def _matching_pages(
    users: Iterator[HullUser], match: Callable[[HullUser], bool], size: int
) -> Iterator[list[HullUser]]:
    """The users ``match`` accepts, a list per ``size`` users read (often empty): a match shows after
    one page read, and only matches are kept, so reading stays as cheap as a plain read."""
    page: list[HullUser] = []
    read = 0
    for user in users:
        if match(user):
            page.append(user)
        read += 1
        if read == size:
            yield page
            page, read = [], 0
    if read:
        yield page


def _object_preview(user: dict[str, Any], decision: Decision, ctx: MappingContext) -> str:
    """The object operations of a previewed person's account (see PreviewRow.objects)."""
    settings = ctx.profile.objects
    cid = decision.customer_id
    if not settings.enabled or not cid or (decision.action is Action.SKIP and decision.reason is not Reason.UNCHANGED):
        return ""
    if decision.action is Action.DELETE:
        return ""
    oid = object_id_of(account_of(user), settings)
    if oid is None:
        return ""
    obj = map_object(account_of(user) or {}, oid, settings)
    identify: dict[str, Any] = json.loads(obj.wire) if obj.valid else {"not sent": describe(obj.violations)}
    relate = relationship_operation(ctx.id_key, cid, settings.type_id, oid, add=True)
    return json.dumps([identify, relate], ensure_ascii=False, separators=(",", ":"))


def _diff(previous: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> AttributeChanges:
    prev = previous or {}
    cur = current or {}
    return AttributeChanges(
        added=tuple(sorted(k for k in cur if k not in prev)),
        changed=tuple(sorted(k for k in cur if k in prev and prev[k] != cur[k])),
        removed=tuple(sorted(k for k in prev if k not in cur)),
    )
