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
import json
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import Any, Protocol

import h11

log = logging.getLogger(__name__)

ACCEPT_BATCH = 32  # connections accepted per loop pass, so waiting requests are read in between
ACCEPT_BACKOFF = 0.1  # seconds to pause accepting when the process is out of file descriptors
LISTEN_BACKLOG = 1024
LINGER_SECONDS = 0.5
FD_RESERVE = 256  # descriptors kept for the inbox, the forwarder, logs and (in the app) the GUI
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_WARN_EVERY = 60.0


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1000
    max_idle_per_client: int = 256
    header_timeout: float = 5.0
    idle_timeout: float = 15.0
    body_timeout: float = 2.0
    # From the end of the head to the answer, whatever the body and the disk do.
    request_budget: float = 3.0
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    target: bytes
    path: bytes
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    client: str


@dataclass
class Response:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class RequestHandler(Protocol):
    """What the server asks of the application (the webhook receiver)."""

    def on_head(self, request: Request) -> Response | None:
        """An answer from the head alone (the body is then not read), or None to read the body."""

    async def on_request(self, request: Request, body: bytes, deadline: float) -> Response:
        """The answer to a complete request; ``deadline`` is a ``time.monotonic()`` value."""

    def refuse(self, status: int, reason: str) -> Response:
        """An error answer the server decided on (framing, size, timeout), counted by the application."""


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
        self._open: set[_Connection] = set()
        # Connections waiting for a request head, oldest first: overall and per client address.
        self._waiting: OrderedDict[_Connection, None] = OrderedDict()
        self._waiting_by_client: dict[str, OrderedDict[_Connection, None]] = {}
        # Answered and closing (a short drain, see _Connection._linger), oldest first.
        self._lingering: OrderedDict[_Connection, None] = OrderedDict()
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
            await loop.connect_accepted_socket(lambda: _Connection(self), sock)
        except OSError:  # gone before we got to it
            sock.close()

    # ------------------------------------------------------------------ the connection table
    def _register(self, conn: _Connection) -> bool:
        if len(self._open) >= self.capacity and not self._evict_oldest():
            self.turned_away += 1
            self._warn("full", "webhook receiver: %d connections are busy; turning new ones away", len(self._open))
            return False
        self._open.add(conn)
        return True

    def _unregister(self, conn: _Connection) -> None:
        self._leave_waiting(conn)
        self._lingering.pop(conn, None)
        self._open.discard(conn)

    def _enter_waiting(self, conn: _Connection) -> None:
        self._waiting[conn] = None
        mine = self._waiting_by_client.setdefault(conn.client, OrderedDict())
        mine[conn] = None
        if len(mine) > self.limits.max_idle_per_client:
            self._evict(next(iter(mine)))

    def _leave_waiting(self, conn: _Connection) -> None:
        if conn not in self._waiting:
            return
        del self._waiting[conn]
        mine = self._waiting_by_client[conn.client]
        del mine[conn]
        if not mine:
            del self._waiting_by_client[conn.client]

    def _evict_oldest(self) -> bool:
        """Close the connection that has waited longest for a request, else the oldest answered one."""
        for candidates in (self._waiting, self._lingering):
            if candidates:
                self._evict(next(iter(candidates)))
                return True
        return False

    def _evict(self, conn: _Connection) -> None:
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


class _Phase(Enum):
    WAITING = "waiting for a request head"
    BODY = "reading the body"
    HANDLING = "handling the request"
    CLOSING = "closing"
    CLOSED = "closed"


class _Connection(asyncio.Protocol):
    """One client connection: h11's state machine plus the timers and limits above."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.limits = server.limits
        self.client = "?"
        self.phase = _Phase.WAITING
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=server.limits.max_header_bytes)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._received = False  # any byte of the current request yet
        self._head_clock = True  # the header timeout runs (False: a kept-alive connection idles)
        self._request: Request | None = None
        self._has_body = False
        self._body = bytearray()
        self._pending: Response | None = None  # answered from the head; sent once h11 saw its end
        self._deadline = 0.0
        self._task: asyncio.Task[None] | None = None
        self._write_paused = False
        self._held = 0  # bytes received while a request is handled (a pipelined next one)
        self._discarded = 0

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self.server._register(self):
            self.phase = _Phase.CLOSED
            transport.abort()
            return
        self._wait(self.limits.header_timeout, head_clock=True)

    def data_received(self, data: bytes) -> None:
        if self.phase is _Phase.CLOSED:
            return
        if self.phase is _Phase.CLOSING:
            self._discarded += len(data)
            if self._discarded > 4 * self.limits.max_body_bytes:
                self._close()
            return
        if self.phase is _Phase.WAITING and not self._received:
            self._received = True
            if not self._head_clock:
                self._head_clock = True
                self._arm(self.limits.header_timeout, self._timed_out)
        self._h11.receive_data(data)
        if self.phase is _Phase.HANDLING:
            # Kept for after the answer; past a head's worth, it waits in the socket instead.
            self._held += len(data)
            if self._held > self.limits.max_header_bytes:
                self._reading(False)
            return
        self._process()

    def eof_received(self) -> bool:
        if self.phase is _Phase.CLOSING:
            return False  # the client read our answer and closed: done
        self._h11.receive_data(b"")
        self._process()
        return True  # half-closed: the answer may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = _Phase.CLOSED
        self._cancel_timer()
        self.server._unregister(self)

    def pause_writing(self) -> None:
        # The client does not read our answers: stop reading its requests until it does.
        self._write_paused = True
        if self.phase is not _Phase.CLOSING:
            self._reading(False)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.phase in (_Phase.WAITING, _Phase.BODY):
            self._reading(True)

    # ------------------------------------------------------------------ called by the server
    def drop(self) -> None:
        """Close without an answer (idle, or evicted to make room); it stops counting at once."""
        self.server._unregister(self)
        self._close()

    def abort(self) -> asyncio.Task[None] | None:
        """Drop the connection at once (server shutdown); returns the request task still running."""
        self.server._unregister(self)
        self._cancel_timer()
        self.phase = _Phase.CLOSED
        if self._transport is not None:
            self._transport.abort()
        return self._task

    # ------------------------------------------------------------------ request cycle
    def _process(self) -> None:
        while self.phase in (_Phase.WAITING, _Phase.BODY):
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._protocol_error(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._on_head(event)
            elif isinstance(event, h11.Data):
                self._on_data(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._on_end()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if self.phase is _Phase.WAITING and not self._received:
            self._close()  # closed between requests: nobody to answer
            return
        status = exc.error_status_hint
        if status == 431:
            reason = "the request headers are too large"
        elif self.phase is _Phase.BODY:
            reason = "incomplete or malformed body"
        else:
            reason = f"malformed request: {str(exc)[:200]}"
        self._respond(self.server.handler.refuse(status, reason), force_close=True)

    def _on_head(self, event: h11.Request) -> None:
        self.server._leave_waiting(self)
        self._cancel_timer()
        started = time.monotonic()
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        self.phase = _Phase.BODY
        # h11 bounds what it buffers, not a head that arrived whole: check its size here too.
        size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers.raw_items())
        if len(event.headers) > self.limits.max_headers or size > self.limits.max_header_bytes:
            self._respond(self.server.handler.refuse(431, "the request headers are too large"), force_close=True)
            return
        request = Request(
            method=event.method.decode("ascii"),
            target=event.target,
            path=event.target.split(b"?", 1)[0],
            headers=headers,
            client=self.client,
        )
        self._request = request
        try:
            early = self.server.handler.on_head(request)
        except Exception:  # a bug must cost one request, not the connection
            log.exception("webhook request failed")
            early = Response(500, {"error": "internal error; the event was not stored"}, close=True)
        if early is not None:
            if self._has_body:  # not read, so the connection cannot carry another request
                self._respond(early, force_close=True)
            else:
                self._pending = early  # h11 reports the (empty) body's end next
            return
        problem = self._framing_problem(headers)
        if problem is not None:
            self._respond(problem, force_close=True)
            return
        if self._h11.client_is_waiting_for_100_continue:
            self._write(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        self._body = bytearray()
        self._deadline = started + self.limits.request_budget
        # Leave time to store the event within the request's budget.
        self._arm(min(self.limits.body_timeout, max(0.05, self.limits.request_budget - 0.5)), self._timed_out)

    def _framing_problem(self, headers: Mapping[str, str]) -> Response | None:
        refuse = self.server.handler.refuse
        if "transfer-encoding" in headers and "content-length" in headers:
            return refuse(400, "both Transfer-Encoding and Content-Length sent")
        # h11 has checked it is digits; the size is checked before reading a byte of the body.
        if int(headers.get("content-length", "0")) > self.limits.max_body_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> Response:
        return self.server.handler.refuse(413, f"the body is larger than {self.limits.max_body_bytes} bytes")

    def _on_data(self, data: bytes) -> None:
        self._body += data
        if len(self._body) > self.limits.max_body_bytes:  # chunked: no length up front
            self._respond(self._too_large(), force_close=True)

    def _on_end(self) -> None:
        self._cancel_timer()
        if self._pending is not None:
            response, self._pending = self._pending, None
            self._respond(response)
            return
        assert self._request is not None and self._transport is not None
        self.phase = _Phase.HANDLING
        self._held = 0
        body = bytes(self._body)
        self._body = bytearray()
        self._task = asyncio.get_running_loop().create_task(self._handle(self._request, body))

    async def _handle(self, request: Request, body: bytes) -> None:
        try:
            response = await self.server.handler.on_request(request, body, self._deadline)
        except Exception:
            log.exception("webhook request failed")
            response = Response(500, {"error": "internal error; the event was not stored"}, close=True)
        self._task = None
        if self.phase is not _Phase.HANDLING:
            return  # the connection went away meanwhile (the event is stored all the same)
        if self._respond(response):
            if not self._write_paused:
                self._reading(True)
            self._process()  # a pipelined request may already be buffered

    def _respond(self, response: Response, *, force_close: bool = False) -> bool:
        """Send ``response``; True if the connection then waits for another request."""
        close = response.close or force_close or self._h11.their_state is not h11.DONE
        payload = json.dumps(response.body).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        headers.extend(response.headers.items())
        if close:
            headers.append(("Connection", "close"))
        try:
            reason = HTTPStatus(response.status).phrase.encode("ascii")
            data = self._h11.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            data = (data or b"") + (self._h11.send(h11.Data(data=payload)) or b"")
            data += self._h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # h11 cannot answer in this state: just close
            self._close()
            return False
        self._write(data)
        log.debug("%d in %s", response.status, self.client)
        if self._h11.our_state is h11.MUST_CLOSE:
            self._linger()
            return False
        self._h11.start_next_cycle()
        self._request = None
        self._wait(self.limits.idle_timeout, head_clock=False)
        return True

    def _wait(self, timeout: float, *, head_clock: bool) -> None:
        self.phase = _Phase.WAITING
        self._received = False
        self._head_clock = head_clock
        self._arm(timeout, self._timed_out)
        self.server._enter_waiting(self)

    def _timed_out(self) -> None:
        self._timer = None
        if self.phase is _Phase.BODY:
            reason = f"the body did not arrive within {self.limits.body_timeout:g} s"
            self._respond(self.server.handler.refuse(408, reason), force_close=True)
        elif self.phase is _Phase.WAITING and self._received:
            self.server._leave_waiting(self)
            self._respond(self.server.handler.refuse(408, "the request head did not arrive in time"), force_close=True)
        elif self.phase is _Phase.WAITING:
            self.drop()  # idle: no answer is owed
        else:
            self._close()

    # ------------------------------------------------------------------ closing
    def _linger(self) -> None:
        """Half-close, then discard what the client is still sending for a moment.

        Closing a socket with unread input makes the kernel send a reset, which can destroy our
        answer (e.g. the 413) before the client reads it; a short, bounded drain avoids that.
        """
        self.server._leave_waiting(self)
        self.server._lingering[self] = None
        self.phase = _Phase.CLOSING
        transport = self._transport
        assert transport is not None
        if transport.can_write_eof():
            transport.write_eof()
        self._reading(True)
        self._discarded = 0
        self._arm(LINGER_SECONDS, self._close)

    def _close(self) -> None:
        self._cancel_timer()
        if self.phase is _Phase.CLOSED:
            return
        self.phase = _Phase.CLOSED
        transport = self._transport
        if transport is None:
            return
        # A client that does not read would keep a close() waiting for the buffer to drain.
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def _reading(self, on: bool) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and transport.is_reading() != on:
            if on:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


__all__ = ["HttpServer", "Limits", "Request", "RequestHandler", "Response", "fd_capacity"]
