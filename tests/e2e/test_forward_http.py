"""The HTTPS-destination forwarder against a real endpoint on 127.0.0.1 (plain http: loopback only)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import Profile, ProfileError
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.net.retry import RetryPolicy
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.forward_http import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HttpDestination,
    HttpForwarder,
    http_destination_for,
    signature,
    verify,
)
from cio_desktop.webhooks.forwarder import ForwarderConfigError
from cio_desktop.webhooks.inbox import Destination, EventStatus, Inbox
from cio_desktop.webhooks.service import WebhookService

KEY = "test-hmac-key"


@dataclass
class Endpoint:
    """What the test endpoint received, and how it answers the next requests."""

    url: str = ""
    batches: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    # Each request pops the first answer: an HTTP status, "drop" (read it, then hang up) or a callable.
    answers: list[int | str | Callable[[dict[str, Any]], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_ids(self) -> list[str]:
        return [e["messageId"] for b in self.batches for e in b["batch"]]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            payload = json.loads(body)
            ok = verify(
                KEY, self.headers[TIMESTAMP_HEADER] or "", self.headers[SIGNATURE_HEADER] or "", body, now=time.time()
            )
            with state.lock:
                state.signatures_ok.append(ok)
                state.batches.append(payload)
                answer = state.answers.pop(0) if state.answers else 200
            if callable(answer):
                answer = answer(payload)
            if answer == "drop":  # took the events, the answer never arrives
                self.close_connection = True
                self.connection.shutdown(2)
                return
            assert isinstance(answer, int)
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def ev(event_id: str, name: str = "Email Opened") -> MappedEvent:
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric="opened",
        name=name,
        known=True,
        created_at="2026-03-01T10:00:00Z",
        properties={"campaign_name": "March report"},
        as_user={"external_id": "u1", "email": "ada@example.com"},
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    box.set_destinations(hull=False, http=True)
    yield box
    box.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def forwarder(inbox: Inbox, endpoint: Endpoint, clock: Clock | None = None) -> HttpForwarder:
    # One try per request: the inbox's back-off is what these tests look at.
    destination = HttpDestination(endpoint.url, KEY, retry=RetryPolicy(max_attempts=1), timeout=(2, 5))
    return HttpForwarder(inbox, destination, base_delay=2.0, clock=clock or time.time, rand=lambda: 1.0)


def test_events_arrive_signed_in_segment_track_shape_and_are_marked_forwarded(inbox: Inbox, endpoint: Endpoint) -> None:
    inbox.accept(ev("e1"), b"{}")
    inbox.accept(ev("e2", "Email Link Clicked"), b"{}")
    fwd = forwarder(inbox, endpoint)
    assert fwd.run_once().forwarded == 2
    assert endpoint.signatures_ok == [True]
    first = endpoint.batches[0]["batch"][0]
    assert first == {
        "type": "track",
        "event": "Email Opened",
        "userId": "u1",
        "properties": {"campaign_name": "March report"},
        "timestamp": "2026-03-01T10:00:00Z",
        "messageId": "e1",
        "context": first["context"],
    }
    assert first["context"]["traits"] == {"email": "ada@example.com"}
    assert {r.http_status for r in (inbox.get("e1"), inbox.get("e2"))} == {EventStatus.FORWARDED}  # type: ignore[union-attr]
    assert inbox.get("e1").status is EventStatus.KEPT  # type: ignore[union-attr]  # Hull's state is its own


def test_a_signature_made_with_another_key_or_too_long_ago_does_not_verify() -> None:
    body = b'{"batch":[]}'
    good = signature(KEY, 1000, body)
    assert verify(KEY, "1000", good, body, now=1000)
    assert not verify("other", "1000", good, body, now=1000)
    assert not verify(KEY, "1000", good, body + b" ", now=1000)
    assert not verify(KEY, "1000", good, body, now=1000 + 301)
    assert not verify(KEY, "soon", good, body, now=1000)


def test_failures_back_off_exponentially_then_deliver(inbox: Inbox, endpoint: Endpoint) -> None:
    clock = Clock()
    inbox.accept(ev("e1"), b"{}")
    endpoint.answers = [503, 503]
    fwd = forwarder(inbox, endpoint, clock)
    first = fwd.run_once()
    assert first.retried == 1 and "HTTP 503" in (first.error or "")
    assert inbox.next_due_at(destination=Destination.HTTP) == clock.now + 2.0
    assert fwd.run_once().attempted == 0  # not due yet: nothing is sent
    clock.now += 2.0
    assert fwd.run_once().retried == 1
    assert inbox.next_due_at(destination=Destination.HTTP) == clock.now + 4.0  # doubled
    clock.now += 4.0
    assert fwd.run_once().forwarded == 1
    assert len(endpoint.batches) == 3
    row = inbox.get("e1")
    assert row is not None and row.http_status is EventStatus.FORWARDED and row.http_attempts == 3


def test_a_lost_answer_sends_the_batch_again_with_the_same_event_ids(inbox: Inbox, endpoint: Endpoint) -> None:
    clock = Clock()
    inbox.accept(ev("e1"), b"{}")
    inbox.accept(ev("e2"), b"{}")
    endpoint.answers = ["drop"]
    fwd = forwarder(inbox, endpoint, clock)
    assert fwd.run_once().retried == 2
    clock.now += 60
    assert fwd.run_once().forwarded == 2
    # At least once: the endpoint saw both twice and de-duplicates on the event id (messageId).
    assert endpoint.event_ids() == ["e1", "e2", "e1", "e2"]
    assert set(endpoint.event_ids()) == {"e1", "e2"}


def test_a_refused_batch_is_split_so_only_the_bad_event_fails_and_retry_failed_sends_it_again(
    inbox: Inbox, endpoint: Endpoint
) -> None:
    inbox.accept(ev("good"), b"{}")
    inbox.accept(ev("bad"), b"{}")

    def refuse_bad(payload: dict[str, Any]) -> int:
        return 422 if any(e["messageId"] == "bad" for e in payload["batch"]) else 200

    endpoint.answers = [refuse_bad, refuse_bad, refuse_bad]
    fwd = forwarder(inbox, endpoint)
    result = fwd.run_once()
    assert (result.forwarded, result.failed) == (1, 1)
    bad = inbox.get("bad")
    assert bad is not None and bad.http_status is EventStatus.FAILED
    assert (bad.http_reason or "").startswith("The forwarding endpoint refused this event")
    assert inbox.counts().http_failed == 1
    assert inbox.retry_http_failed() == 1
    assert fwd.run_once().forwarded == 1  # the endpoint takes it now


def test_a_refused_signature_is_retried_not_dropped_and_says_to_check_the_key(inbox: Inbox, endpoint: Endpoint) -> None:
    inbox.accept(ev("e1"), b"{}")
    endpoint.answers = [401]
    result = forwarder(inbox, endpoint).run_once()
    assert result.retried == 1 and "HMAC key" in (result.error or "")
    row = inbox.get("e1")
    assert row is not None and row.http_status is EventStatus.PENDING and row.http_reason == result.error


def test_service_forwards_received_events_to_the_endpoint_without_hull(tmp_path: Path, endpoint: Endpoint) -> None:
    secrets = SecretStore.in_memory()
    secrets.set("Acme", SecretKey.FORWARD_HMAC_KEY, KEY)
    profile = Profile(name="Acme", webhook_listen="127.0.0.1:0", forward_url=endpoint.url)
    with WebhookService(profile, secrets, inbox=Inbox(tmp_path / "inbox.sqlite3")) as service:
        service.start()
        assert service.forwarder is None and service.http_forwarder is not None
        service.inbox.accept(ev("e1"), b"{}")
        service.http_forwarder.wake()
        deadline = time.monotonic() + 10
        while endpoint.event_ids() != ["e1"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoint.event_ids() == ["e1"]
        status = service.status()
        assert status.http_problem is None and status.counts.kept == 1


def test_a_destination_without_hmac_key_is_not_started_and_says_why() -> None:
    profile = Profile(name="Acme", forward_url="https://collector.example.com/events")
    with pytest.raises(ForwarderConfigError, match="no HMAC key"):
        http_destination_for(profile, SecretStore.in_memory())


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://collector.example.com/events", "must use https"),
        ("ftp://collector.example.com", "https URL"),
        ("https://user:pw@collector.example.com", "user name or password"),
    ],
)
def test_profile_refuses_destinations_that_are_not_https(url: str, problem: str) -> None:
    with pytest.raises(ProfileError, match=problem):
        Profile(name="Acme", forward_url=url).validate()
    Profile(name="Acme", forward_url="http://[::1]:9000/x").validate()  # loopback may be plain http
    Profile(name="Acme", forward_url="http://localhost:9000/x").validate()
