"""The receiver over real loopback sockets: authentication, durability before 200, hostile input."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.webhooks.inbox import EventStatus, Inbox
from cio_desktop.webhooks.receiver import MAX_BODY_BYTES, ReceiverError, WebhookReceiver
from cio_desktop.webhooks.signature import signed_headers

pytestmark = pytest.mark.e2e

TOKEN = "tok_abcdefghijklmnopqrstuvwxyz012345"
KEY = "signing-key-for-tests"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def receiver(inbox: Inbox) -> Iterator[WebhookReceiver]:
    rx = WebhookReceiver(inbox, TOKEN, KEY, port=0, body_timeout=1.0)
    rx.start()
    yield rx
    rx.stop()


def post(
    rx: WebhookReceiver,
    body: bytes,
    *,
    sign: bool = True,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    all_headers = {"Content-Type": "application/json"}
    if sign:
        all_headers.update(signed_headers(KEY, body))
    all_headers.update(headers or {})
    conn.request("POST", path or rx.webhook_path, body=body, headers=all_headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else {}


def sample(name: str = "current_email_clicked.json") -> bytes:
    return (FIXTURES / name).read_bytes()


def test_signed_event_is_stored_before_the_200(receiver: WebhookReceiver, inbox: Inbox) -> None:
    status, body = post(receiver, sample())
    assert status == 200 and body == {"status": "stored", "event_id": "01HG7Y5R3M8Q2W4E6T8Y0U2I03"}
    row = inbox.get("01HG7Y5R3M8Q2W4E6T8Y0U2I03")
    assert row is not None and row.status is EventStatus.PENDING and row.name == "Email Link Clicked"
    assert inbox.body(row.event_id) == sample()


def test_duplicate_delivery_gets_200_and_is_stored_once(receiver: WebhookReceiver, inbox: Inbox) -> None:
    assert post(receiver, sample())[0] == 200
    status, body = post(receiver, sample())
    assert status == 200 and body["status"] == "duplicate"
    assert inbox.counts().received == 1 and receiver.stats().duplicates == 1


def test_unknown_event_type_is_stored_and_shown(receiver: WebhookReceiver, inbox: Inbox) -> None:
    assert post(receiver, sample("current_unknown_object.json"))[0] == 200
    row = inbox.list_events(statuses=[EventStatus.UNKNOWN])[0]
    assert row.name == "Customer.io carrier_pigeon landed"


def test_wrong_token_is_401_counted_and_not_stored(receiver: WebhookReceiver, inbox: Inbox) -> None:
    status, body = post(receiver, sample(), path="/webhooks/customerio/wrong-token")
    assert status == 401 and "token" in str(body["error"])
    status, _ = post(receiver, sample(), path="/webhooks/customerio/")
    assert status == 401
    assert receiver.stats().rejected == 2
    deadline = time.monotonic() + 2
    while inbox.counts().rejected < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inbox.counts().rejected == 2 and inbox.counts().received == 0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"X-CIO-Timestamp": "1700000000", "X-CIO-Signature": "00" * 32}, "older than 5 minutes"),
        ({"X-CIO-Timestamp": str(int(time.time())), "X-CIO-Signature": "00" * 32}, "does not match"),
    ],
)
def test_bad_or_missing_signature_is_401(
    receiver: WebhookReceiver, inbox: Inbox, headers: dict[str, str], reason: str
) -> None:
    status, body = post(receiver, sample(), sign=False, headers=headers)
    assert status == 401 and reason in str(body["error"])
    assert inbox.counts().received == 0


def test_signature_over_another_body_is_401(receiver: WebhookReceiver) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    headers = {"Content-Type": "application/json", **signed_headers(KEY, sample())}
    conn.request("POST", receiver.webhook_path, body=sample().replace(b"pricing", b"evil"), headers=headers)
    assert conn.getresponse().status == 401
    conn.close()


def test_without_a_signing_key_the_token_alone_authenticates(inbox: Inbox) -> None:
    with WebhookReceiver(inbox, TOKEN, None, port=0) as rx:
        assert post(rx, sample(), sign=False)[0] == 200


def test_health_endpoint(receiver: WebhookReceiver) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"status": "ok"}
    conn.close()


def test_unknown_path_is_404(receiver: WebhookReceiver) -> None:
    assert post(receiver, sample(), path="/other")[0] == 404


def test_body_over_one_mebibyte_is_413_without_being_read(receiver: WebhookReceiver) -> None:
    # Announce a huge body and send none of it: the answer must come from the header alone.
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(
            f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_huge_body_sent_in_full_is_413(receiver: WebhookReceiver) -> None:
    status, _ = post(receiver, b'{"x": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}')
    assert status == 413


def test_chunked_body_is_accepted_and_capped(receiver: WebhookReceiver, inbox: Inbox) -> None:
    def chunked(body: bytes, size: int) -> bytes:
        parts = [
            f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
            for i in range(0, len(body), size)
        ]
        return b"".join(parts) + b"0\r\n\r\n"

    body = sample()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        head = f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        for k, v in signed_headers(KEY, body).items():
            head += f"{k}: {v}\r\n"
        sock.sendall(head.encode() + b"\r\n" + chunked(body, 100))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(
            f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + chunked(b"a" * (MAX_BODY_BYTES + 1), 256 * 1024)
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_deeply_nested_json_is_400_and_the_receiver_keeps_serving(receiver: WebhookReceiver) -> None:
    status, body = post(receiver, b"[" * 200_000 + b"]" * 200_000)
    assert status == 400 and "nested too deeply" in str(body["error"])
    assert post(receiver, sample())[0] == 200


def test_malformed_json_is_400_with_the_reason(receiver: WebhookReceiver) -> None:
    status, body = post(receiver, b'{"event_id": ')
    assert status == 400 and str(body["error"]).startswith("malformed JSON: Expecting value at line 1")


def test_invalid_utf8_is_400(receiver: WebhookReceiver) -> None:
    status, body = post(receiver, b'{"event_id": "\xff\xfe"}')
    assert status == 400 and "not valid UTF-8" in str(body["error"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_wrong_content_type_is_415(receiver: WebhookReceiver, content_type: str) -> None:
    assert post(receiver, sample(), headers={"Content-Type": content_type})[0] == 415


def test_json_with_charset_and_no_content_type_are_accepted(receiver: WebhookReceiver) -> None:
    assert post(receiver, sample(), headers={"Content-Type": "application/json; charset=utf-8"})[0] == 200
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    body = sample("current_email_opened.json")
    conn.request("POST", receiver.webhook_path, body=body, headers=signed_headers(KEY, body))
    assert conn.getresponse().status == 200
    conn.close()


def test_slow_client_times_out_without_blocking_others(receiver: WebhookReceiver) -> None:
    slow = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
    slow.sendall(f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{{".encode())
    started = time.monotonic()
    # Meanwhile other requests are served at once.
    for name in ("current_email_opened.json", "current_email_sent.json"):
        t0 = time.monotonic()
        assert post(receiver, sample(name))[0] == 200
        assert time.monotonic() - t0 < 0.5
    answer = slow.recv(4096)
    elapsed = time.monotonic() - started
    slow.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 2.0  # body_timeout is 1 s here (2 s by default): well within Customer.io's 4 s


def test_many_slow_clients_do_not_block_a_normal_one(receiver: WebhookReceiver) -> None:
    socks = [socket.create_connection(("127.0.0.1", receiver.port), timeout=5) for _ in range(50)]
    for s in socks:
        s.sendall(b"POST ")  # never finish the request line
    t0 = time.monotonic()
    assert post(receiver, sample())[0] == 200
    assert time.monotonic() - t0 < 0.5
    for s in socks:
        s.close()


def test_concurrent_posts_all_stored(receiver: WebhookReceiver, inbox: Inbox) -> None:
    template = json.loads(sample())
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        for i in range(20):
            body = json.dumps({**template, "event_id": f"c{n}-{i}"}).encode()
            conn.request("POST", receiver.webhook_path, body=body, headers=signed_headers(KEY, body))
            resp = conn.getresponse()
            resp.read()
            with lock:
                statuses.append(resp.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 160
    assert inbox.counts().received == 160


def test_non_loopback_needs_explicit_permission(inbox: Inbox) -> None:
    with pytest.raises(ReceiverError, match="--public"):
        WebhookReceiver(inbox, TOKEN, KEY, host="0.0.0.0", port=0)


def test_port_in_use_is_a_clear_error(receiver: WebhookReceiver, inbox: Inbox) -> None:
    other = WebhookReceiver(inbox, TOKEN, KEY, port=receiver.port)
    with pytest.raises(ReceiverError, match="choose another port"):
        other.start()


def test_a_stalled_disk_answers_503_within_the_budget_so_customerio_retries(inbox: Inbox) -> None:
    from concurrent.futures import Future

    never: Future[object] = Future()
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, request_budget=0.5) as rx:
        original = inbox.submit
        inbox.submit = lambda *a, **k: never  # type: ignore[method-assign]
        try:
            t0 = time.monotonic()
            status, body = post(rx, sample())
            elapsed = time.monotonic() - t0
        finally:
            inbox.submit = original  # type: ignore[method-assign]
    assert status == 503 and "retried" in str(body["error"])
    assert elapsed < 1.5


def test_signed_event_with_a_lone_surrogate_is_acknowledged_and_kept_as_received(
    receiver: WebhookReceiver, inbox: Inbox
) -> None:
    template = json.loads(sample())
    template["data"]["subject"] = "PLACEHOLDER"
    body = json.dumps({**template, "event_id": "surrogate-1"}).encode().replace(b"PLACEHOLDER", b"\\ud800")
    status, answer = post(receiver, body)
    assert status == 200 and answer == {"status": "stored", "event_id": "surrogate-1"}
    row = inbox.get("surrogate-1")
    assert row is not None and row.status is EventStatus.FAILED and "not valid Unicode" in (row.reason or "")
    assert inbox.body("surrogate-1") == body
    # A re-delivery is a duplicate, not a 503 that Customer.io would retry for days.
    assert post(receiver, body) == (200, {"status": "duplicate", "event_id": "surrogate-1"})


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", '"UTF-32"'])
def test_a_charset_other_than_utf8_is_refused_not_misread(receiver: WebhookReceiver, charset: str) -> None:
    status, body = post(receiver, sample(), headers={"Content-Type": f"application/json; charset={charset}"})
    assert status == 415 and "UTF-8" in str(body["error"])
    assert post(receiver, sample(), headers={"Content-Type": 'application/json; charset="UTF-8"'})[0] == 200


def test_a_compressed_body_is_refused_with_the_reason(receiver: WebhookReceiver) -> None:
    status, body = post(receiver, sample(), headers={"Content-Encoding": "gzip"})
    assert status == 415 and "uncompressed" in str(body["error"])


@pytest.mark.parametrize("length", ["\u00b2".encode(), "\u00b2".encode("latin-1"), b"-1", b"1e3", b"12, 13"])
def test_malformed_content_length_is_400_and_the_receiver_keeps_serving(
    receiver: WebhookReceiver, length: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(b"POST " + receiver.webhook_path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: ")
        sock.sendall(length + b"\r\n\r\n{}")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in answer
    assert receiver.stats().refused == 1
    assert post(receiver, sample())[0] == 200


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
)
def test_broken_framing_gets_a_4xx_or_501_answer_never_a_500(receiver: WebhookReceiver, head: bytes) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(head)
        answer = sock.recv(4096)
    assert answer.split(b" ", 2)[1] in (b"400", b"431", b"501")


def test_both_transfer_encoding_and_content_length_is_400(receiver: WebhookReceiver) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(
            f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Content-Length: 5\r\n\r\n0\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_expect_100_continue_gets_continue_before_the_body(receiver: WebhookReceiver, inbox: Inbox) -> None:
    body = sample()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        head = f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in signed_headers(KEY, body).items())
        sock.sendall(head.encode() + b"\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
    assert inbox.counts().received == 1


def test_pipelined_requests_on_one_connection_are_answered_in_order(receiver: WebhookReceiver) -> None:
    template = json.loads(sample())
    wire = b""
    for i in range(3):
        body = json.dumps({**template, "event_id": f"pipe-{i}"}).encode()
        head = f"POST {receiver.webhook_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in signed_headers(KEY, body).items())
        wire += head.encode() + b"\r\n" + body
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(wire + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert [received.find(f"pipe-{i}".encode()) for i in range(3)] == sorted(
        received.find(f"pipe-{i}".encode()) for i in range(3)
    )
    assert received.count(b"HTTP/1.1 200 ") == 4 and received.endswith(b'{"status": "ok"}')


def test_a_503_after_a_stalled_write_leaves_the_inbox_future_alone(inbox: Inbox) -> None:
    from concurrent.futures import Future

    late: Future[object] = Future()
    with WebhookReceiver(inbox, TOKEN, KEY, port=0, request_budget=0.3) as rx:
        original = inbox.submit
        inbox.submit = lambda *a, **k: late  # type: ignore[method-assign]
        try:
            assert post(rx, sample())[0] == 503
        finally:
            inbox.submit = original  # type: ignore[method-assign]
    # The inbox's writer resolves its futures after the commit: a cancelled one would refuse that.
    assert not late.cancelled()


def test_localhost_is_served_on_each_of_its_addresses_on_one_port(inbox: Inbox) -> None:
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
    with WebhookReceiver(inbox, TOKEN, KEY, host="localhost", port=0) as rx:
        for address in addresses:
            conn = http.client.HTTPConnection(address, rx.port, timeout=5)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200
            conn.close()
