"""The webhook receiver's HTTP/1.1 server: h11 frames the bytes, this module guards the connections.

h11 parses and writes HTTP/1.1 (request line, headers, Content-Length and chunked bodies,
keep-alive, pipelining) and refuses malformed framing; this module runs it on one asyncio loop and
adds what a server facing the internet needs:

* bounded input: a request head up to ``max_header_bytes`` (else 431), a body up to
  ``max_body_bytes`` (else 413, from Content-Length before a byte of it is read); while a request
  is handled, at most a head's worth of the next one is read, the rest waits in the socket.
* bounded time: a new connection must deliver a complete request head within ``header_timeout``;
  a kept-alive one may wait ``idle_timeout`` for its next request, then has ``header_timeout`` from
  its first byte; a body must arrive within ``body_timeout`` (else 408).
* bounded connections, so idle or slow clients cannot starve real ones: at most ``max_connections``
  (fewer when the process's file-descriptor limit is lower). When full, the connection that has
  waited longest for a request head (idle, or trickling one in) is closed to make room, and one
  client address may keep at most ``max_idle_per_client`` connections waiting (beyond that its own
  oldest goes). A connection whose request head has arrived is never evicted: it gets its answer.
  Only a request with the secret token gets that far, so strangers can only occupy waiting slots.
* ``accept()`` failing for want of file descriptors is logged; the oldest waiting connections are
  closed and accepting resumes after a short pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections import OrderedDict
from typing import Any

from cio_desktop.webhooks.http_connection import HttpConnection, Limits, Request, RequestHandler, Response

log = logging.getLogger(__name__)

ACCEPT_BATCH = 32  # connections accepted per loop pass, so waiting requests are read in between
ACCEPT_BACKOFF = 0.1  # seconds to pause accepting when the process is out of file descriptors
LISTEN_BACKLOG = 4096  # the kernel caps it (somaxconn); a full queue drops new SYNs for a second or more
FD_RESERVE = 256  # descriptors kept for the inbox, the forwarder, logs and (in the app) the GUI
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_WARN_EVERY = 60.0


def fd_capacity(requested: int) -> int:
    """``requested`` connections, or fewer if the descriptor limit would run out first."""
    try:
        import resource
    except ImportError:  # Windows: no per-process descriptor limit of this kind
        return requested
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft - min(FD_RESERVE, soft // 4)))


class HttpServer:
    """Serves ``handler`` on one listening socket; create, ``await start()`` and ``await close()`` on one loop."""

    def __init__(self, handler: RequestHandler, limits: Limits) -> None:
        self.handler = handler
        self.limits = limits
        self.capacity = fd_capacity(limits.max_connections)
        self.evicted = 0
        self.turned_away = 0
        self._socks: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._adopting: set[asyncio.Task[None]] = set()
        self._open: set[HttpConnection] = set()
        # Connections waiting for a request head, oldest first: overall and per client address.
        self._waiting: OrderedDict[HttpConnection, None] = OrderedDict()
        self._waiting_by_client: dict[str, OrderedDict[HttpConnection, None]] = {}
        # Answered and closing (a short drain, see HttpConnection._linger), oldest first.
        self._lingering: OrderedDict[HttpConnection, None] = OrderedDict()
        self._warned_at: dict[str, float] = {}

    @property
    def connections(self) -> int:
        return len(self._open)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (raises OSError); returns the port (useful when ``port`` is 0).

        A name with several addresses ("localhost": 127.0.0.1 and ::1) is served on each of them
        that can be bound, all on the same port.
        """
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for i, (family, kind, proto, _, address) in enumerate(dict.fromkeys(infos)):
            try:
                sock = _listening_socket(family, kind, proto, (address[0], port, *address[2:]))
            except OSError:
                if i == 0:
                    raise
                continue  # e.g. IPv6 switched off: the first address is served
            self._socks.append(sock)
            port = int(sock.getsockname()[1])
        self._accepting = [loop.create_task(self._accept_loop(sock)) for sock in self._socks]
        return port

    async def close(self) -> None:
        """Stop accepting, drop every connection and wait for the requests being handled to end."""
        for accepting in self._accepting:
            accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await accepting
        for sock in self._socks:
            sock.close()
        tasks = [t for c in list(self._open) if (t := c.abort()) is not None]
        tasks.extend(self._adopting)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports run connection_lost

    # ------------------------------------------------------------------ accepting
    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
                self._adopt(loop, conn)
                # Take what else is queued without waiting, a batch at a time: between batches the
                # loop reads the requests of connections already accepted.
                for _ in range(ACCEPT_BATCH - 1):
                    conn, _ = sock.accept()
                    self._adopt(loop, conn)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                pass
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._warn(
                        "fds",
                        "webhook receiver: cannot accept connections (%s); closing idle ones and retrying. "
                        "Raising the open-files limit (ulimit -n) helps.",
                        exc.strerror or exc,
                    )
                    for _ in range(ACCEPT_BATCH):
                        if not self._evict_oldest():
                            break
                else:
                    log.warning("webhook receiver: accept failed: %s", exc)
                await asyncio.sleep(ACCEPT_BACKOFF)
                continue
            await asyncio.sleep(0)

    def _adopt(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        task = loop.create_task(self._connect(loop, sock))
        self._adopting.add(task)
        task.add_done_callback(self._adopting.discard)

    async def _connect(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(lambda: HttpConnection(self), sock)
        except OSError:  # gone before we got to it
            sock.close()

    # ------------------------------------------------------------------ the connection table
    def register(self, conn: HttpConnection) -> bool:
        if len(self._open) >= self.capacity and not self._evict_oldest():
            self.turned_away += 1
            self._warn("full", "webhook receiver: %d connections are busy; turning new ones away", len(self._open))
            return False
        self._open.add(conn)
        return True

    def unregister(self, conn: HttpConnection) -> None:
        self.not_waiting(conn)
        self._lingering.pop(conn, None)
        self._open.discard(conn)

    def waiting(self, conn: HttpConnection) -> None:
        self._waiting[conn] = None
        mine = self._waiting_by_client.setdefault(conn.client, OrderedDict())
        mine[conn] = None
        if len(mine) > self.limits.max_idle_per_client:
            self._evict(next(iter(mine)))

    def not_waiting(self, conn: HttpConnection) -> None:
        if conn not in self._waiting:
            return
        del self._waiting[conn]
        mine = self._waiting_by_client[conn.client]
        del mine[conn]
        if not mine:
            del self._waiting_by_client[conn.client]

    def lingering(self, conn: HttpConnection) -> None:
        self._lingering[conn] = None

    def _evict_oldest(self) -> bool:
        """Close the connection that has waited longest for a request, else the oldest answered one."""
        for candidates in (self._waiting, self._lingering):
            if candidates:
                self._evict(next(iter(candidates)))
                return True
        return False

    def _evict(self, conn: HttpConnection) -> None:
        self.evicted += 1
        self._warn("evict", "webhook receiver: many idle connections; closing the oldest to serve new ones")
        conn.drop()

    def _warn(self, what: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(what, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned_at[what] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)


def _listening_socket(family: int, kind: int, proto: int, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":  # lets a restart reuse the port at once; on Windows it would allow hijacking
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # as asyncio does: the IPv4 address gets its own socket
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = ["HttpServer", "Limits", "Request", "RequestHandler", "Response", "fd_capacity"]
