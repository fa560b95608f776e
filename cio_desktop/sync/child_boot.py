"""The first thing a run's child process does (:mod:`cio_desktop.sync.child_run`), kept light.

Whatever fails before the run starts (importing the app's modules, reading the request) would
otherwise end the child with only an exit code for the window to show, and a traceback on a console
a windowed app does not have. Here the child imports the run's module and reads its request inside a
``try``, and answers such a failure through the pipe as a :class:`ChildStartError`: the window shows
what went wrong, and logs where.
"""

from __future__ import annotations

import pickle
import traceback
from multiprocessing.connection import Connection


class ChildStartError(RuntimeError):
    """The sync process could not start; ``details`` is its traceback (for the log, not the window)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    def __reduce__(self) -> tuple[type[ChildStartError], tuple[str, str]]:
        return (ChildStartError, (str(self), self.details))


def boot(conn: Connection, request: bytes, control: Connection) -> None:
    """The child's target: read the request (pickled by the window), then run it (``child_main``)."""
    try:
        from cio_desktop.sync.child_run import child_main

        # The window's own bytes, handed over by multiprocessing's pipe: nothing untrusted is unpickled.
        decoded = pickle.loads(request)  # noqa: S301
    except BaseException as exc:
        error = ChildStartError(
            f"The sync process could not start ({type(exc).__name__}: {exc}).", traceback.format_exc()
        )
        try:
            conn.send(("error", error))
        finally:
            conn.close()
        return
    child_main(conn, decoded, control)


__all__ = ["ChildStartError", "boot"]
