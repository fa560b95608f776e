"""The per-profile run lock: one sync of a profile at a time, across processes, on every platform.

An OS file lock on ``run.lock`` in the profile's data folder: ``fcntl.flock`` on macOS and Linux,
``msvcrt.locking`` on Windows. Both belong to one open file (handle), so two opens conflict even in
one process, and the kernel drops the lock when its process ends however it ends (exit, crash,
SIGKILL), so a dead run never leaves a stale lock and no code asks whether a process id is alive
(``os.kill(pid, 0)`` sends Ctrl+C on Windows).

The file is never deleted: deleting a lock file lets two processes each lock a file of their own.
The holder writes who it is into it (process, run, mode, start) for the "busy" message. Windows
locks are mandatory (a locked byte cannot be read through another handle), so the lock covers one
byte far past that text, which stays readable; ``flock`` locks the whole file but only advisorily.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cio_desktop.config import paths
from cio_desktop.config.private import private_file

RUN_LOCK_FILENAME = "run.lock"
# Windows: the one locked byte, past any holder text (locking past the end of a file is allowed).
_LOCK_OFFSET = 1 << 30
_HOLDER_MAX_BYTES = 4096
_POLL_S = 0.05
# Which implementation to use; tests switch it to run the Windows one over a faithful fake msvcrt.
_WINDOWS = os.name == "nt"


class RunLockError(Exception):
    """The run lock cannot be taken at all (not: someone else holds it). The message says why."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run lock, as the holder wrote it (informative only: nothing is sent to that process)."""

    pid: int | None = None
    run_id: int | None = None
    mode: str = ""
    since: float | None = None

    def describe(self) -> str:
        """ "process 4242, full sync run 17 started 2024-05-01 14:03" (the parts that are known)."""
        parts = [f"process {self.pid}" if self.pid else "another process"]
        run: list[str] = []
        if self.mode:
            run.append(f"{self.mode.replace('_', ' ')} sync")
        if self.run_id is not None:
            run.append(f"run {self.run_id}")
        if self.since is not None:
            run.append("started " + time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since)))
        if run:
            parts.append(" ".join(run))
        return ", ".join(parts)


class RunLockBusyError(RunLockError):
    """Another open of the lock (another process, or another part of this one) holds it."""

    def __init__(self, path: Path, holder: LockHolder | None) -> None:
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(f"The run lock {path} is held by {who}.")


class RunLock:
    """An exclusive, non-blocking OS lock on the file ``path`` (created 0600 in a 0700 folder).

    Not re-entrant: a second :meth:`acquire` of a held lock is a bug. Thread-safe.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False if someone does. Raises RunLockError if it cannot lock."""
        with self._guard:
            if self._fd is not None:
                raise RuntimeError(f"{self.path} is already held by this RunLock")
            try:
                private_file(self.path)
                fd = os.open(self.path, os.O_RDWR | getattr(os, "O_BINARY", 0))
            except OSError as exc:
                raise RunLockError(self._cannot(exc)) from exc
            try:
                locked = _try_lock(fd)
            except OSError as exc:
                os.close(fd)
                raise RunLockError(self._cannot(exc)) from exc
            if not locked:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def acquire(self, *, timeout: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout`` seconds; raises :class:`RunLockBusyError` (with
        what the holder wrote) if it stays held, :class:`RunLockError` if it cannot lock at all."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise RunLockBusyError(self.path, read_holder(self.path))
            time.sleep(_POLL_S)

    def write_holder(self, holder: LockHolder) -> None:
        """Say who holds the lock (for the message another process shows). Needs the lock held."""
        data = json.dumps({"pid": holder.pid, "run_id": holder.run_id, "mode": holder.mode, "since": holder.since})
        with self._guard:
            if self._fd is None:
                raise RuntimeError(f"{self.path} is not held")
            # One line, rewritten in place: a reader takes the first line, whatever follows it.
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, (data + "\n").encode("utf-8"))

    def release(self) -> None:
        """Let the lock go (nothing happens if it is not held)."""
        with self._guard:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                _unlock(fd)
            finally:
                os.close(fd)  # closing drops the lock anyway; unlocking first is for clarity

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _cannot(self, exc: OSError) -> str:
        return (
            f"The run lock {self.path} cannot be used ({exc.strerror or exc}). The profile's data folder must be"
            " writable, on a disk that supports file locks."
        )


def read_holder(path: Path) -> LockHolder | None:
    """What the holder of the lock at ``path`` wrote, or None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            line = fh.read(_HOLDER_MAX_BYTES).split(b"\n", 1)[0]
        data = json.loads(line)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return LockHolder(
        pid=_int(data.get("pid")),
        run_id=_int(data.get("run_id")),
        mode=str(data.get("mode") or ""),
        since=float(data["since"]) if isinstance(data.get("since"), int | float) else None,
    )


def profile_run_lock(profile_name: str) -> RunLock:
    """The run lock of a profile (``profile_name`` as stored); the ledger takes the same file."""
    return RunLock(paths.profile_data_dir(profile_name) / RUN_LOCK_FILENAME)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------- the two implementations
def _msvcrt() -> Any:
    return importlib.import_module("msvcrt")  # Windows only; typed Any so mypy passes on every platform


# _locking's errors for a byte range locked through another handle (EDEADLOCK is Windows' EDEADLK).
_WINDOWS_BUSY = frozenset({errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)})


def _try_lock(fd: int) -> bool:
    if _WINDOWS:
        msvcrt = _msvcrt()
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)  # locking() starts at the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in _WINDOWS_BUSY:
                return False
            raise
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if _WINDOWS:
        msvcrt = _msvcrt()
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)  # the holder text moved the position
        with contextlib.suppress(OSError):  # closing the handle releases it too
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


__all__ = [
    "RUN_LOCK_FILENAME",
    "LockHolder",
    "RunLock",
    "RunLockBusyError",
    "RunLockError",
    "profile_run_lock",
    "read_holder",
]
