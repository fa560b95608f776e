"""The HTTP endpoint Customer.io posts reporting webhooks to.

A small asyncio HTTP/1.1 server on its own thread: one event loop serves every connection, so a
slow or hostile client never holds up the others, and each answer is bounded in time (Customer.io
gives up after 4 s, retries for days and holds later events back meanwhile).

``POST /webhooks/customerio/<token>``: the token (compared in constant time) and, when a signing
key is set, ``X-CIO-Signature`` authenticate the request (else 401, counted, nothing stored).
Bodies over 1 MiB get 413 before they are read, wrong content types 415, invalid UTF-8 or
malformed JSON 400 with the reason. An accepted event is committed to the inbox before the 200.
``GET /healthz`` answers 200 for monitors.

Listening on anything but loopback needs ``allow_public=True``: the receiver then faces whoever
can reach the machine, so the caller is expected to warn the user (the CLI does).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from cio_desktop.webhooks.events import WebhookPayloadError, decode_body, map_payload
from cio_desktop.webhooks.inbox import AcceptResult, Inbox
from cio_desktop.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH_PREFIX = "/webhooks/customerio/"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
DEFAULT_PORT = 8765

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class ReceiverError(RuntimeError):
    """The receiver cannot start (port taken, address refused); the message says what to do."""


@dataclass(frozen=True)
class ReceiverStats:
    """Counters of this receiver run (the inbox holds the all-time totals)."""

    listening: str
    running: bool
    requests: int
    stored: int
    duplicates: int
    rejected: int
    malformed: int
    refused: int  # 404/405/408/411/413/415/431/501
    last_event_name: str | None
    last_event_id: str | None
    last_event_at: float | None


@dataclass
class _Counters:
    requests: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    malformed: int = 0
    refused: int = 0
    last_event_name: str | None = None
    last_event_id: str | None = None
    last_event_at: float | None = None


@dataclass
class _Response:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class _RequestError(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebhookReceiver:
    """Receives Customer.io webhooks into an :class:`Inbox`. ``start()`` returns once listening."""

    def __init__(
        self,
        inbox: Inbox,
        token: str,
        signing_key: str | None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        allow_public: bool = False,
        customer_id_attribute: str = "external_id",
        body_timeout: float = 2.0,
        idle_timeout: float = 15.0,
        request_budget: float = 3.0,
        max_connections: int = 1000,
    ) -> None:
        if not token:
            raise ValueError("the webhook token is empty")
        if not is_loopback(host) and not allow_public:
            raise ReceiverError(
                f"Refusing to listen on {host}: only loopback (127.0.0.1) is allowed unless you explicitly allow "
                "public access (--public), because anyone who can reach this address could post to it."
            )
        self.inbox = inbox
        self.host = host
        self._requested_port = port
        self.port = port
        self.customer_id_attribute = customer_id_attribute
        self._token = token.encode("utf-8")
        self._signing_key = signing_key or None
        self._body_timeout = body_timeout
        self._idle_timeout = idle_timeout
        # From the end of the headers to our answer, whatever the body and the disk do: Customer.io
        # gives up at 4 s, and a timeout there makes it hold back every later event.
        self._request_budget = request_budget
        self._max_connections = max_connections
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ public API
    @property
    def webhook_path(self) -> str:
        return WEBHOOK_PATH_PREFIX + self._token.decode("utf-8")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def local_url(self) -> str:
        """The webhook URL on this machine (what a tunnel / reverse proxy must forward to)."""
        return f"http://{self.address}{self.webhook_path}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_signing_key(self, signing_key: str | None) -> None:
        """Change the key used to check X-CIO-Signature (None: signatures are not checked)."""
        self._signing_key = signing_key or None

    def start(self) -> None:
        if self.running:
            return
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="webhook-receiver", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=10)
        except OSError as exc:
            self._thread.join(timeout=5)
            self._thread = None
            raise ReceiverError(
                f"Cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}. "
                "Another program (or another receiver) may be using that port: choose another port."
            ) from None
        if not is_loopback(self.host):
            log.warning("webhook receiver is listening on %s, reachable from other machines", self.address)

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def stats(self) -> ReceiverStats:
        with self._lock:
            c = self._counters
            return ReceiverStats(
                listening=self.address,
                running=self.running,
                requests=c.requests,
                stored=c.stored,
                duplicates=c.duplicates,
                rejected=c.rejected,
                malformed=c.malformed,
                refused=c.refused,
                last_event_name=c.last_event_name,
                last_event_id=c.last_event_id,
                last_event_at=c.last_event_at,
            )

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ event loop
    def _run(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve_connection,
                        self.host,
                        self._requested_port,
                        limit=MAX_HEADER_BYTES,
                        backlog=512,
                    )
                )
            except OSError as exc:
                ready.set_exception(exc)
                return
            self.port = int(self._server.sockets[0].getsockname()[1])
            ready.set_result(None)
            loop.run_forever()
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            loop.run_until_complete(self._server.wait_closed())
            if self._connections:
                loop.run_until_complete(asyncio.gather(*self._connections, return_exceptions=True))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self._max_connections:
            writer.close()
            return
        self._connections.add(task)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: no extra task per request (this is the hot path).
                    async with asyncio.timeout(self._idle_timeout):
                        head = await reader.readuntil(b"\r\n\r\n")
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    break
                except asyncio.LimitOverrunError:
                    await self._send(writer, _Response(431, {"error": "request headers are too large"}, close=True))
                    break
                started = time.monotonic()
                try:
                    response = await self._handle(head, reader, writer, started + self._request_budget)
                except _RequestError as exc:
                    response = exc.response
                except Exception:  # a bug must cost one request, not the connection's task silently
                    log.exception("webhook request failed")
                    response = _Response(500, {"error": "internal error; the event was not stored"}, close=True)
                await self._send(writer, response)
                log.debug("%d in %.1f ms", response.status, (time.monotonic() - started) * 1000)
                if response.close:
                    await self._linger(reader, writer)
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then discard what the client is still sending for a moment.

        Closing a socket with unread input makes the kernel send a reset, which can destroy our
        answer (e.g. the 413) before the client reads it; a short, bounded drain avoids that.
        """
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(0.5):
                discarded = 0
                while discarded < 4 * MAX_BODY_BYTES:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    discarded += len(chunk)

    async def _send(self, writer: asyncio.StreamWriter, response: _Response) -> None:
        payload = json.dumps(response.body).encode("utf-8")
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            "Connection: " + ("close" if response.close else "keep-alive"),
            *(f"{k}: {v}" for k, v in response.headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        if writer.transport.get_write_buffer_size() == 0:
            return  # sent at once (the usual case): no need to wait for the buffer to drain
        try:
            async with asyncio.timeout(self._body_timeout):
                await writer.drain()
        except TimeoutError:
            writer.close()

    # ------------------------------------------------------------------ one request
    async def _handle(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> _Response:
        with self._lock:
            self._counters.requests += 1
        method, target, version, headers = self._parse_head(head)
        keep_alive = _keep_alive(version, headers)
        path = target.split("?", 1)[0]

        if path == HEALTH_PATH:
            if method != "GET":
                return self._refused(405, "use GET", close=True, headers={"Allow": "GET"})
            return _Response(200, {"status": "ok"}, close=not keep_alive or _has_body(headers))
        if not path.startswith(WEBHOOK_PATH_PREFIX):
            return self._refused(404, "no such path; the webhook URL is /webhooks/customerio/<token>", close=True)
        given = path[len(WEBHOOK_PATH_PREFIX) :].encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._token):
            return self._reject("the webhook URL's token is wrong; copy the URL again from cio-desktop")
        if method != "POST":
            return self._refused(405, "Customer.io webhooks are POSTed", close=True, headers={"Allow": "POST"})

        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in ("", "application/json"):
            return self._refused(415, f"content type {content_type!r} is not accepted; send application/json", True)

        body = await self._read_body(headers, reader, writer, deadline)

        if self._signing_key is not None:
            problem = verify(
                self._signing_key, headers.get(TIMESTAMP_HEADER.lower()), headers.get(SIGNATURE_HEADER.lower()), body
            )
            if problem is not None:
                return self._reject(problem.value, close=not keep_alive)

        received_at = time.time()
        try:
            payload = decode_body(body)
        except WebhookPayloadError as exc:
            with self._lock:
                self._counters.malformed += 1
            return _Response(400, {"error": str(exc)}, close=not keep_alive)
        mapped = map_payload(payload, body, customer_id_attribute=self.customer_id_attribute, received_at=received_at)
        try:
            async with asyncio.timeout(max(0.05, deadline - time.monotonic())):
                result = await asyncio.wrap_future(self.inbox.submit(mapped, body, received_at))
        except Exception as exc:  # disk full, inbox closed, too slow: Customer.io will retry a 503
            log.error("could not store webhook event %s: %s", mapped.event_id, exc)
            return _Response(503, {"error": "could not store the event right now; it will be retried"}, close=True)
        with self._lock:
            if result is AcceptResult.DUPLICATE:
                self._counters.duplicates += 1
            else:
                self._counters.stored += 1
                self._counters.last_event_name = mapped.name
                self._counters.last_event_id = mapped.event_id
                self._counters.last_event_at = received_at
        return _Response(200, {"status": result.value, "event_id": mapped.event_id}, close=not keep_alive)

    def _parse_head(self, head: bytes) -> tuple[str, str, str, dict[str, str]]:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise _RequestError(_Response(400, {"error": "unreadable request head"}, close=True)) from None
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _RequestError(self._refused(400, "malformed request line", close=True))
        method, target, version = parts
        headers: dict[str, str] = {}
        header_lines = [ln for ln in lines[1:] if ln]
        if len(header_lines) > MAX_HEADERS:
            raise _RequestError(self._refused(431, "too many request headers", close=True))
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _RequestError(self._refused(400, "malformed header line", close=True))
            key = name.lower()
            value = value.strip()
            if key in headers and key == "content-length" and headers[key] != value:
                raise _RequestError(self._refused(400, "conflicting Content-Length headers", close=True))
            headers[key] = value
        return method, target, version, headers

    async def _read_body(
        self, headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> bytes:
        transfer = headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length")
        if transfer and length_text is not None:
            raise _RequestError(self._refused(400, "both Transfer-Encoding and Content-Length sent", close=True))
        if transfer and transfer != "chunked":
            raise _RequestError(self._refused(501, f"transfer encoding {transfer!r} is not supported", close=True))
        length = 0
        if length_text is not None:
            if not length_text.isdigit() or len(length_text) > 18:
                raise _RequestError(self._refused(400, "invalid Content-Length", close=True))
            length = int(length_text)
            # Checked before reading a byte: a client cannot make us buffer more than the limit.
            if length > MAX_BODY_BYTES:
                raise _RequestError(self._too_large())
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            # Leave time to store the event within the request's budget.
            async with asyncio.timeout(min(self._body_timeout, max(0.05, deadline - time.monotonic() - 0.5))):
                if transfer == "chunked":
                    return await self._read_chunked(reader)
                return await reader.readexactly(length) if length else b""
        except TimeoutError:
            raise _RequestError(
                self._refused(408, f"the body did not arrive within {self._body_timeout:g} s", close=True)
            ) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise _RequestError(self._refused(400, "incomplete or malformed body", close=True)) from None

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size_text = size_line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16:
                raise ValueError("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                # Trailers (if any) end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _RequestError(self._too_large())
            chunks.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise ValueError("bad chunk terminator")

    # ------------------------------------------------------------------ refusals
    def _too_large(self) -> _Response:
        return self._refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes", close=True)

    def _refused(
        self, status: int, reason: str, close: bool = False, headers: dict[str, str] | None = None
    ) -> _Response:
        with self._lock:
            self._counters.refused += 1
        return _Response(status, {"error": reason}, close=close, headers=headers or {})

    def _reject(self, reason: str, close: bool = True) -> _Response:
        with self._lock:
            self._counters.rejected += 1
        self.inbox.count_rejected()
        log.info("webhook request refused: %s", reason)
        return _Response(401, {"error": reason}, close=close)


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def _has_body(headers: dict[str, str]) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


__all__ = [
    "DEFAULT_PORT",
    "HEALTH_PATH",
    "MAX_BODY_BYTES",
    "WEBHOOK_PATH_PREFIX",
    "ReceiverError",
    "ReceiverStats",
    "WebhookReceiver",
    "is_loopback",
]
