"""The per-profile run lock on both implementations: flock (macOS, Linux) and msvcrt.locking (Windows).

The Windows one runs here over a fake msvcrt that keeps Windows' documented rules: a byte range locked
through one handle cannot be locked through any other (same process or not, no re-entry); a
non-blocking lock of a held range fails at once with EACCES; ranges start at the handle's current
position; unlocking a range this handle did not lock fails; closing a handle releases its locks.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config import lock
from cio_desktop.config.lock import LockHolder, RunLock, RunLockBusyError, RunLockError, read_holder

posix_only = pytest.mark.posix_only  # skipped off POSIX by tests/conftest.py


class FakeMsvcrt:
    """``msvcrt.locking`` with Windows' semantics, process-local (see the module docstring)."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        # (device, inode) -> locked ranges as (start, end, handle)
        self.ranges: dict[tuple[int, int], list[tuple[int, int, int]]] = {}

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        st = os.fstat(fd)  # EBADF for a closed handle, like the real one
        key = (st.st_dev, st.st_ino)
        start = os.lseek(fd, 0, os.SEEK_CUR)
        end = start + nbytes
        held = self.ranges.setdefault(key, [])
        held[:] = [r for r in held if _still_open(r[2], key)]  # a closed handle's locks are gone
        if mode == self.LK_UNLCK:
            mine = [r for r in held if r == (start, end, fd)]
            if not mine:
                raise OSError(errno.EACCES, "Permission denied")
            held.remove(mine[0])
            return
        if mode not in (self.LK_NBLCK, self.LK_NBRLCK):
            raise AssertionError("the app never waits on a lock (LK_LOCK retries for 10 s)")
        if any(s < end and start < e for s, e, _ in held):
            raise OSError(errno.EACCES, "Permission denied")
        held.append((start, end, fd))


def _still_open(fd: int, key: tuple[int, int]) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == key


@pytest.fixture(params=["flock", "msvcrt"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "flock":
        if os.name != "posix":
            pytest.skip("flock is POSIX")
        monkeypatch.setattr(lock, "_WINDOWS", False)
    else:
        monkeypatch.setattr(lock, "_WINDOWS", True)
        if os.name != "nt":  # on Windows the real msvcrt is used
            monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt())
    yield request.param


def test_a_second_open_of_a_held_lock_is_busy_until_released(implementation: str, tmp_path: Path) -> None:
    path = tmp_path / "acme" / "run.lock"
    first, second = RunLock(path), RunLock(path)
    assert first.try_acquire()
    assert first.held
    assert not second.try_acquire(), "two opens in one process conflict too"
    with pytest.raises(RunLockBusyError):
        second.acquire()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


def test_the_holder_is_readable_by_others_while_the_lock_is_held(implementation: str, tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = RunLock(path)
    holder.acquire()
    holder.write_holder(LockHolder(pid=4242, run_id=17, mode="full", since=time.time()))
    with pytest.raises(RunLockBusyError) as busy:
        RunLock(path).acquire()
    assert busy.value.holder is not None
    assert (busy.value.holder.pid, busy.value.holder.run_id, busy.value.holder.mode) == (4242, 17, "full")
    assert "process 4242, full sync run 17 started " in str(busy.value)
    # Rewriting a shorter holder over a longer one (and the position it leaves) changes nothing.
    holder.write_holder(LockHolder(pid=7))
    assert read_holder(path) == LockHolder(pid=7)
    holder.release()
    with RunLock(path):
        pass


def test_waiting_for_a_lock_gives_up_after_the_timeout(implementation: str, tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with RunLock(path):
        began = time.monotonic()
        with pytest.raises(RunLockBusyError, match="held by another process"):
            RunLock(path).acquire(timeout=0.2)
        assert 0.2 <= time.monotonic() - began < 2


def test_a_lock_file_nobody_wrote_into_reads_as_no_holder(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    assert read_holder(path) is None
    path.write_bytes(b"\x00garbage")
    assert read_holder(path) is None
    path.write_text('{"pid": true, "run_id": "x", "since": "soon"}\n')
    assert read_holder(path) == LockHolder()
    assert LockHolder().describe() == "another process"


@posix_only
def test_the_lock_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "acme" / "run.lock"
    with RunLock(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_folder_that_cannot_hold_the_lock_file_is_an_error_not_busy(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(RunLockError, match="cannot be used") as err:
        RunLock(tmp_path / "not-a-folder" / "run.lock").acquire()
    assert not isinstance(err.value, RunLockBusyError)


def test_windows_lock_errors_other_than_a_held_range_are_not_taken_for_busy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class BrokenMsvcrt(FakeMsvcrt):
        def locking(self, fd: int, mode: int, nbytes: int) -> None:
            raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(lock, "_WINDOWS", True)
    monkeypatch.setitem(sys.modules, "msvcrt", BrokenMsvcrt())
    with pytest.raises(RunLockError, match="cannot be used"):
        RunLock(tmp_path / "run.lock").try_acquire()


@posix_only
def test_a_killed_holder_process_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    code = (
        "import sys, time; from pathlib import Path; from cio_desktop.config.lock import RunLock;"
        f"lock = RunLock(Path({str(path)!r})); lock.acquire(); print('locked', flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "locked"
            assert not RunLock(path).try_acquire(), "held by the other process"
        finally:
            child.kill()  # SIGKILL: no cleanup code runs in the child
            child.wait(timeout=10)
    after = RunLock(path)
    assert after.try_acquire(), "the kernel released it with the process"
    after.release()
