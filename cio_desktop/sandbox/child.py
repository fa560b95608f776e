"""The demo window's sandbox, in a spawned child process.

Serving a sync's requests is Python work too (reading 500 KB batches, updating the workspace): in the
window's own process it would compete with the GUI thread for the GIL, and the demo would stall while
the real app (talking to the real services) does not. In a child it has its own interpreter. The child
answers once with what the window needs (the demo profile, its secrets, the URLs), then serves until
told to stop, or until the window's process is gone: it waits on the pipe, which ends when the window
exits or is killed, so no orphan keeps serving.
"""

from __future__ import annotations

import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from cio_desktop.config.profile import Profile

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class SandboxInfo:
    """What the window needs from the child's sandbox."""

    profile: Profile  # the demo profile pointing at it
    secrets: dict[str, str]  # its credentials, by SecretKey value
    base_url: str


class SandboxProcess:
    """:class:`~cio_desktop.sandbox.Sandbox` (``users``, ``seed``) served by a child process."""

    def __init__(self, users: int, seed: int) -> None:
        self.users, self.seed = users, seed
        self._conn: Connection | None = None
        self._proc: Any = None
        self.info: SandboxInfo | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> SandboxInfo:
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=serve, args=(theirs, self.users, self.seed), name="cio-desktop demo sandbox", daemon=True
        )
        proc.start()
        theirs.close()
        self._conn, self._proc = mine, proc
        try:
            if not mine.poll(timeout):
                raise RuntimeError(f"the demo organization did not start within {timeout:.0f} s")
            kind, value = mine.recv()
        except (EOFError, OSError):
            self.stop()
            raise RuntimeError(f"the demo organization stopped while starting (exit code {proc.exitcode})") from None
        except BaseException:
            self.stop()
            raise
        if kind != "ready" or not isinstance(value, SandboxInfo):
            self.stop()
            raise RuntimeError(f"the demo organization could not start: {value}")
        self.info = value
        return value

    def stop(self) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            conn.close()  # the child reads the end of the pipe as "stop"
        if proc is not None:
            proc.join(STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(STOP_TIMEOUT_S)


def serve(conn: Connection, users: int, seed: int) -> None:
    """The child: start the sandbox, answer with its info, serve until the pipe ends."""
    from cio_desktop.sandbox import Sandbox

    # Ctrl-C in the terminal the app was started from reaches this process too: the window decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sandbox = Sandbox(users=users, seed=seed).start()
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        info = SandboxInfo(sandbox.demo_profile(), sandbox.credentials.secrets(), sandbox.urls.base)
        conn.send(("ready", info))
        try:
            while True:
                conn.recv()  # nothing is ever sent: this returns only at the end of the pipe
        except (EOFError, OSError):
            pass
    finally:
        sandbox.stop()


__all__ = ["SandboxInfo", "SandboxProcess", "serve"]
