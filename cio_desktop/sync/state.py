"""What the parts of one run share: the engine's services, the run's control and its saved progress.

One :class:`RunState` per :meth:`SyncEngine.run <cio_desktop.sync.engine.SyncEngine.run>`. The passes
(:mod:`~cio_desktop.sync.run_users`, :mod:`~cio_desktop.sync.run_events`) plan on the calling thread,
the sender threads (:mod:`~cio_desktop.sync.sender`) send and record; all of them stop once
:meth:`RunState.stopped` says so, report through ``progress`` and :meth:`RunState.say`, and end the
run early with :meth:`RunState.fatal`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from cio_desktop.config.profile import Profile
from cio_desktop.customerio.track import TrackClient
from cio_desktop.hull.firehose import FirehoseWriter
from cio_desktop.hull.source import ReadReport, UserSource
from cio_desktop.sync.checkpoint import EventCheckpoint
from cio_desktop.sync.guard import DeletionApproval, WithheldReason
from cio_desktop.sync.ledger import Checkpoint, Ledger
from cio_desktop.sync.model import MappingContext
from cio_desktop.sync.progress import Progress, ProgressTracker
from cio_desktop.sync.run_people import PeopleLog
from cio_desktop.sync.summary import Problem, RunMode

log = logging.getLogger(__name__)

# A run keeps the text of its first few errors for its summary.
ERRORS_SAMPLE = 10
# While a run goes on, the events checkpoint and the running counts are saved at most this often.
SAVE_EVERY_S = 2.0


class Stop(Exception):
    """The run stops early (cancel, or a fatal problem already recorded)."""


class EngineParts(Protocol):
    """What a run uses of its :class:`~cio_desktop.sync.engine.SyncEngine` (a protocol: the engine
    module imports the run, not the other way round)."""

    profile: Profile
    source: UserSource
    ledger: Ledger
    track: TrackClient | None
    hull_writer: FirehoseWriter | None
    write_back: bool
    clock: Callable[[], float]
    incremental_overlap_s: float
    batch_max_ops: int

    def context(self) -> MappingContext: ...


class RunState:
    """Shared state of one run; fields written from the sender threads are guarded by ``lock``."""

    def __init__(
        self,
        engine: EngineParts,
        mode: RunMode,
        on_progress: Callable[[Progress], None] | None,
        on_log: Callable[[str], None] | None,
        cancel: threading.Event,
        approval: DeletionApproval | None = None,
        *,
        dry: bool = False,
    ) -> None:
        self.e = engine
        self.profile = engine.profile
        self.ledger = engine.ledger
        self.mode = mode
        # A dry run plans a full run; ``dry`` plans any mode (a plan of "Sync changes") without sending.
        self.dry = dry or mode is RunMode.DRY_RUN
        self.cancel = cancel
        self.on_log = on_log
        # The time left is bounded by the rate limit the Track client respects (a dry run sends nothing).
        self.progress = ProgressTracker(
            on_progress, rate_limit=None if self.dry else self.profile.rate_limit, max_per_request=engine.batch_max_ops
        )
        self.stop = threading.Event()  # cancel or a fatal problem: no new work
        self.lock = threading.Lock()
        self.run_id: int | None = None
        self.people = PeopleLog(self.ledger, lambda: self.run_id)  # every person decided, for History
        self.problem: Problem | None = None
        self.problem_message = ""
        self.errors_sample: list[str] = []
        self.approval = approval  # the user's approval to delete past the deletion guard
        # What the passes found out, for the deletion step and the run's outcome.
        self.read_source = False  # users or events were read from the source in this run
        self.events_read = False  # the events pass ran (its read report is this run's)
        self.users_read = ReadReport()  # what the users pass could not read (deletions need it clean)
        self.audience: int | None = None  # members read by a complete full users pass
        self.withheld = 0
        self.withheld_message = ""
        self.withheld_reason: WithheldReason | None = None
        # The objects step (sync/objects_step.py): what it sent, and object deletions it held back.
        self.objects_sent = 0
        self.relationships_sent = 0
        self.object_requests = 0
        self.objects_withheld = 0
        self.objects_withheld_message = ""
        self.event_ckpt: EventCheckpoint | None = None  # set by the events pass
        # People and events Customer.io accepted so far (set by the run: its sender counts them).
        self.accepted: Callable[[], tuple[int, int]] | None = None
        self._checkpoint_saved_at = float("-inf")
        self._counts_saved_at = float("-inf")

    # ------------------------------------------------------------------ control
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

    def sample_errors(self, messages: Iterable[str], *, first: bool = False) -> None:
        """Keep the first of these for the summary, while it has room (any thread). ``first`` puts
        them before what is there (read errors: what the user must fix comes first)."""
        with self.lock:
            taken = [m for _, m in zip(range(ERRORS_SAMPLE), messages, strict=False)]
            merged = [*taken, *self.errors_sample] if first else [*self.errors_sample, *taken]
            self.errors_sample[:] = merged[:ERRORS_SAMPLE]

    # ------------------------------------------------------------------ saved progress (calling thread)
    def save_event_checkpoint(self, *, force: bool = False) -> None:
        if self.event_ckpt is None or self.dry:
            return
        now = time.monotonic()
        if not force and now - self._checkpoint_saved_at < SAVE_EVERY_S:
            return
        self._checkpoint_saved_at = now
        value = self.event_ckpt.value()
        if value is not None and value != self.ledger.checkpoint_float(Checkpoint.EVENTS):
            self.ledger.set_checkpoint(Checkpoint.EVENTS, value)

    def save_counts(self) -> None:
        """The running counts into the run's record, every few seconds: a run that is killed (or whose
        machine stops) still shows in the history how far it got."""
        if self.run_id is None:
            return
        now = time.monotonic()
        if now - self._counts_saved_at < SAVE_EVERY_S:
            return
        self._counts_saved_at = now
        people, events = self.accepted() if self.accepted is not None else (None, None)
        # What Customer.io accepted so far too: a run that is killed shows what it sent, not what it planned.
        self.ledger.update_run(
            self.run_id,
            counts=self.progress.counts,
            failed=self.progress.failed,
            people_sent=people,
            events_sent=events,
            objects_sent=self.objects_sent,
            relationships_sent=self.relationships_sent,
        )
