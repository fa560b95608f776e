"""Syncs and plans started from the app window run in a child process (Qt-free).

A sync is per-user work in pure Python: on a thread of the app's own process it holds the GIL most of
the time, and the window stalls while it does (76 ms gaps measured during a 100,000-user sync, against
a 50 ms target). In a child process it has its own interpreter and, on any machine with two cores, its
own core: the window only relays progress and log lines.

- The child is **spawned** (see :mod:`cio_desktop.parallel`) and gets the profile, the mode, the
  approval or plan, and the profile's secrets through the pipe :mod:`multiprocessing` starts it with:
  secrets never reach a file or the command line. It opens its own ledger, source and clients, exactly
  as the headless ``cio-desktop sync`` does; the ledger's run lock keeps one run per profile across
  processes.
- Progress (newest value, at most every :data:`PROGRESS_EVERY_S`) and log lines (in batches) come
  back over another pipe; the result, or the exception the run raised, comes last.
- Cancel sets an event the child watches: the run stops as a cancelled run does in-process, records
  what it did and answers. If the child dies instead (killed, out of memory), the parent says so with
  its exit code; the ledger keeps what was recorded, as after any killed sync.
"""

from __future__ import annotations

import copyreg
import logging
import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.summary import RunMode

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.05
# How often the parent looks at its cancel flag and the child's liveness while no message comes.
POLL_S = 0.05
# After the result came, how long the child may take to exit before it is stopped.
EXIT_WAIT_S = 10.0


def read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return read_only, (dict(proxy),)


# Progress, plans and run records hold read-only views of their counts: they cross the pipe as such.
copyreg.pickle(MappingProxyType, _reduce_proxy)


class Task(Enum):
    RUN = "run"
    PLAN = "plan"


@dataclass(frozen=True)
class ChildRequest:
    """What the child does. ``plan`` (a confirmed Plan) bounds a RUN; ``log_level`` None keeps the
    child's log out of files (demo mode writes none), else the child logs to the app's own log."""

    task: Task
    profile: Profile
    secrets: dict[SecretKey, str]
    mode: RunMode
    approval: DeletionApproval | None = None
    plan: Any = None
    log_level: int | None = None


class ChildRunError(RuntimeError):
    """The child process stopped without an answer, or its answer could not be read."""


class ChildFailure(RuntimeError):
    """An exception of the child's that cannot cross the pipe as itself: its type and message."""


def run_in_child(
    request: ChildRequest,
    *,
    on_progress: Callable[[Any], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """Do ``request`` in a spawned child process and return what it returned (or raise what it raised)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    child = ctx.Process(target=child_main, args=(send, request, stop), name="cio-desktop sync", daemon=True)
    child.start()
    send.close()  # the child holds the only writing end: its exit ends the pipe
    try:
        return _relay(receive, child, stop, on_progress, on_log, cancel)
    finally:
        receive.close()
        child.join(EXIT_WAIT_S)
        if child.is_alive():
            child.terminate()
            child.join(EXIT_WAIT_S)


def _relay(
    receive: Connection,
    child: Any,
    stop: Any,
    on_progress: Callable[[Any], None] | None,
    on_log: Callable[[str], None] | None,
    cancel: threading.Event | None,
) -> Any:
    while True:
        if cancel is not None and cancel.is_set() and not stop.is_set():
            stop.set()
        try:
            if not receive.poll(POLL_S):
                if not child.is_alive() and not receive.poll(0):
                    break
                continue
            kind, value = receive.recv()
        except (EOFError, OSError):
            break
        except Exception as exc:  # an answer that does not unpickle
            raise ChildRunError(f"the sync process's answer could not be read ({type(exc).__name__}: {exc})") from None
        if kind == "progress":
            if on_progress is not None:
                on_progress(value)
        elif kind == "log":
            if on_log is not None:
                for line in value:
                    on_log(line)
        elif kind == "done":
            return value
        elif kind == "error":
            raise value
    child.join(EXIT_WAIT_S)
    raise ChildRunError(
        f"the sync process stopped before it answered (exit code {child.exitcode}); what it recorded before"
        " is kept, and the next run carries on from there"
    )


# ---------------------------------------------------------------------------------------------- the child
class _Outbox:
    """The child's side of the pipe: progress at most every PROGRESS_EVERY_S, log lines in batches."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.last = 0.0
        self.pending: Any = None
        self.has_pending = False
        self.lines: list[str] = []

    def progress(self, value: Any) -> None:
        with self.lock:
            self.pending, self.has_pending = value, True
            if time.monotonic() - self.last >= PROGRESS_EVERY_S:
                self._flush_locked()

    def log(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
            if time.monotonic() - self.last >= PROGRESS_EVERY_S:
                self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self.last = time.monotonic()
        if self.lines:
            lines, self.lines = self.lines, []
            self.conn.send(("log", lines))
        if self.has_pending:
            value, self.pending, self.has_pending = self.pending, None, False
            self.conn.send(("progress", value))

    def answer(self, kind: str, value: Any) -> None:
        with self.lock:
            self._flush_locked()
            self.conn.send((kind, value))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling (the window tells errors apart by type), else its words."""
    try:
        # Our own bytes, made a line above: nothing untrusted is unpickled.
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301
    except Exception:
        copy = None
    if isinstance(copy, BaseException) and str(copy) == str(exc):
        return exc
    return ChildFailure(f"{type(exc).__name__}: {exc}")


def child_main(conn: Connection, request: ChildRequest, stop: Any) -> None:
    """The child process: do the request, answer, exit."""
    cancel = threading.Event()

    def watch() -> None:
        stop.wait()
        cancel.set()

    threading.Thread(target=watch, name="cancel-watch", daemon=True).start()
    outbox = _Outbox(conn)
    try:
        if request.log_level is not None:
            from cio_desktop.config.logs import LogKind, setup_logging

            setup_logging(request.log_level, kind=LogKind.GUI)
        outbox.answer("done", _do(request, outbox, cancel))
    except BaseException as exc:
        log.debug("the sync process ends with an error", exc_info=True)
        outbox.answer("error", _portable(exc))
    finally:
        conn.close()


def _do(request: ChildRequest, outbox: _Outbox, cancel: threading.Event) -> Any:
    from cio_desktop.sync.factory import open_services

    profile = request.profile
    secrets = SecretStore.in_memory()
    for key, value in request.secrets.items():
        secrets.set(profile.name, key, value)
    send = request.task is Task.PLAN or request.mode is not RunMode.DRY_RUN
    with open_services(profile, secrets, need_track=send) as services:
        engine = services.engine()
        if request.task is Task.PLAN:
            from cio_desktop.sync.plan import compute_plan

            return compute_plan(engine, request.mode, on_progress=outbox.progress, cancel=cancel, app=services.app)
        if request.plan is not None:
            from cio_desktop.sync.plan import run_planned

            return run_planned(engine, request.plan, on_progress=outbox.progress, on_log=outbox.log, cancel=cancel)
        return engine.run(
            request.mode,
            on_progress=outbox.progress,
            on_log=outbox.log,
            cancel=cancel,
            allow_deletions=request.approval,
        )


__all__ = ["ChildFailure", "ChildRequest", "ChildRunError", "Task", "child_main", "run_in_child"]
