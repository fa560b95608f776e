"""The HTTP endpoint Customer.io posts reporting webhooks to.

An asyncio HTTP/1.1 server (:mod:`.http_server`, framing by h11) on its own thread: one event loop
serves every connection, so a slow or hostile client never holds up the others, idle and slow
connections make room for real requests, and each answer is bounded in time (Customer.io gives up
after 4 s, retries for days and holds later events back meanwhile).

``POST /webhooks/customerio/<token>``: the token (compared in constant time) and, when a signing
key is set, ``X-CIO-Signature`` authenticate the request (else 401, counted, nothing stored).
Malformed framing gets 400, bodies over 1 MiB 413 before they are read, a content type, charset or
content encoding other than UTF-8 JSON 415, invalid UTF-8 or malformed JSON 400 with the reason. An
accepted event is committed to the inbox, its body exactly as received, before the 200.
``GET /healthz`` answers 200 for monitors.

Listening on anything but loopback needs ``allow_public=True``: the receiver then faces whoever
can reach the machine, so the caller is expected to warn the user (the CLI does).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from cio_desktop.webhooks.events import WebhookPayloadError, decode_body, map_payload
from cio_desktop.webhooks.http_server import HttpServer, Limits, Request, Response
from cio_desktop.webhooks.inbox import AcceptResult, Inbox
from cio_desktop.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH_PREFIX = "/webhooks/customerio/"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = Limits.max_body_bytes
DEFAULT_PORT = 8765


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
    refused: int  # 400 (framing)/404/405/408/413/415/431/501
    last_event_name: str | None
    last_event_id: str | None
    last_event_at: float | None
    connections: int = 0  # open now
    evicted: int = 0  # idle connections closed to make room for new ones


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
        body_timeout: float = Limits.body_timeout,
        idle_timeout: float = Limits.idle_timeout,
        header_timeout: float = Limits.header_timeout,
        request_budget: float = Limits.request_budget,
        max_connections: int = Limits.max_connections,
        max_idle_per_client: int = Limits.max_idle_per_client,
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
        # request_budget runs from the end of the headers to our answer, whatever the body and the
        # disk do: Customer.io gives up at 4 s, and a timeout there makes it hold back later events.
        self._limits = Limits(
            max_connections=max_connections,
            max_idle_per_client=max_idle_per_client,
            header_timeout=header_timeout,
            idle_timeout=idle_timeout,
            body_timeout=body_timeout,
            request_budget=request_budget,
        )
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None

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
        server = self._server
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
                connections=server.connections if server is not None and self.running else 0,
                evicted=server.evicted if server is not None else 0,
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
        server = HttpServer(self, self._limits)
        try:
            try:
                self.port = loop.run_until_complete(server.start(self.host, self._requested_port))
            except OSError as exc:
                ready.set_exception(exc)
                return
            self._server = server
            ready.set_result(None)
            loop.run_forever()
            loop.run_until_complete(server.close())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # ------------------------------------------------------------------ the rules (RequestHandler)
    def on_head(self, request: Request) -> Response | None:
        """Everything decided before the body is read: path, token, method, content type."""
        with self._lock:
            self._counters.requests += 1
        path = request.path
        if path == HEALTH_PATH.encode():
            if request.method != "GET":
                return self._refused(405, "use GET", close=True, headers={"Allow": "GET"})
            return Response(200, {"status": "ok"})
        if not path.startswith(WEBHOOK_PATH_PREFIX.encode()):
            return self._refused(404, "no such path; the webhook URL is /webhooks/customerio/<token>", close=True)
        if not hmac.compare_digest(path[len(WEBHOOK_PATH_PREFIX) :], self._token):
            return self._reject("the webhook URL's token is wrong; copy the URL again from cio-desktop")
        if request.method != "POST":
            return self._refused(405, "Customer.io webhooks are POSTed", close=True, headers={"Allow": "POST"})
        problem = content_problem(request.headers)
        if problem is not None:
            return self._refused(415, problem, close=True)
        return None

    async def on_request(self, request: Request, body: bytes, deadline: float) -> Response:
        """Signature, JSON, then the inbox: the 200 only once the event is committed."""
        if self._signing_key is not None:
            problem = verify(
                self._signing_key,
                request.headers.get(TIMESTAMP_HEADER.lower()),
                request.headers.get(SIGNATURE_HEADER.lower()),
                body,
            )
            if problem is not None:
                return self._reject(problem.value, close=False)

        received_at = time.time()
        try:
            payload = decode_body(body)
        except WebhookPayloadError as exc:
            with self._lock:
                self._counters.malformed += 1
            return Response(400, {"error": str(exc)})
        mapped = map_payload(payload, body, customer_id_attribute=self.customer_id_attribute, received_at=received_at)
        try:
            async with asyncio.timeout(max(0.05, deadline - time.monotonic())):
                # Shielded: a timeout here must not cancel the inbox's own future (its writer
                # resolves it later, and a cancelled future would refuse the result).
                result = await asyncio.shield(asyncio.wrap_future(self.inbox.submit(mapped, body, received_at)))
        except Exception as exc:  # disk full, inbox closed, too slow: Customer.io will retry a 503
            log.error("could not store webhook event %s: %s", mapped.event_id, exc)
            return Response(503, {"error": "could not store the event right now; it will be retried"}, close=True)
        with self._lock:
            if result is AcceptResult.DUPLICATE:
                self._counters.duplicates += 1
            else:
                self._counters.stored += 1
                self._counters.last_event_name = mapped.name
                self._counters.last_event_id = mapped.event_id
                self._counters.last_event_at = received_at
        return Response(200, {"status": result.value, "event_id": mapped.event_id})

    def refuse(self, status: int, reason: str) -> Response:
        return self._refused(status, reason, close=True)

    # ------------------------------------------------------------------ refusals
    def _refused(
        self, status: int, reason: str, close: bool = False, headers: dict[str, str] | None = None
    ) -> Response:
        with self._lock:
            self._counters.refused += 1
        return Response(status, {"error": reason}, close=close, headers=headers or {})

    def _reject(self, reason: str, close: bool = True) -> Response:
        with self._lock:
            self._counters.rejected += 1
        self.inbox.count_rejected()
        log.info("webhook request refused: %s", reason)
        return Response(401, {"error": reason}, close=close)


def content_problem(headers: Mapping[str, str]) -> str | None:
    """Why the body cannot be read as UTF-8 JSON as sent, or None (no Content-Type means JSON)."""
    media, _, parameters = headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    if media not in ("", "application/json"):
        return f"content type {media!r} is not accepted; send application/json"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                return f"charset {charset!r} is not accepted; send the JSON as UTF-8 (charset=utf-8)"
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"content encoding {encoding!r} is not accepted; send the body uncompressed"
    return None


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
