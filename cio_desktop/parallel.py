"""Worker processes for per-user work: how many, and how they start on every platform.

Per-user work in pure Python (reading and scanning export files, mapping people) holds the GIL, so
threads do not spread it over cores; processes do. Every pool here uses the **spawn** start method on
every platform: it is the only one macOS and Windows offer safely (fork is unsafe once Qt or the
keyring started threads), and using it on Linux too keeps the tested path the shipped one. A frozen
build starts its workers through ``multiprocessing.freeze_support()`` (``cio_desktop/__main__.py``).

How many workers (:func:`worker_count`): ``CIO_DESKTOP_WORKERS`` when set (0 = in the run's own
process), else :func:`default_workers` of the machine. Each worker costs a Python start-up (about
0.2 s and 30 MB) and every user sent to it is pickled twice, so workers only pay where cores are
free: on a 2-core laptop one core reads and sends while the other serves the sandbox or the network
stack, and workers would only compete with them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

WORKERS_ENV = "CIO_DESKTOP_WORKERS"
MAX_WORKERS = 16
# Beyond this many workers the run's own thread (reading, the ledger, sending) is the bottleneck.
MAX_DEFAULT = 4


class WorkersSettingError(ValueError):
    """``CIO_DESKTOP_WORKERS`` is not a whole number from 0 to MAX_WORKERS."""


def default_workers(cpus: int | None) -> int:
    """Workers for a machine with ``cpus`` cores: none up to 2 cores (the run's thread and the network
    need them), then one per core beyond 2, at most :data:`MAX_DEFAULT`."""
    if not cpus or cpus <= 2:
        return 0
    return min(MAX_DEFAULT, cpus - 2)


def scan_workers(environ: dict[str, str] | None = None, cpus: int | None = None) -> int:
    """Workers for the metadata scan of an export file: the ``CIO_DESKTOP_WORKERS`` setting, else the
    machine's default, but at least one on 2 cores: a scan comes before anything is sent, so the core a
    run leaves to sending is free (a 60,000-user file: 0.68 s alone, 0.45 s with one worker)."""
    count = worker_count(environ, cpus)
    if (os.environ if environ is None else environ).get(WORKERS_ENV, "").strip():
        return count
    machine = (os.cpu_count() if cpus is None else cpus) or 1
    return max(count, 1) if machine >= 2 else count


def worker_count(environ: dict[str, str] | None = None, cpus: int | None = None) -> int:
    """Workers to use: the ``CIO_DESKTOP_WORKERS`` setting, else the machine's default."""
    env = os.environ if environ is None else environ
    raw = env.get(WORKERS_ENV, "").strip()
    if not raw:
        return default_workers(os.cpu_count() if cpus is None else cpus)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_WORKERS:
        raise WorkersSettingError(
            f"{WORKERS_ENV}={raw!r} is not a number of worker processes from 0 to {MAX_WORKERS}"
            " (0 does the work in the run's own process)"
        )
    return value


def ignore_interrupts() -> None:
    """In a worker process: leave Ctrl-C to the run. A terminal's Ctrl-C reaches every process of its
    group; the run's process turns it into a cancel and stops its workers itself. A worker that took
    it would end the run with its own KeyboardInterrupt (or die mid-message) instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(
    workers: int, initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (``initializer(*initargs)`` runs once in each), which
    leave Ctrl-C to the run (:func:`ignore_interrupts`)."""
    if workers < 1:
        raise ValueError("a process pool needs at least one worker")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(initializer, initargs),
    )


def _start_worker(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    ignore_interrupts()
    if initializer is not None:
        initializer(*initargs)


def _worker_answer(conn: Connection, number: int) -> None:
    conn.send((os.getpid(), number * number))
    conn.close()


def check_worker(timeout: float = 60.0) -> str:
    """Start one worker process and have it compute something: the frozen build's selfcheck, where a
    missing ``freeze_support`` would start the app again instead of a worker. Fails (never hangs)
    when no answer comes within ``timeout``."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_worker_answer, args=(send, 12), name="cio-desktop selfcheck worker")
    worker.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise RuntimeError(f"a worker process did not answer within {timeout:.0f} s")
        try:
            pid, square = receive.recv()
        except EOFError:
            raise RuntimeError("a worker process stopped before it answered") from None
    finally:
        receive.close()
        worker.join(5)
        if worker.is_alive():
            worker.terminate()
            worker.join(5)
    if square != 144 or pid == os.getpid():
        raise RuntimeError("the worker process did not answer as expected")
    return f"a worker process (pid {pid}) answered"


__all__ = [
    "MAX_DEFAULT",
    "MAX_WORKERS",
    "WORKERS_ENV",
    "WorkersSettingError",
    "check_worker",
    "default_workers",
    "ignore_interrupts",
    "process_pool",
    "scan_workers",
    "worker_count",
]
