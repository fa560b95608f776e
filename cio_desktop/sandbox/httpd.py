"""The one HTTP handler: reads a request, hands it to the sandbox's dispatch, writes the reply.

HTTP/1.1 keep-alive, one thread per connection, each answer written in a single ``send`` with
TCP_NODELAY, so per-request cost stays small enough for the benchmarks. Chunked bodies are refused
(411) and bodies over 16 MB too (413), both before reading, and the connection is then closed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cio_desktop.sandbox.routing import DROP, Reply, json_reply

_MAX_BODY = 16 * 1024 * 1024
_JSON = "application/json"

Dispatch = Callable[[str, str, Any, bytes], Reply]  # (method, path with query, headers, body) -> reply


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_all(self) -> None:
        """Close kept-alive connections so their threads end with the server."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer
    timeout = 60  # idle keep-alive connections are closed after a minute

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and benchmarks would drown in access logs

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(Reply(411, b'{"message":"send a Content-Length"}'), close=True)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._send(Reply(413, b'{"message":"request body too large"}'), close=True)
            return
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.dispatch(self.command, self.path, self.headers, body)
        except Exception as e:  # a bug in the emulator must not hang the client
            reply = json_reply(500, {"message": f"sandbox error: {type(e).__name__}: {e}"})
        if reply is DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(reply)

    def _send(self, reply: Reply, close: bool = False) -> None:
        if close:
            self.close_connection = True
        phrase = HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else ""
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Content-Type: {_JSON}",
            f"Content-Length: {len(reply.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if reply.slow_body_s and reply.body:
                self.wfile.write(head)
                pieces = 5
                step = -(-len(reply.body) // pieces)
                for k in range(0, len(reply.body), step):
                    time.sleep(reply.slow_body_s / pieces)
                    self.wfile.write(reply.body[k : k + step])
            else:
                self.wfile.write(head + reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
