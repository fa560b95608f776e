"""Reading ahead: a background thread pages the source into a small bounded queue.

Hull's network waits (or an export file's parsing) then overlap with the planning on the run's own
thread, while memory stays bounded: at most ``depth`` pages wait in the queue.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

# Users (and events) read, looked up in the ledger and planned together.
PAGE_SIZE = 500


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` items (the last one shorter) until ``items`` ends."""
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk


class Prefetch:
    """Pages an iterator on a background thread into a bounded queue (source I/O overlaps planning)."""

    _END = object()

    def __init__(
        self,
        make: Callable[[], Iterator[Any]],
        size: int,
        stop: threading.Event,
        depth: int = 4,
        *,
        paged: bool = False,
        closed: threading.Event | None = None,
    ) -> None:
        """``make()`` gives the items, or with ``paged`` the pages themselves (lists, passed on as they are).
        ``closed`` (set by :meth:`join`) may be given, so that what ``make()`` gives can see it too."""
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = stop
        self._error: BaseException | None = None
        self._paged = paged
        self._closed = closed or threading.Event()  # the consumer is done (or gave up): read no further
        self._thread = threading.Thread(target=self._run, args=(make, size), name="sync-prefetch", daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], Iterator[Any]], size: int) -> None:
        it: Iterator[Any] | None = None
        try:
            it = make()
            for chunk in it if self._paged else chunks(it, size):
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
        while not self._stop.is_set() and not self._closed.is_set():
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
        """Stop reading ahead (the consumer is done, or stopped early) and wait for the thread."""
        self._closed.set()
        self._thread.join(timeout=5)
