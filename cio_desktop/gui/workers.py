"""Run Qt-free core work off the GUI thread and bring its results back as queued signals.

A job is a plain function ``fn(job: JobContext) -> result``. It runs on a ``QThreadPool``; its
``progress``/``log`` calls are throttled in the worker (a few deliveries per second, the latest value
wins, log lines are batched) so a busy engine can never flood the GUI event queue. Each job has a
``key``: submitting a new job under the same key makes the older one stale, and a stale job's
result, error and progress are dropped instead of shown (the user changed the segments while a
preview was loading). Callbacks always run on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

# Deliveries per second of progress/log to the GUI: enough to look live, few enough to stay cheap.
DEFAULT_INTERVAL_S = 0.2

# What a job returns, handed to its on_result. (Progress values stay Any: each job reports its own
# kind, a sync's Progress or a file scan's (bytes read, bytes total), and only its on_progress reads it.)
T = TypeVar("T")


class JobCancelled(Exception):
    """Raised inside a job (by ``JobContext.check_cancelled``) when the user cancelled it."""


class _Signals(QObject):
    # job id first: the runner routes deliveries by it.
    result = Signal(int, object)
    error = Signal(int, object)
    progress = Signal(int, object)
    log_lines = Signal(int, object)
    finished = Signal(int)


@dataclass
class JobContext:
    """Handed to a job function: cancel flag plus throttled progress and log forwarding."""

    job_id: int
    signals: _Signals
    interval_s: float = DEFAULT_INTERVAL_S
    cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_progress_t: float = 0.0
    _pending_progress: Any = None
    _has_pending: bool = False
    _lines: list[str] = field(default_factory=list)
    _last_log_t: float = 0.0

    def progress(self, value: Any) -> None:
        """Report progress; delivered at most every ``interval_s`` (the newest value wins)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_progress_t >= self.interval_s:
                self._last_progress_t = now
                self._has_pending = False
                self._pending_progress = None
                emit = True
            else:
                self._pending_progress = value
                self._has_pending = True
                emit = False
        if emit:
            self.signals.progress.emit(self.job_id, value)

    def log(self, line: str) -> None:
        """Add a log line; lines are delivered in batches at most every ``interval_s``."""
        now = time.monotonic()
        with self._lock:
            self._lines.append(line)
            if now - self._last_log_t < self.interval_s:
                return
            self._last_log_t = now
            lines, self._lines = self._lines, []
        self.signals.log_lines.emit(self.job_id, lines)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled()

    def flush(self) -> None:
        """Deliver whatever the throttle held back (called when the job ends)."""
        with self._lock:
            lines, self._lines = self._lines, []
            pending, has = self._pending_progress, self._has_pending
            self._has_pending = False
        if has:
            self.signals.progress.emit(self.job_id, pending)
        if lines:
            self.signals.log_lines.emit(self.job_id, lines)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[JobContext], Any], ctx: JobContext) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._fn = fn
        self._ctx = ctx

    def run(self) -> None:
        ctx = self._ctx
        try:
            value = self._fn(ctx)
        except BaseException as exc:  # every failure must reach the GUI, not kill the pool thread
            if not isinstance(exc, JobCancelled):
                # The message is what the user sees too; the traceback only matters when debugging.
                log.warning("background job %d failed: %s: %s", ctx.job_id, type(exc).__name__, exc)
                log.debug("%s", traceback.format_exc())
            ctx.flush()
            ctx.signals.error.emit(ctx.job_id, exc)
        else:
            ctx.flush()
            ctx.signals.result.emit(ctx.job_id, value)
        ctx.signals.finished.emit(ctx.job_id)


@dataclass
class Job:
    """A submitted job. ``cancel()`` asks it to stop; ``stale`` says a newer job replaced it."""

    id: int
    key: str
    context: JobContext
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    on_progress: Callable[[Any], None] | None
    on_log: Callable[[list[str]], None] | None
    on_finished: Callable[[], None] | None
    stale: bool = False
    done: bool = False

    def cancel(self) -> None:
        self.context.cancel.set()


class JobRunner(QObject):
    """Owns the worker pools and delivers job outcomes on the GUI thread."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        # Writes (profiles, secrets) go through one thread so they land in the order they were made.
        self._serial = QThreadPool(self)
        self._serial.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.result.connect(self._on_result)
        self._signals.error.connect(self._on_error)
        self._signals.progress.connect(self._on_progress)
        self._signals.log_lines.connect(self._on_log)
        self._signals.finished.connect(self._on_finished)
        self._jobs: dict[int, Job] = {}
        self._latest: dict[str, int] = {}
        self._next_id = 1
        self._closed = False

    def submit(
        self,
        key: str,
        fn: Callable[[JobContext], T],
        *,
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_log: Callable[[list[str]], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        serial: bool = False,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> Job:
        """Run ``fn`` on a worker; a previous job with the same ``key`` becomes stale (and is cancelled).

        After :meth:`shutdown` nothing new starts: the returned job is stale and never runs.
        """
        job_id = self._next_id
        self._next_id += 1
        if self._closed:
            ctx = JobContext(job_id=job_id, signals=self._signals, interval_s=interval_s)
            ctx.cancel.set()
            return Job(job_id, key, ctx, None, None, None, None, None, stale=True, done=True)
        previous = self._latest.get(key)
        if previous is not None and previous in self._jobs:
            old = self._jobs[previous]
            old.stale = True
            old.cancel()
        self._latest[key] = job_id
        ctx = JobContext(job_id=job_id, signals=self._signals, interval_s=interval_s)
        job = Job(job_id, key, ctx, on_result, on_error, on_progress, on_log, on_finished)
        self._jobs[job_id] = job
        (self._serial if serial else self._pool).start(_Runnable(fn, ctx))
        return job

    def is_running(self, key: str) -> bool:
        job_id = self._latest.get(key)
        return job_id is not None and job_id in self._jobs

    def cancel(self, key: str) -> None:
        job_id = self._latest.get(key)
        if job_id is not None and job_id in self._jobs:
            self._jobs[job_id].cancel()

    def cancel_all(self) -> None:
        for job in self._jobs.values():
            job.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Refuse new jobs, cancel the running ones and wait for them (quitting)."""
        self._closed = True
        self.cancel_all()
        return self.wait_all(timeout_ms)

    def wait_all(self, timeout_ms: int = 30000) -> bool:
        """Block until every worker returned (used on shutdown, after cancel_all)."""
        ok = bool(self._pool.waitForDone(timeout_ms))
        return bool(self._serial.waitForDone(timeout_ms)) and ok

    def _live(self, job_id: int) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.stale or self._closed:
            return None
        return job

    @staticmethod
    def _deliver(callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except RuntimeError as exc:
            # The page that asked was closed and deleted meanwhile: its late answer has nowhere to go.
            if "deleted" not in str(exc):
                raise
            log.debug("dropped a result for a deleted widget: %s", exc)

    @Slot(int, object)
    def _on_result(self, job_id: int, value: Any) -> None:
        job = self._live(job_id)
        if job is not None and job.on_result is not None:
            self._deliver(job.on_result, value)

    @Slot(int, object)
    def _on_error(self, job_id: int, exc: BaseException) -> None:
        job = self._live(job_id)
        if job is not None and job.on_error is not None:
            self._deliver(job.on_error, exc)

    @Slot(int, object)
    def _on_progress(self, job_id: int, value: Any) -> None:
        job = self._live(job_id)
        if job is not None and job.on_progress is not None:
            self._deliver(job.on_progress, value)

    @Slot(int, object)
    def _on_log(self, job_id: int, lines: list[str]) -> None:
        job = self._live(job_id)
        if job is not None and job.on_log is not None:
            self._deliver(job.on_log, lines)

    @Slot(int)
    def _on_finished(self, job_id: int) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if self._latest.get(job.key) == job_id:
            del self._latest[job.key]
        if not job.stale and not self._closed and job.on_finished is not None:
            self._deliver(job.on_finished)
