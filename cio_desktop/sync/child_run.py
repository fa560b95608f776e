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
- Cancel is a message on a second pipe the child watches (not a ``multiprocessing.Event``: setting
  one waits for every waiter to wake, forever when a waiter died): the run stops as a cancelled run
  does in-process, records what it did and answers; after :data:`CANCEL_GRACE_S` without an answer
  it is stopped. If the child dies instead (killed, out of memory), the parent says so with its exit
  code; the ledger keeps what was recorded, as after any killed sync. A child that cannot start
  (importing the app, reading the request) says why (:mod:`cio_desktop.sync.child_boot`).
- The child cancels its own run when the window's process is gone (killed, crashed) or cannot be
  written to, and ignores Ctrl-C from the terminal (the window asks first, then cancels).
- Exceptions keep their type across the pipe, also those whose ``__init__`` pickle cannot call again
  (rebuilt from class, args and attributes); only what cannot be rebuilt arrives as its words.
"""

from __future__ import annotations

import copyreg
import logging
import multiprocessing
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.sync.child_boot import ChildStartError, boot
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.summary import RunMode

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.05
# How often the parent looks at its cancel flag and the child's liveness while no message comes.
POLL_S = 0.05
# After the result came, how long the child may take to exit before it is stopped.
EXIT_WAIT_S = 10.0
# After cancel, how long the run may take to stop between batches and answer before it is stopped
# (a killed run loses nothing: the next one carries on from the ledger).
CANCEL_GRACE_S = 60.0


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
    child's log out of files (demo mode writes none), else the child logs to the app's own log (and
    to its console too with ``log_console``)."""

    task: Task
    profile: Profile
    secrets: dict[SecretKey, str] = field(repr=False)
    mode: RunMode
    approval: DeletionApproval | None = None
    plan: Any = None
    log_level: int | None = None
    log_console: bool = False


class ChildRunError(RuntimeError):
    """The child process stopped without an answer, or its answer could not be read."""


class ChildFailure(RuntimeError):
    """An exception of the child's that cannot cross the pipe as itself: its type and message."""


@dataclass(frozen=True)
class _Raised:
    """An exception whose class cannot be rebuilt by pickle (an ``__init__`` that takes other
    arguments than its ``args``): its class, args and attributes, rebuilt without calling ``__init__``."""

    cls: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    words: str

    def rebuild(self) -> BaseException:
        try:
            exc = self.cls.__new__(self.cls)
            exc.args = self.args
            exc.__dict__.update(self.state)
            if str(exc) == self.words:
                return exc
        except Exception:
            log.debug("could not rebuild %s", self.cls, exc_info=True)
        return ChildFailure(self.words)


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
    control_in, control_out = ctx.Pipe(duplex=False)
    stop = Stop(control_out)
    # Not a daemon: the run may start worker processes of its own (cio_desktop.parallel). It ends by
    # itself when this process is gone (child_main watches it), and is stopped below otherwise.
    # The request goes pickled: the child reads it where a failure is answered, not only an exit code.
    payload = pickle.dumps(request)
    child = ctx.Process(target=boot, args=(send, payload, control_in), name="cio-desktop sync", daemon=False)
    try:
        child.start()
    except BaseException:
        for end in (receive, send, control_in, control_out):
            end.close()
        raise
    send.close()  # the child holds the only writing end: its exit ends the pipe
    control_in.close()
    answered = False
    try:
        result = _relay(receive, child, stop, on_progress, on_log, cancel)
        answered = True
        return result
    finally:
        if not answered:
            stop.set()  # whatever went wrong here, the run is cancelled, not cut short
        receive.close()
        child.join(EXIT_WAIT_S if answered else CANCEL_GRACE_S)
        if child.is_alive():
            child.terminate()
            child.join(EXIT_WAIT_S)
        control_out.close()


class Stop:
    """The parent's end of the cancel pipe: ``set()`` asks the child to cancel its run (once)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._set = False

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        try:
            self.conn.send("stop")
        except OSError:  # the child is gone already
            pass

    def is_set(self) -> bool:
        return self._set


def _relay(
    receive: Connection,
    child: Any,
    stop: Stop,
    on_progress: Callable[[Any], None] | None,
    on_log: Callable[[str], None] | None,
    cancel: threading.Event | None,
) -> Any:
    cancelled_at: float | None = None
    while True:
        if cancel is not None and cancel.is_set() and not stop.is_set():
            stop.set()
        if stop.is_set() and cancelled_at is None:
            cancelled_at = time.monotonic()
        if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
            child.terminate()
            raise ChildRunError(
                f"the sync did not stop within {CANCEL_GRACE_S:.0f} s of the cancel, so it was stopped; what"
                " it recorded before is kept, and the next run carries on from there"
            )
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
            error = value.rebuild() if isinstance(value, _Raised) else value
            if isinstance(error, ChildStartError) and error.details:
                log.warning("the sync process could not start:\n%s", error.details)
            if not isinstance(error, Exception):  # e.g. SystemExit: never raised into the window as such
                error = ChildFailure(f"{type(error).__name__}: {error}")
            raise error
    child.join(EXIT_WAIT_S)
    raise ChildRunError(
        f"the sync process stopped before it answered (exit code {child.exitcode}); what it recorded before"
        " is kept, and the next run carries on from there"
    )


# ---------------------------------------------------------------------------------------------- the child
class _Outbox:
    """The child's side of the pipe: progress at most every PROGRESS_EVERY_S, log lines in batches.
    A send that fails (the window's process is gone) cancels the run."""

    def __init__(self, conn: Connection, cancel: threading.Event) -> None:
        self.conn = conn
        self.cancel = cancel
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

    def _send(self, message: tuple[str, Any]) -> None:
        try:
            self.conn.send(message)
        except OSError:  # the window's process is gone: nobody to report to, stop the run
            self.cancel.set()

    def _flush_locked(self) -> None:
        self.last = time.monotonic()
        if self.lines:
            lines, self.lines = self.lines, []
            self._send(("log", lines))
        if self.has_pending:
            value, self.pending, self.has_pending = self.pending, None, False
            self._send(("progress", value))

    def answer(self, kind: str, value: Any) -> None:
        with self.lock:
            self._flush_locked()
            self._send((kind, value))


def _portable(exc: BaseException) -> BaseException | _Raised:
    """``exc`` itself when it survives pickling (the window tells errors apart by type), else its
    class and state to rebuild it from, else its words."""
    words = str(exc)
    try:
        # Our own bytes, made a line above: nothing untrusted is unpickled.
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301
    except Exception:
        copy = None
    if isinstance(copy, BaseException) and type(copy) is type(exc) and str(copy) == words:
        return exc
    raised = _Raised(type(exc), tuple(exc.args), dict(getattr(exc, "__dict__", {})), words)
    try:
        again = pickle.loads(pickle.dumps(raised))  # noqa: S301
        if isinstance(again, _Raised) and type(again.rebuild()) is type(exc):
            return raised
    except Exception:
        log.debug("%s cannot cross the pipe", type(exc).__name__, exc_info=True)
    return ChildFailure(f"{type(exc).__name__}: {words}")


def _watch(control: Connection, cancel: threading.Event) -> None:
    """Cancel the run when the window asks (a message, or the end of the cancel pipe) or when the
    window's process is gone."""
    parent = multiprocessing.parent_process()
    try:
        while not control.poll(POLL_S * 4):
            if parent is not None and not parent.is_alive():
                log.warning("the app's window is gone: cancelling the sync it started")
                break
    except (EOFError, OSError):
        pass
    cancel.set()


def child_main(conn: Connection, request: ChildRequest, control: Connection) -> None:
    """The child process: do the request, answer, exit."""
    # Ctrl-C in the terminal the app was started from reaches this process too: the window decides
    # (it asks, then cancels through ``control``).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cancel = threading.Event()
    threading.Thread(target=_watch, args=(control, cancel), name="cancel-watch", daemon=True).start()
    outbox = _Outbox(conn, cancel)
    if request.log_level is not None:
        from cio_desktop.config.logs import LogKind, setup_logging

        try:
            setup_logging(request.log_level, console=request.log_console, kind=LogKind.GUI)
        except OSError as exc:  # a full or read-only disk must not stop the sync (as in the CLI)
            outbox.log(f"Logging to a file is off for this run: {exc}")
    try:
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
