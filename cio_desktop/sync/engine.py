"""The sync engine: source pages -> map + plan -> batches -> sender threads -> ledger (+ write-back).

One :class:`SyncEngine` per profile. :meth:`SyncEngine.run` does a whole run on the calling thread
(the GUI calls it from a worker thread, the CLI from the main thread) and reports through plain
callbacks: ``on_progress`` (throttled :class:`Progress`), ``on_log`` (one human line at a time).

How a run is built (ARCHITECTURE.md "Data flow of one sync"):

- A prefetch thread pages users out of the source into a small bounded queue, so Hull's network
  waits overlap with mapping.
- The calling thread looks the page up in the ledger (one query per page), plans every user
  (:func:`~cio_desktop.sync.planner.plan_user`) and packs operations into v2 batches.
- ``profile.concurrency`` sender threads take batches from a bounded queue and post them (the
  Track client rate-limits and retries). Only once Customer.io has accepted a batch is it written
  to the ledger, in one transaction; write-back traits then go to Hull's firehose.
- Memory stays flat: at most a few pages and ``2 x concurrency`` batches are alive at any moment.

Merges (a changed customerId): the identify of the new person goes in a batch like any other; only
once Customer.io accepted it does the merge of the old person into it go out, in a later request
(Customer.io may ignore a merge whose primary does not exist yet, and does not document that a
batch is applied in order). The ledger records the person only when the merge is accepted.

Failures: a 207 fails exactly the operations it names; a 400 on a whole batch is bisected until
the bad operation is alone; what is not accepted is recorded per person in ``run_errors`` and,
because the ledger was not updated for them, sent again by the next run. A cancel (or a killed
process) leaves the ledger consistent: what it holds was accepted, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cio_desktop import __version__
from cio_desktop.config.profile import Profile
from cio_desktop.customerio.track import BatchResult, EventType, TrackClient
from cio_desktop.hull.firehose import FirehoseWriter
from cio_desktop.hull.source import HullEvent, HullUser, ReadReport, SourceError, Stream, UserSource
from cio_desktop.net.errors import (
    AuthenticationError,
    Cancelled,
    NotFoundError,
    OrganizationDisabledError,
    RejectedError,
    ServiceError,
)
from cio_desktop.sync.batching import DEFAULT_MAX_OPS, BatchPacker
from cio_desktop.sync.deletions import DeletionStep, defer_row
from cio_desktop.sync.events import plan_event
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.ledger import (
    Checkpoint,
    ErrorWrite,
    EventWrite,
    Ledger,
    LedgerBusyError,
    PersonWrite,
    RunStatus,
)
from cio_desktop.sync.mapping import identify_operation, parse_date
from cio_desktop.sync.model import (
    Action,
    Decision,
    EventDecision,
    EventReason,
    EventRoute,
    KnownPerson,
    MappingContext,
    Reason,
)
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.progress import Phase, Progress, ProgressTracker

log = logging.getLogger(__name__)

# Users (and events) looked up in the ledger and planned together.
PAGE_SIZE = 500
# Incremental runs re-read users updated shortly before the previous run started: Hull's clock and
# this machine's may differ and Hull's search index lags writes by a moment. Unchanged users cost
# no Customer.io request, so the overlap is cheap.
INCREMENTAL_OVERLAP_S = 60.0
# After this many requests in a row (batches or anonymous events) failed even after retries,
# Customer.io is considered down.
MAX_CONSECUTIVE_BATCH_FAILURES = 3
# Hull ids of people that failed this run are kept to hold back their events; above this many the
# events phase is skipped altogether (and retried next run) instead of using more memory.
MAX_TRACKED_FAILURES = 100_000
ERRORS_SAMPLE = 10
SAVE_EVERY_S = 2.0
# A user updated less than this long ago is always mapped again (see _Run.fingerprint).
FINGERPRINT_SETTLE_S = 300.0
UNCHANGED_LABEL = Decision("", None, Action.SKIP, Reason.UNCHANGED).label

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


class RunMode(StrEnum):
    FULL = "full"  # everyone in the segments, plus deletions of people who left them
    INCREMENTAL = "incremental"  # users Hull updated since the last run, plus new events
    DRY_RUN = "dry_run"  # plans a full run and reports; sends and records nothing
    SINGLE = "single"  # one person, as a test send


class Problem(StrEnum):
    """Why a run stopped early (``RunSummary.problem``)."""

    CREDENTIALS = "credentials"  # Customer.io or Hull refused the credentials
    CONFIGURATION = "configuration"  # the profile cannot work as set up
    BUSY = "busy"  # another process is syncing this profile
    SOURCE = "source"  # Hull (or the export file) failed mid-run
    SERVICE = "service"  # Customer.io kept failing after retries
    NOT_FOUND = "not_found"  # single send: no such user
    INTERNAL = "internal"  # a bug: the message says what


@dataclass(frozen=True)
class RunSummary:
    """The outcome of a run. ``counts`` maps decision labels to how many got them; ``failed`` counts
    people and events Customer.io did not accept; ``errors_sample`` holds the first few errors."""

    run_id: int | None
    mode: RunMode
    status: RunStatus
    started_at: float
    ended_at: float
    duration_s: float
    counts: Mapping[str, int]
    failed: int
    errors_sample: tuple[str, ...] = ()
    message: str = ""
    problem: Problem | None = None
    people_sent: int = 0
    events_sent: int = 0
    requests: int = 0
    write_back_failed: int = 0
    # Records of the source it could not read (export files: broken JSON, wrong CSV field count...),
    # skipped while the rest synced; each kept one is in the run's errors (kind "bad_row").
    bad_rows: int = 0
    # Rows superseded by a later row of the same user (a warning; kind "duplicate_row" in the errors).
    duplicate_rows: int = 0
    # Deletions the deletion guard held back (status DELETIONS_WITHHELD; listed with the run).
    withheld: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode.value,
            "status": self.status.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "counts": dict(self.counts),
            "failed": self.failed,
            "people_sent": self.people_sent,
            "events_sent": self.events_sent,
            "requests": self.requests,
            "write_back_failed": self.write_back_failed,
            "bad_rows": self.bad_rows,
            "duplicate_rows": self.duplicate_rows,
            "deletions_withheld": self.withheld,
            "problem": self.problem.value if self.problem else None,
            "message": self.message,
            "errors_sample": list(self.errors_sample),
        }


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

    @property
    def label(self) -> str:
        return self.decision.label


def event_label(decision: EventDecision) -> str:
    if decision.reason is EventReason.SEND:
        return "event (sent)"
    if decision.reason is EventReason.SEND_ANONYMOUS:
        return "event (anonymous)"
    return "event skip: " + decision.reason.value.replace("_", " ")


EVENT_HELD = "event held: user failed"


# ---------------------------------------------------------------------------------------------- internals
@dataclass(eq=False, slots=True)
class _Entry:
    """One person decision or one event decision travelling through the send queue."""

    person: Decision | None = None
    event: EventDecision | None = None
    seq: int = -1  # events: position in the event stream (checkpoint bookkeeping)
    hull_id: str = ""
    fp: str | None = None  # people: source fingerprint, stored once accepted
    # People: operations sent in a later request once this entry's first one was accepted (a
    # merge waits for the identify of its new primary).
    followup: tuple[dict[str, Any], ...] = ()


@dataclass(eq=False, slots=True)
class _Job:
    items: list[tuple[_Entry, dict[str, Any]]]  # (entry, v2 operation), an entry's ops adjacent
    anonymous: _Entry | None = None  # or one v1 anonymous event
    body: bytes | None = None  # the packer's encoded request for ``items``, sent as is


class _EventCheckpoint:
    """The newest event time before which every event was handled, in stream order.

    Events are registered in the order the source yields them (oldest first) and finish in any
    order; the checkpoint only moves over a contiguous prefix of finished events, and never to a
    time some unfinished event shares (the source returns events strictly after the checkpoint).
    A failed event stops it for the rest of the run: the next run starts again from there
    (``events_sent`` keeps already accepted ones from being sent twice).
    """

    def __init__(self, start: float | None) -> None:
        self._lock = threading.Lock()
        self._pending: deque[list[Any]] = deque()  # [seq, created_at, state]; state 0 pending, 1 ok, 2 failed
        self._by_seq: dict[int, list[Any]] = {}
        self._last_ts: float | None = start
        self._safe: float | None = start
        self._blocked = False
        self._stream_done = False

    def add(self, seq: int, created_at: float) -> None:
        rec = [seq, created_at, 0]
        with self._lock:
            self._pending.append(rec)
            self._by_seq[seq] = rec

    def finish(self, seq: int, ok: bool) -> None:
        with self._lock:
            rec = self._by_seq.get(seq)
            if rec is None:
                return
            rec[2] = 1 if ok else 2
            self._advance()

    def stream_done(self) -> None:
        with self._lock:
            self._stream_done = True

    def value(self) -> float | None:
        with self._lock:
            self._advance()
            if self._blocked or self._pending or not self._stream_done:
                # The next event may share the last finished one's time: stop just before that time.
                head = self._pending[0][1] if self._pending else None
                if head is not None and self._last_ts is not None and head > self._last_ts:
                    return self._last_ts
                return self._safe
            return self._last_ts

    def _advance(self) -> None:
        while self._pending and not self._blocked:
            seq, ts, state = self._pending[0]
            if state == 0:
                return
            if state == 2:
                self._blocked = True
                return
            self._pending.popleft()
            del self._by_seq[seq]
            if self._last_ts is None or ts > self._last_ts:
                self._safe = self._last_ts
                self._last_ts = ts


class _Stop(Exception):
    """Internal: the run stops early (cancel or a fatal problem already recorded)."""


def _classify_source_error(exc: SourceError) -> Problem:
    cause = exc.__cause__
    if isinstance(cause, AuthenticationError | OrganizationDisabledError | NotFoundError):
        return Problem.CREDENTIALS
    return Problem.SOURCE


def _user_line(user: HullUser) -> str:
    name = user.get("name")
    email = user.get("email")
    parts = [str(name)] if isinstance(name, str) and name else []
    if isinstance(email, str) and email:
        parts.append(f"<{email}>")
    parts.append(f"(Hull id {user.get('id', '?')})")
    return " ".join(parts)


def _diff(previous: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> AttributeChanges:
    prev = previous or {}
    cur = current or {}
    return AttributeChanges(
        added=tuple(sorted(k for k in cur if k not in prev)),
        changed=tuple(sorted(k for k in cur if k in prev and prev[k] != cur[k])),
        removed=tuple(sorted(k for k in prev if k not in cur)),
    )


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk


class _Prefetch:
    """Pages an iterator on a background thread into a bounded queue (source I/O overlaps planning)."""

    _END = object()

    def __init__(self, make: Callable[[], Iterator[Any]], size: int, stop: threading.Event, depth: int = 4) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = stop
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(make, size), name="sync-prefetch", daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], Iterator[Any]], size: int) -> None:
        it: Iterator[Any] | None = None
        try:
            it = make()
            for chunk in _chunks(it, size):
                if not self._put(chunk):
                    return
        except BaseException as exc:  # handed to the consumer thread, which raises it
            self._error = exc
        finally:
            close = getattr(it, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
            self._put(self._END)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[list[Any]]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is self._END:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def join(self) -> None:
        self._thread.join(timeout=5)


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
    ) -> RunSummary:
        """Run a sync and return its summary (never raises for problems of the data or services:
        they end up in ``status``/``problem``/``message``). ``allow_deletions`` is the user's
        approval to delete past the deletion guard (never past an incomplete read)."""
        mode = RunMode(mode)
        if mode is RunMode.SINGLE and not hull_id:
            raise ValueError("a single send needs the Hull id of the user")
        if mode is not RunMode.DRY_RUN and self.track is None:
            raise ValueError("sending needs a Customer.io Track client")
        run = _Run(self, mode, on_progress, on_log, cancel or threading.Event())
        run.approval = allow_deletions
        return run.execute(hull_id)

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

    def iter_preview(self, *, cancel: threading.Event | None = None) -> Iterator[PreviewRow]:
        """Members of the synchronized segments with their decision and exact payload, lazily."""
        ctx = self.context()
        stop = cancel or threading.Event()
        users = self.source.iter_users(self.profile.segment_ids)
        try:
            for chunk in _chunks(users, PAGE_SIZE):
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
                    yield PreviewRow(decision, payload, _diff(previous, current), _user_line(user))
        finally:
            close = getattr(users, "close", None)
            if callable(close):
                close()

    def preview(self, limit: int, *, cancel: threading.Event | None = None) -> list[PreviewRow]:
        """The first ``limit`` members of the segments with their decision and exact payload."""
        return list(islice(self.iter_preview(cancel=cancel), max(0, limit)))


class _Run:
    """State of one run (one instance per :meth:`SyncEngine.run` call)."""

    def __init__(
        self,
        engine: SyncEngine,
        mode: RunMode,
        on_progress: Callable[[Progress], None] | None,
        on_log: Callable[[str], None] | None,
        cancel: threading.Event,
    ) -> None:
        self.e = engine
        self.profile = engine.profile
        self.ledger = engine.ledger
        self.mode = mode
        self.dry = mode is RunMode.DRY_RUN
        self.cancel = cancel
        self.on_log = on_log
        self.progress = ProgressTracker(on_progress)
        self.stop = threading.Event()  # cancel or a fatal problem: no new work
        self.lock = threading.Lock()
        self.run_id: int | None = None
        self.problem: Problem | None = None
        self.problem_message = ""
        self.transient_failures = 0
        self.consecutive_failures = 0
        self.failed_hull_ids: set[str] = set()
        self.failed_overflow = False
        self.errors_sample: list[str] = []
        self.people_sent = 0
        self.events_sent = 0
        self.requests = 0
        self.event_ckpt: _EventCheckpoint | None = None
        self.ctx_fp: str | None = None
        self.last_save = 0.0
        self.read_source = False  # users or events were read from the source in this run
        self.events_read = False  # the events pass ran (its read report is this run's)
        self.approval: DeletionApproval | None = None
        self.users_read = ReadReport()  # what the users pass could not read (deletions need it clean)
        self.audience: int | None = None  # members read by a complete full users pass
        self.withheld = 0
        self.withheld_message = ""
        # Batches waiting for a sender: enough to keep them busy, few enough to keep memory flat even
        # with many senders (each batch holds up to 1,000 operations).
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=min(2 * self.profile.concurrency, 8))
        self.threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ logging / problems
    def say(self, text: str) -> None:
        log.info("%s", text)
        if self.on_log is not None:
            try:
                self.on_log(text)
            except Exception:
                log.exception("on_log callback failed")

    def fatal(self, problem: Problem, message: str) -> None:
        with self.lock:
            if self.problem is None:
                self.problem = problem
                self.problem_message = message
        self.stop.set()
        self.say(message)

    def stopped(self) -> bool:
        if self.cancel.is_set():
            self.stop.set()
        return self.stop.is_set()

    # ------------------------------------------------------------------ the run
    def execute(self, hull_id: str | None) -> RunSummary:
        started = self.e.clock()
        write_back_failed_before = self.e.hull_writer.failed if self.e.hull_writer else 0
        try:
            self.run_id = self.ledger.start_run(self.mode.value)
        except LedgerBusyError as exc:
            return self._summary(started, RunStatus.FAILED, Problem.BUSY, str(exc))
        self.progress.phase(Phase.STARTING, message=f"Starting a {self.mode.value.replace('_', ' ')} sync")
        self._start_senders()
        try:
            self._body(hull_id)
        except _Stop:
            pass
        except SourceError as exc:
            self.fatal(_classify_source_error(exc), str(exc))
        except AuthenticationError as exc:
            self.fatal(Problem.CREDENTIALS, str(exc))
        except ServiceError as exc:
            self.fatal(Problem.SERVICE, str(exc))
        except Exception as exc:  # a bug: record the run as failed instead of leaving it "running"
            log.exception("sync run failed")
            self.fatal(Problem.INTERNAL, f"The sync stopped on an unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self._stop_senders()
            self.ledger.end_seen()
        self._save_event_checkpoint(force=True)
        if self.e.hull_writer is not None and not self.dry:
            self.progress.phase(Phase.FINISHING, message="Writing sync traits back to Hull")
            self.e.hull_writer.flush()
        write_back_failed = (self.e.hull_writer.failed if self.e.hull_writer else 0) - write_back_failed_before
        bad_rows, duplicate_rows = self._record_bad_rows()
        failed = self.progress.failed
        if self.problem is not None:
            status, message = RunStatus.FAILED, self.problem_message
        elif self.cancel.is_set():
            status, message = RunStatus.CANCELLED, "Cancelled; the next run continues where this one stopped"
        elif self.withheld:
            status, message = RunStatus.DELETIONS_WITHHELD, self.withheld_message
        elif bad_rows:
            status, message = RunStatus.INCOMPLETE, ""
        elif failed:
            status, message = RunStatus.PARTIAL, ""
        else:
            status, message = RunStatus.COMPLETED, ""
        notes = [message] if message else []
        if failed:
            notes.append(
                f"Customer.io did not accept {failed:,} {'person or event' if failed == 1 else 'people or events'}"
                " (they are in the run's errors and are sent again by the next run)"
            )
        if write_back_failed:
            notes.append(
                f"{write_back_failed} write-backs to Hull failed (they are sent again when the person next changes)"
            )
        if bad_rows:
            notes.append(
                f"{bad_rows:,} unreadable {'record was' if bad_rows == 1 else 'records were'} skipped in"
                f" {self.e.source.describe()} (file, line and reason are in the run's errors)"
            )
        if duplicate_rows:
            notes.append(
                f"{duplicate_rows:,} {'user appears' if duplicate_rows == 1 else 'users appear'} more than once in"
                f" {self.e.source.describe()}: the later row is used"
            )
        message = " ".join(_sentence(n) for n in notes)
        self.ledger.finish_run(
            self.run_id,
            status,
            counts=self.progress.counts,
            failed=failed,
            message=message,
            unreadable=bad_rows,
            audience=self.audience if status is not RunStatus.FAILED else None,
            withheld=self.withheld,
        )
        self.progress.phase(Phase.DONE, message=message or status.value)
        return self._summary(
            started,
            status,
            self.problem,
            message,
            write_back_failed=write_back_failed,
            bad_rows=bad_rows,
            duplicate_rows=duplicate_rows,
        )

    def _record_bad_rows(self) -> tuple[int, int]:
        """Put the records the source skipped (export files: broken lines) and the duplicate rows it
        passed over in the run's errors. Returns (unreadable, duplicates) in all (file sources keep
        the first 1,000 of each kind, and count them all)."""
        if not self.read_source:
            return 0, 0  # what the source reports is from an earlier read (a preview), not this run
        try:
            reports = [self.users_read]
            if self.events_read:
                reports.append(self.e.source.read_report(Stream.EVENTS))
        except Exception:  # reporting must not fail a run that synced
            log.exception("reading the source's problems failed")
            return 0, 0
        rows: list[ErrorWrite] = []
        for report in reports:
            shown = {"bad_row": 0, "duplicate_row": 0}
            for p in report.problems:
                kind = "bad_row" if p.lost else "duplicate_row"
                shown[kind] += 1
                text = f"{Path(p.file).name} line {p.line}: {p.reason}"
                rows.append(ErrorWrite(kind, text, field=f"{p.file}:{p.line}"))
            for kind, total, what in (
                ("bad_row", report.unreadable, "unreadable records"),
                ("duplicate_row", report.duplicates, "duplicate rows"),
            ):
                if total > shown[kind]:
                    rows.append(ErrorWrite(kind, f"{total - shown[kind]:,} more {what} (only the first are listed)"))
        # Lost records first: duplicates never crowd them out of the sample.
        rows.sort(key=lambda r: r.kind != "bad_row")
        if rows and self.run_id is not None:
            self.ledger.record_errors(self.run_id, rows)
            with self.lock:
                for row in rows[: max(0, ERRORS_SAMPLE - len(self.errors_sample))]:
                    self.errors_sample.append(row.message)
        return sum(r.unreadable for r in reports), sum(r.duplicates for r in reports)

    def _summary(
        self,
        started: float,
        status: RunStatus,
        problem: Problem | None,
        message: str,
        *,
        write_back_failed: int = 0,
        bad_rows: int = 0,
        duplicate_rows: int = 0,
    ) -> RunSummary:
        ended = self.e.clock()
        return RunSummary(
            run_id=self.run_id,
            mode=self.mode,
            status=status,
            started_at=started,
            ended_at=ended,
            duration_s=max(0.0, ended - started),
            counts=MappingProxyType(self.progress.counts),
            failed=self.progress.failed,
            errors_sample=tuple(self.errors_sample),
            message=message,
            problem=problem,
            people_sent=self.people_sent,
            events_sent=self.events_sent,
            requests=self.requests,
            write_back_failed=write_back_failed,
            bad_rows=bad_rows,
            duplicate_rows=duplicate_rows,
            withheld=self.withheld,
        )

    def _body(self, hull_id: str | None) -> None:
        ctx = self.e.context()
        mode = self.mode
        self.ctx_fp = _context_fingerprint(ctx) if mode is not RunMode.SINGLE else None
        if mode is RunMode.SINGLE:
            assert hull_id is not None
            self._single(ctx, hull_id)
            return
        since = self.ledger.checkpoint_float(Checkpoint.USERS_UPDATED) if mode is RunMode.INCREMENTAL else None
        if mode is RunMode.INCREMENTAL and since is None:
            self.say("No earlier complete run of this profile: this incremental run covers everyone (full).")
        users_started = self.e.clock()
        if since is not None:
            self._users(ctx, None, updated_since=since - self.e.incremental_overlap_s, full=False)
        else:
            self._users(ctx, self.profile.segment_ids, updated_since=None, full=True)
        if self.stopped():
            return
        if not self.dry and self.transient_failures == 0:
            # Failed people (Customer.io refused them) are retried by the next full run or when they change.
            self.ledger.set_checkpoint(Checkpoint.USERS_UPDATED, users_started)
        if self.profile.events:
            self._events(ctx)

    # ------------------------------------------------------------------ users
    def _users(
        self, ctx: MappingContext, segment_ids: Sequence[str] | None, *, updated_since: float | None, full: bool
    ) -> None:
        if full and not segment_ids:
            self.say("No segments are chosen: nobody is sent (choose segments in the profile).")
        total = None
        if not (full and not segment_ids):
            try:
                total = self.e.source.count_users(segment_ids) if updated_since is None else None
            except SourceError:
                total = None
        what = "users in the chosen segments" if full else "users updated since the last run"
        self.progress.phase(Phase.USERS, total=total, message=f"Reading {what}")
        packer: BatchPacker[_Entry] = BatchPacker(max_ops=self.e.batch_max_ops)
        if full:
            self.ledger.begin_seen()
        members = 0
        if not (full and not segment_ids):
            self.read_source = True
            feed = _Prefetch(
                lambda: self.e.source.iter_users(segment_ids, updated_since=updated_since), PAGE_SIZE, self.stop
            )
            try:
                for chunk in feed:
                    if self.stopped():
                        return
                    members += len(chunk)
                    self._plan_users(ctx, chunk, packer, full=full)
            finally:
                feed.join()
            if self.stopped():
                return
            self.users_read = self.e.source.read_report(Stream.USERS)
        if full and self.users_read.clean:
            self.audience = members
        self._flush(packer)
        if full and not self.dry:
            # Every member was seen: anonymous users who left the segments are not anonymous members any more.
            self.ledger.forget_anonymous_not_seen()
        if self.profile.delete_on_leave:
            # Only once every user was read: a partial member list would delete people still in.
            self._deletions(ctx, packer, full=full)
        self._drain()

    def _plan_users(
        self, ctx: MappingContext, chunk: list[HullUser], packer: BatchPacker[_Entry], *, full: bool
    ) -> None:
        ids = [u["id"] if isinstance(u.get("id"), str) else str(u.get("id", "")) for u in chunk]
        known = self.ledger.known_with_fingerprints(ids)
        if full:
            self.ledger.mark_seen(ids)
        now = self.e.clock()
        labels: dict[str, int] = {}
        unchanged = 0
        refresh: list[tuple[str, str | None]] = []
        deferred: list[tuple[str, str, str, bool]] = []
        anonymous: dict[str, str | None] = {}  # Hull id -> first anonymous id, members without customerId
        for user, hid in zip(chunk, ids, strict=True):
            kp, stored_fp = known.get(hid, (None, None))
            fp = self.fingerprint(user, now)
            if fp is not None and fp == stored_fp and kp is not None and kp.deleted_at is None:
                # Same Hull data and settings as when Customer.io accepted them: no need to map again.
                unchanged += 1
                continue
            decision = plan_user(user, ctx, kp, now=now)
            if decision.action is Action.DELETE:
                # Counted, guarded and sent (or withheld) by the deletion step, once every user was read.
                deferred.append(defer_row(decision, known=kp is not None))
                continue
            labels[decision.label] = labels.get(decision.label, 0) + 1
            if decision.reason is Reason.NO_CUSTOMER_ID and hid:
                anonymous[hid] = decision.person.anonymous_id if decision.person else None
            if decision.operations:
                if not self.dry:
                    self._pack_person(packer, decision, fp)
            elif (
                decision.reason is Reason.UNCHANGED
                and kp is not None
                and decision.customer_id == kp.customer_id
                and fp != stored_fp
            ):
                refresh.append((kp.customer_id, fp))
        if refresh and not self.dry:
            self.ledger.set_fingerprints(refresh)
        self.ledger.defer_deletions(deferred)
        if unchanged:
            labels[UNCHANGED_LABEL] = labels.get(UNCHANGED_LABEL, 0) + unchanged
        for label, n in labels.items():
            self.progress.advance(n, label=label)
        if not self.dry:
            self._update_anonymous(ids, anonymous)

    def _update_anonymous(self, ids: list[str], anonymous: dict[str, str | None]) -> None:
        """Keep the ledger's anonymous users in step with this page: members of the synced segments
        without a customerId are recorded (their events may go out anonymously), everyone else on the
        page is forgotten (they got a customerId or left the segments). Writes only what changed."""
        stored = self.ledger.anonymous_users(ids)
        record = [(h, a) for h, a in anonymous.items() if h not in stored or stored[h] != a]
        forget = [h for h in stored if h not in anonymous]
        self.ledger.update_anonymous_users(record, forget)

    def fingerprint(self, user: HullUser, now: float) -> str | None:
        """What the person's payload is made of, cheaply: the sync settings (``self.ctx_fp``), Hull's
        ``updated_at`` and the user's segments. None (always map) without an update time, or when the
        update is recent: two changes within one clock tick would look the same."""
        if self.ctx_fp is None:
            return None
        updated = user.get("updated_at")
        if updated is None or isinstance(updated, bool):
            return None
        ts = parse_date(updated)
        if ts is None or ts > now - FINGERPRINT_SETTLE_S:
            return None
        segments = user.get("segment_ids")
        seg_text = ",".join(s for s in segments if isinstance(s, str)) if isinstance(segments, list) else ""
        material = f"{self.ctx_fp}|{updated}|{seg_text}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(material, digest_size=8).hexdigest()

    def _deletions(self, ctx: MappingContext, packer: BatchPacker[_Entry], *, full: bool) -> None:
        self.progress.phase(Phase.DELETIONS, message="Looking for people who left the segments")

        def send(decision: Decision) -> None:
            if not self.dry:
                self._pack_person(packer, decision)

        step = DeletionStep(
            ledger=self.ledger,
            ctx=ctx,
            run_id=self.run_id,
            now=self.e.clock(),
            full=full,
            read=self.users_read,
            audience=self.audience,
            approval=self.approval,
            send=send,
            count=lambda label: self.progress.advance(1, label=label),
            stopped=self.stopped,
        )
        outcome = step.run()
        if outcome is None:
            return
        if outcome.withheld:
            self.withheld = outcome.withheld
            self.withheld_message = outcome.verdict.message
            self.say(outcome.verdict.message)
        self._flush(packer)

    def _single(self, ctx: MappingContext, hull_id: str) -> None:
        self.progress.phase(Phase.USERS, total=1, message=f"Looking for Hull user {hull_id}")
        self.read_source = True
        user = self._find_user(hull_id)
        if user is None:
            self.fatal(Problem.NOT_FOUND, f"There is no Hull user with id {hull_id!r} in {self.e.source.describe()}.")
            return
        known = self.ledger.known_by_hull_id([hull_id]).get(hull_id)
        decision = plan_user(user, ctx, known, now=self.e.clock())
        if decision.reason is Reason.UNCHANGED and decision.person is not None:
            # A test send sends even when nothing changed: that is the point of it.
            decision = Decision(
                hull_id=decision.hull_id,
                customer_id=decision.customer_id,
                action=Action.IDENTIFY,
                reason=Reason.UNCHANGED,
                operations=(identify_operation(decision.person),),
                person=decision.person,
                message="sent again on request (unchanged since the last sync)",
            )
        self.progress.advance(1, label=decision.label)
        self.say(f"{_user_line(user)}: {decision.label}" + (f" ({decision.message})" if decision.message else ""))
        packer: BatchPacker[_Entry] = BatchPacker(max_ops=self.e.batch_max_ops)
        if decision.operations:
            self._pack_person(packer, decision)
        self._flush(packer)
        self._drain()

    def _find_user(self, hull_id: str) -> HullUser | None:
        found = self.e.source.get_user(hull_id)
        return found if isinstance(found, dict) else None

    # ------------------------------------------------------------------ events
    def _events(self, ctx: MappingContext) -> None:
        if self.failed_overflow:
            self.say("Too many people failed in this run: their events are sent by the next run.")
            return
        since = self.ledger.checkpoint_float(Checkpoint.EVENTS)
        self.progress.phase(Phase.EVENTS, message="Reading new events")
        self.event_ckpt = _EventCheckpoint(since)
        packer: BatchPacker[_Entry] = BatchPacker(max_ops=self.e.batch_max_ops)
        seq = 0
        self.read_source = True
        self.events_read = True
        feed = _Prefetch(
            lambda: self.e.source.iter_events(list(self.profile.events), since=since), PAGE_SIZE, self.stop
        )
        try:
            for chunk in feed:
                if self.stopped():
                    return
                seq = self._plan_events(ctx, chunk, packer, since, seq)
        finally:
            feed.join()
        if self.stopped():
            return
        self.event_ckpt.stream_done()
        self._flush(packer)
        self._drain()

    def _plan_events(
        self, ctx: MappingContext, chunk: list[HullEvent], packer: BatchPacker[_Entry], since: float | None, seq: int
    ) -> int:
        assert self.event_ckpt is not None
        sent = self.ledger.sent_event_ids(e.event_id for e in chunk)
        by_hull = self.ledger.known_by_hull_id(e.user_id for e in chunk if e.user_id)
        # Export files may name the user by external_id or email only: that is the customerId when the
        # profile uses that attribute.
        alt_key = {"external_id": "external_id", "email": "email"}.get(ctx.id_attribute)
        by_cid: dict[str, KnownPerson] = {}
        if alt_key is not None:
            by_cid = self.ledger.known_by_customer_id(
                getattr(e, alt_key) for e in chunk if not e.user_id and getattr(e, alt_key)
            )
        # Members of the synced segments without a customerId: the only users whose events may go out
        # anonymously (besides anonymous visitors, events naming no user at all).
        anonymous = (
            self.ledger.anonymous_users(e.user_id for e in chunk if e.user_id) if self.profile.anonymous_events else {}
        )
        labels: dict[str, int] = {}
        for event in chunk:
            known = by_hull.get(event.user_id) if event.user_id else None
            if known is None and alt_key is not None and not event.user_id:
                known = by_cid.get(getattr(event, alt_key))
            customer_id = known.customer_id if known is not None and known.deleted_at is None else None
            anonymous_id: str | None = None
            if event.user_id:
                anonymous_allowed = event.user_id in anonymous
                anonymous_id = anonymous.get(event.user_id)
            else:
                # A user named by external_id or email has an identity; never send them anonymously.
                anonymous_allowed = not (event.external_id or event.email)
            self.event_ckpt.add(seq, event.created_at)
            if event.user_id and event.user_id in self.failed_hull_ids:
                # The user's own update failed this run: keep the event for the next run.
                labels[EVENT_HELD] = labels.get(EVENT_HELD, 0) + 1
                self.event_ckpt.finish(seq, ok=False)
                seq += 1
                continue
            decision = plan_event(
                event,
                ctx,
                customer_id=customer_id,
                anonymous_id=anonymous_id,
                already_sent=event.event_id in sent,
                checkpoint=since,
                anonymous_allowed=anonymous_allowed,
            )
            label = event_label(decision)
            labels[label] = labels.get(label, 0) + 1
            if decision.operation is not None and not self.dry:
                entry = _Entry(event=decision, seq=seq, hull_id=event.user_id)
                if decision.route is EventRoute.V1_ANONYMOUS:
                    self._submit(_Job([], anonymous=entry))
                else:
                    batch = packer.add(decision.operation, entry)
                    if batch is not None:
                        self._submit(_Job(list(batch.items), body=batch.body))
            else:
                # Skipped events are handled; in a dry run nothing is, so the checkpoint stays.
                self.event_ckpt.finish(seq, ok=not self.dry)
            seq += 1
        for label, n in labels.items():
            self.progress.advance(n, label=label)
        self._save_event_checkpoint()
        return seq

    def _save_event_checkpoint(self, *, force: bool = False) -> None:
        if self.event_ckpt is None or self.dry:
            return
        now = time.monotonic()
        if not force and now - self.last_save < SAVE_EVERY_S:
            return
        self.last_save = now
        value = self.event_ckpt.value()
        if value is not None and value != self.ledger.checkpoint_float(Checkpoint.EVENTS):
            self.ledger.set_checkpoint(Checkpoint.EVENTS, value)

    # ------------------------------------------------------------------ packing
    def _pack_person(self, packer: BatchPacker[_Entry], decision: Decision, fp: str | None = None) -> None:
        entry = _Entry(person=decision, hull_id=decision.hull_id, fp=fp)
        ops = decision.operations
        if decision.action is Action.MERGE and len(ops) > 1:
            # Customer.io may ignore a merge whose primary does not exist yet, and does not promise to
            # apply a batch's operations in order: the merge goes in a later request, once Customer.io
            # accepted the identify of the new primary (see _record).
            entry.followup = tuple(ops[1:])
            ops = ops[:1]
        person = decision.person
        for op in ops:
            # The identify operation was encoded while mapping (with the hash): send those bytes.
            wire = person.wire if person is not None and op.get("attributes") is person.attributes else None
            batch = packer.add(op, entry, wire or None)
            if batch is not None:
                self._submit(_Job(list(batch.items), body=batch.body))

    def _flush(self, packer: BatchPacker[_Entry]) -> None:
        batch = packer.flush()
        if batch is not None:
            self._submit(_Job(list(batch.items), body=batch.body))

    def _submit(self, job: _Job) -> None:
        while True:
            if self.stopped():
                raise _Stop
            try:
                self.jobs.put(job, timeout=0.1)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        """Wait until every submitted job is done (or the run stops)."""
        while self.jobs.unfinished_tasks:
            if self.stopped():
                raise _Stop
            time.sleep(0.01)
        self._save_event_checkpoint(force=True)

    # ------------------------------------------------------------------ sender threads
    def _start_senders(self) -> None:
        if self.dry:
            return
        for i in range(self.profile.concurrency):
            t = threading.Thread(target=self._sender, name=f"sync-sender-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def _stop_senders(self) -> None:
        if not self.threads:
            return
        # Queued jobs that were never sent are dropped: nothing about them is recorded, so the next
        # run sends them. Jobs being sent finish (or stop at their next wait) and are recorded.
        if self.stopped():
            with contextlib.suppress(queue.Empty):
                while True:
                    self.jobs.get_nowait()
                    self.jobs.task_done()
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()
        self.threads.clear()

    def _sender(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.stopped():
                    continue
                if job.anonymous is not None:
                    self._send_anonymous(job.anonymous)
                else:
                    self._send_batch(job.items, job.body)
            except Cancelled:
                self.stop.set()
            except Exception as exc:
                log.exception("sender thread failed")
                self.fatal(Problem.INTERNAL, f"Sending stopped on an unexpected error: {type(exc).__name__}: {exc}")
            finally:
                self.jobs.task_done()

    def _send_batch(self, items: list[tuple[_Entry, dict[str, Any]]], body: bytes | None = None) -> None:
        assert self.e.track is not None
        ops = [op for _, op in items]
        try:
            with self.lock:
                self.requests += 1
            # The packer already encoded the request: sending its bytes saves encoding every op again.
            result: BatchResult = self.e.track.batch(ops, cancel=self.cancel, body=body)
        except RejectedError as exc:
            groups = _entry_groups(items)
            if len(groups) > 1:
                # The whole request was refused: split it to find the operation(s) at fault.
                half = len(groups) // 2
                self._send_batch([it for g in groups[:half] for it in g])
                self._send_batch([it for g in groups[half:] for it in g])
                return
            message = "; ".join(exc.messages) or str(exc)
            self._record(items, None, failure=("rejected", message))
            return
        except (AuthenticationError, ServiceError) as exc:
            self._send_failed(items, exc)
            return
        self._send_succeeded()
        self._record(items, result, failure=None)

    def _send_failed(self, items: list[tuple[_Entry, dict[str, Any]]], exc: AuthenticationError | ServiceError) -> None:
        """The one handler of a request that failed for a reason other than its content (batch and
        anonymous sends alike): wrong credentials stop the run; a service still failing after the
        client's retries (5xx, 429, network) fails these items for the next run, and after
        MAX_CONSECUTIVE_BATCH_FAILURES such requests in a row, stops the run."""
        if isinstance(exc, AuthenticationError):
            self.fatal(Problem.CREDENTIALS, str(exc))
            return
        with self.lock:
            self.transient_failures += 1
            self.consecutive_failures += 1
            down = self.consecutive_failures >= MAX_CONSECUTIVE_BATCH_FAILURES
        self._record(items, None, failure=("unavailable", str(exc)))
        if down:
            self.fatal(Problem.SERVICE, f"Customer.io kept failing, the sync stopped: {exc}")

    def _send_succeeded(self) -> None:
        with self.lock:
            self.consecutive_failures = 0

    def _send_anonymous(self, entry: _Entry) -> None:
        assert self.e.track is not None and entry.event is not None
        body = entry.event.operation or {}
        try:
            with self.lock:
                self.requests += 1
            self.e.track.track_anonymous(
                str(body.get("anonymous_id") or ""),
                str(body.get("name")),
                event_id=str(body.get("id")),
                timestamp=body.get("timestamp"),
                data=body.get("data") or {},
                type=_event_type(body.get("type")),
            )
        except RejectedError as exc:
            self._record([(entry, body)], None, failure=("rejected", "; ".join(exc.messages) or str(exc)))
            return
        except (AuthenticationError, ServiceError) as exc:
            self._send_failed([(entry, body)], exc)
            return
        self._send_succeeded()
        self._record([(entry, body)], BatchResult(200, ()), failure=None, all_ok=True)

    def _record(
        self,
        items: list[tuple[_Entry, dict[str, Any]]],
        result: BatchResult | None,
        *,
        failure: tuple[str, str] | None,
        all_ok: bool = False,
    ) -> None:
        """Write what Customer.io accepted (and the per-person errors) in one ledger transaction."""
        ok_entries: dict[int, _Entry] = {}
        errors: dict[int, tuple[_Entry, str, str, str]] = {}  # id(entry) -> (entry, kind, message, field)
        for index, (entry, _op) in enumerate(items):
            key = id(entry)
            if failure is not None:
                errors[key] = (entry, failure[0], failure[1], "")
            elif all_ok or result is None:
                ok_entries.setdefault(key, entry)
            else:
                r = result.results[index] if index < len(result.results) else None
                if r is not None and not r.ok:
                    message = r.message or r.reason or "refused by Customer.io"
                    errors.setdefault(key, (entry, "rejected", message, r.field))
                else:
                    ok_entries.setdefault(key, entry)
        for key in errors:
            ok_entries.pop(key, None)
        # Accepted first steps of a merge: nothing is recorded until the merge itself is accepted (a
        # crash in between plans the merge again next run; identify is idempotent).
        later = [e for e in ok_entries.values() if e.person is not None and e.followup]
        for entry in later:
            del ok_entries[id(entry)]

        people: list[PersonWrite] = []
        events: list[EventWrite] = []
        error_rows: list[ErrorWrite] = []
        for entry in ok_entries.values():
            if entry.person is not None:
                people.append(_person_write(entry.person, entry.fp))
            elif entry.event is not None:
                events.append(EventWrite(entry.event.event_id, entry.event.ulid))
        for entry, kind, message, fld in errors.values():
            if entry.person is not None:
                d = entry.person
                error_rows.append(ErrorWrite(kind, message, d.customer_id or "", d.hull_id, fld))
            elif entry.event is not None:
                ev = entry.event
                error_rows.append(
                    ErrorWrite(kind, f"event {ev.event_id}: {message}", ev.customer_id or "", entry.hull_id, fld)
                )
        self.ledger.record_sent(self.run_id, people=people, events=events, errors=error_rows)

        # Bookkeeping after the ledger commit: a crash before it resends, never loses.
        with self.lock:
            self.people_sent += len(people)
            self.events_sent += len(events)
            for entry, _kind, message, _fld in errors.values():
                if len(self.errors_sample) < ERRORS_SAMPLE:
                    who = entry.person.customer_id if entry.person else (entry.event.event_id if entry.event else "")
                    self.errors_sample.append(f"{who}: {message}")
                if entry.person is not None and entry.hull_id:
                    if len(self.failed_hull_ids) < MAX_TRACKED_FAILURES:
                        self.failed_hull_ids.add(entry.hull_id)
                    else:
                        self.failed_overflow = True
        if errors:
            self.progress.fail(len(errors))
        if self.event_ckpt is not None:
            for entry in ok_entries.values():
                if entry.event is not None:
                    self.event_ckpt.finish(entry.seq, ok=True)
            for entry, kind, _message, _fld in errors.values():
                if entry.event is not None:
                    # Customer.io refusing the event itself is final (recorded in run_errors); only an
                    # event that could not be delivered holds the checkpoint back for the next run.
                    self.event_ckpt.finish(entry.seq, ok=kind == "rejected")
        writer = self.e.hull_writer
        if writer is not None and self.e.write_back:
            for entry in ok_entries.values():
                sent = entry.person
                if sent is not None and sent.traits and sent.hull_id:
                    writer.traits({"id": sent.hull_id}, sent.traits)
        if later:
            # Now that the new primaries exist, their merges go in one request of their own.
            packer: BatchPacker[_Entry] = BatchPacker(max_ops=self.e.batch_max_ops)
            for entry in later:
                ops, entry.followup = entry.followup, ()
                for op in ops:
                    full = packer.add(op, entry)
                    if full is not None:
                        self._send_batch(list(full.items), full.body)
            rest = packer.flush()
            if rest is not None:
                self._send_batch(list(rest.items), rest.body)


def _sentence(text: str) -> str:
    """``text`` as one sentence of a run's message: capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _event_type(value: Any) -> EventType:
    """The v1 event type of a planned anonymous event body (page and screen keep theirs)."""
    if value == "page":
        return "page"
    if value == "screen":
        return "screen"
    return "event"


def _entry_groups(items: list[tuple[_Entry, dict[str, Any]]]) -> list[list[tuple[_Entry, dict[str, Any]]]]:
    """Items grouped by entry (an entry's operations are adjacent), in order."""
    groups: list[list[tuple[_Entry, dict[str, Any]]]] = []
    for item in items:
        if groups and groups[-1][0][0] is item[0]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


# Profile settings that do not change what a person's payload is.
_NOT_IN_PAYLOAD = frozenset(
    {
        "name",
        "concurrency",
        "rate_limit",
        "webhook_public_url",
        "webhook_listen",
        "endpoints",
        "events",
        "deletion_guard_percent",
        "deletion_guard_max",
    }
)


def _context_fingerprint(ctx: MappingContext) -> str:
    """Everything besides the user's own data that shapes a payload: settings, segment names,
    attribute types, and this program's version (a new mapping may send differently)."""
    settings = {k: v for k, v in ctx.profile.to_dict().items() if k not in _NOT_IN_PAYLOAD}
    material = json.dumps(
        [__version__, settings, dict(ctx.segment_names), dict(ctx.attribute_types)],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(material.encode(), digest_size=8).hexdigest()


def _person_write(d: Decision, fp: str | None = None) -> PersonWrite:
    if d.action is Action.DELETE:
        return PersonWrite(customer_id=d.customer_id or "", hull_id=d.hull_id, deleted=True)
    person = d.person
    return PersonWrite(
        customer_id=d.customer_id or "",
        hull_id=d.hull_id,
        payload_hash=person.payload_hash if person else None,
        attributes=person.attributes if person else None,
        merged_from=d.previous_customer_id if d.action is Action.MERGE else None,
        source_fp=fp,
    )
