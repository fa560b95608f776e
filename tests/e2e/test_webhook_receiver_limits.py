"""The receiver under connection pressure, over real loopback sockets: idle and slow clients make room."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.webhooks.inbox import Inbox
from cio_desktop.webhooks.receiver import WebhookReceiver
from cio_desktop.webhooks.signature import signed_headers

pytestmark = pytest.mark.e2e

TOKEN = "tok_abcdefghijklmnopqrstuvwxyz012345"
KEY = "signing-key-for-tests"
BODY = (Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "current_email_clicked.json").read_bytes()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box
    box.close()


def post(port: int, event_id: str) -> int:
    body = json.dumps({**json.loads(BODY), "event_id": event_id}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/webhooks/customerio/" + TOKEN, body=body, headers=signed_headers(KEY, body))
        return conn.getresponse().status
    finally:
        conn.close()


def idle(port: int, n: int) -> list[socket.socket]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    time.sleep(0.2)  # let the receiver accept them all
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.1)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_when_full_the_oldest_idle_connection_makes_room_for_a_request(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, max_connections=20, header_timeout=30) as rx:
        socks = idle(rx.port, 20)
        try:
            assert [post(rx.port, f"e{i}") for i in range(5)] == [200] * 5
            # The first request took the oldest idle slot; each later one the slot freed before it.
            assert rx.stats().evicted == 1
            assert closed_by_server(socks[0]) and not any(closed_by_server(s) for s in socks[1:])
        finally:
            for s in socks:
                s.close()
    assert inbox.counts().received == 5


def test_one_client_keeps_at_most_its_idle_share(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, max_idle_per_client=5, header_timeout=30) as rx:
        socks = idle(rx.port, 12)
        try:
            assert [closed_by_server(s) for s in socks] == [True] * 7 + [False] * 5
            assert post(rx.port, "e1") == 200
        finally:
            for s in socks:
                s.close()


def test_answered_connections_still_open_also_make_room(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, max_connections=5) as rx:
        socks = idle(rx.port, 5)
        try:
            for s in socks:  # answered 404 and closing, but the client keeps its end open
                s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(4096).startswith(b"HTTP/1.1 404 ")
            assert post(rx.port, "e1") == 200
        finally:
            for s in socks:
                s.close()


def test_a_request_whose_head_arrived_is_never_evicted(inbox: Inbox) -> None:
    body = json.dumps({**json.loads(BODY), "event_id": "slow-body"}).encode()
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, max_connections=10) as rx:
        sending = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
        head = f"POST {rx.webhook_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in signed_headers(KEY, body).items())
        sending.sendall(head.encode() + b"\r\n" + body[:10])
        time.sleep(0.1)
        socks = idle(rx.port, 30)  # three times the capacity, all idle
        try:
            sending.sendall(body[10:])
            assert sending.recv(4096).startswith(b"HTTP/1.1 200 ")
        finally:
            sending.close()
            for s in socks:
                s.close()
    assert inbox.get("slow-body") is not None


def test_a_silent_connection_is_closed_after_the_header_timeout_and_a_trickling_one_gets_408(
    inbox: Inbox,
) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, header_timeout=0.3) as rx:
        silent = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
        trickle = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
        t0 = time.monotonic()
        trickle.sendall(b"POST /webhooks/")
        time.sleep(0.15)
        trickle.sendall(b"customerio/")  # progress does not extend the deadline
        assert trickle.recv(4096).startswith(b"HTTP/1.1 408 ")
        assert silent.recv(4096) == b""
        assert time.monotonic() - t0 < 1.5
        silent.close()
        trickle.close()


def test_a_kept_alive_connection_may_idle_longer_than_the_header_timeout(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, header_timeout=0.2, idle_timeout=2.0) as rx:
        conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
        for i in range(2):
            body = json.dumps({**json.loads(BODY), "event_id": f"k{i}"}).encode()
            conn.request("POST", rx.webhook_path, body=body, headers=signed_headers(KEY, body))
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200 and not resp.will_close
            time.sleep(0.5)
        conn.close()
    assert inbox.counts().received == 2


@pytest.mark.posix_only  # no per-process descriptor limit to lower (resource.setrlimit)
def test_out_of_file_descriptors_is_logged_and_requests_are_answered_again(tmp_path: Path) -> None:
    # A child process: the descriptor limit is per process. Its limit drops below what the receiver
    # planned for, so accept() fails with EMFILE while 150 idle connections are open.
    script = textwrap.dedent(
        f"""
        import json, resource, socket, sys, time, http.client
        from pathlib import Path
        from cio_desktop.webhooks.inbox import Inbox
        from cio_desktop.webhooks.receiver import WebhookReceiver
        from cio_desktop.webhooks.signature import signed_headers

        inbox = Inbox(Path({str(tmp_path)!r}) / "inbox.sqlite3")
        rx = WebhookReceiver(inbox, {TOKEN!r}, {KEY!r}, port=0)
        rx.start()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        used = len(list(Path("/proc/self/fd").iterdir())) if Path("/proc/self/fd").exists() else 64
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 120, hard))
        socks = []
        for _ in range(150):
            try:
                socks.append(socket.create_connection(("127.0.0.1", rx.port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        body = json.dumps({{"event_id": "after-emfile", "object_type": "email", "metric": "opened",
                           "data": {{"identifiers": {{"id": "u1"}}}}}}).encode()
        for s in socks[:20]:  # the client side needs descriptors too
            s.close()
        conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
        conn.request("POST", rx.webhook_path, body=body, headers=signed_headers({KEY!r}, body))
        print("STATUS", conn.getresponse().status, "EVICTED", rx.stats().evicted, flush=True)
        rx.stop()
        inbox.close()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert "STATUS 200" in proc.stdout, proc.stdout + proc.stderr
    assert "cannot accept connections" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stats_count_open_connections(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, KEY, port=0) as rx:
        socks = idle(rx.port, 7)
        try:
            assert rx.stats().connections == 7
        finally:
            for s in socks:
                s.close()
        deadline = time.monotonic() + 2
        while rx.stats().connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rx.stats().connections == 0
