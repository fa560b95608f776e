"""One HTTP/1.1 connection of the webhook receiver: h11's state machine plus timers and limits.

See :mod:`.http_server` for the rules. This module is the per-connection half (reading, framing
checks, timeouts, answering, closing); :class:`.http_server.HttpServer` accepts connections and keeps
the table of them that eviction works from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import Any, Protocol

import h11

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.5


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


class ConnectionTable(Protocol):
    """The server's bookkeeping that each connection reports to (:class:`.http_server.HttpServer`)."""

    handler: RequestHandler
    limits: Limits

    def register(self, conn: HttpConnection) -> bool:
        """A new connection: False if there is no room (it is then closed)."""

    def unregister(self, conn: HttpConnection) -> None: ...

    def waiting(self, conn: HttpConnection) -> None:
        """The connection now waits for a request head (evictable)."""

    def not_waiting(self, conn: HttpConnection) -> None: ...

    def lingering(self, conn: HttpConnection) -> None:
        """The connection was answered and is closing."""


class _Phase(Enum):
    WAITING = "waiting for a request head"
    BODY = "reading the body"
    HANDLING = "handling the request"
    CLOSING = "closing"
    CLOSED = "closed"


class HttpConnection(asyncio.Protocol):
    """One client connection: h11's state machine plus the timers and limits above."""

    def __init__(self, table: ConnectionTable) -> None:
        self.table = table
        self.limits = table.limits
        self.client = "?"
        self.phase = _Phase.WAITING
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=table.limits.max_header_bytes)
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
        if not self.table.register(self):
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
        self.table.unregister(self)

    def pause_writing(self) -> None:
        # The client does not read our answers: stop reading its requests until it does.
        self._write_paused = True
        if self.phase is not _Phase.CLOSING:
            self._reading(False)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.phase in (_Phase.WAITING, _Phase.BODY):
            self._reading(True)

    # ------------------------------------------------------------------ called by the table
    def drop(self) -> None:
        """Close without an answer (idle, or evicted to make room); it stops counting at once."""
        self.table.unregister(self)
        self._close()

    def abort(self) -> asyncio.Task[None] | None:
        """Drop the connection at once (server shutdown); returns the request task still running."""
        self.table.unregister(self)
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
        self._respond(self.table.handler.refuse(status, reason), force_close=True)

    def _on_head(self, event: h11.Request) -> None:
        self.table.not_waiting(self)
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
            self._respond(self.table.handler.refuse(431, "the request headers are too large"), force_close=True)
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
            early = self.table.handler.on_head(request)
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
        refuse = self.table.handler.refuse
        if "transfer-encoding" in headers and "content-length" in headers:
            return refuse(400, "both Transfer-Encoding and Content-Length sent")
        # h11 has checked it is digits; the size is checked before reading a byte of the body.
        if int(headers.get("content-length", "0")) > self.limits.max_body_bytes:
            return self._too_large()
        return None

    def _too_large(self) -> Response:
        return self.table.handler.refuse(413, f"the body is larger than {self.limits.max_body_bytes} bytes")

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
            response = await self.table.handler.on_request(request, body, self._deadline)
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
        self.table.waiting(self)

    def _timed_out(self) -> None:
        self._timer = None
        if self.phase is _Phase.BODY:
            reason = f"the body did not arrive within {self.limits.body_timeout:g} s"
            self._respond(self.table.handler.refuse(408, reason), force_close=True)
        elif self.phase is _Phase.WAITING and self._received:
            self.table.not_waiting(self)
            self._respond(self.table.handler.refuse(408, "the request head did not arrive in time"), force_close=True)
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
        self.table.not_waiting(self)
        self.table.lingering(self)
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


__all__ = ["ConnectionTable", "HttpConnection", "Limits", "Request", "RequestHandler", "Response"]
