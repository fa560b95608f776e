from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.hull.firehose import FirehoseItem
from cio_desktop.net.errors import AuthenticationError, NetworkError, RejectedError
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.forwarder import Forwarder, ForwarderConfigError, hull_sender_for
from cio_desktop.webhooks.inbox import EventStatus, Inbox


def event(event_id: str, as_user: dict[str, str] | None = None) -> MappedEvent:
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric="clicked",
        name="Email Link Clicked",
        known=True,
        created_at="2023-11-14T22:13:20Z",
        properties={"href": "https://x.example", "delivery_id": "d1"},
        as_user=as_user or {"external_id": "u1", "email": "a@x.example"},
    )


class FakeFirehose:
    def __init__(self) -> None:
        self.batches: list[list[FirehoseItem]] = []
        self.errors: list[Exception] = []
        self.refuse: set[str] = set()

    def send_firehose(self, items: Sequence[FirehoseItem]) -> None:
        if self.errors:
            raise self.errors.pop(0)
        if any(i.body["event_id"] in self.refuse for i in items):
            raise RejectedError(400, "Hull firehose refused the request (400): bad event")
        self.batches.append(list(items))


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box
    box.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_pending_events_are_sent_as_track_calls_and_marked_forwarded(inbox: Inbox) -> None:
    for i in range(3):
        inbox.accept(event(f"e{i}"), b"{}")
    hull = FakeFirehose()
    result = Forwarder(inbox, hull).run_once()
    assert result.forwarded == 3
    item = hull.batches[0][0]
    assert item.type == "track"
    assert item.as_user == {"external_id": "u1", "email": "a@x.example"}
    assert item.body == {
        "event": "Email Link Clicked",
        "properties": {"href": "https://x.example", "delivery_id": "d1"},
        "event_id": "e0",
        "created_at": "2023-11-14T22:13:20Z",
        "source": "customerio",
        "type": "track",
    }
    assert item.timestamp == 1_700_000_000.0
    assert inbox.counts().forwarded == 3


def test_batches_are_at_most_fifty(inbox: Inbox) -> None:
    for i in range(120):
        inbox.accept(event(f"e{i}"), b"{}")
    hull = FakeFirehose()
    assert Forwarder(inbox, hull).drain() == 120
    assert [len(b) for b in hull.batches] == [50, 50, 20]


def test_temporary_failure_keeps_events_pending_with_growing_backoff(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    hull = FakeFirehose()
    hull.errors = [NetworkError(None, "Hull firehose did not answer"), NetworkError(None, "again")]
    clock = Clock()
    fwd = Forwarder(inbox, hull, base_delay=10, clock=clock, rand=lambda: 1.0)
    first = fwd.run_once()
    assert first.retried == 1 and first.error == "Hull firehose did not answer"
    row = inbox.get("e1")
    assert row is not None and row.status is EventStatus.PENDING and row.next_attempt_at == 1_010.0
    assert fwd.run_once().attempted == 0  # not due yet
    clock.now = 1_010.0
    fwd.run_once()
    row = inbox.get("e1")
    assert row is not None and row.attempts == 2 and row.next_attempt_at == 1_030.0
    clock.now = 1_030.0
    assert fwd.run_once().forwarded == 1
    assert fwd.stats().last_error is None


def test_refused_credentials_keep_events_pending_and_report_why(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    hull = FakeFirehose()
    hull.errors = [AuthenticationError(401, "Hull refused the connector ID or secret (HTTP 401).")]
    fwd = Forwarder(inbox, hull)
    fwd.run_once()
    assert inbox.get("e1").status is EventStatus.PENDING  # type: ignore[union-attr]
    assert "refused the connector" in (fwd.stats().last_error or "")


def test_gives_up_after_max_attempts_with_the_reason(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    hull = FakeFirehose()
    hull.errors = [NetworkError(None, "down")] * 3
    clock = Clock()
    fwd = Forwarder(inbox, hull, max_attempts=3, base_delay=1, clock=clock)
    for _ in range(3):
        fwd.run_once()
        clock.now += 100
    row = inbox.get("e1")
    assert row is not None and row.status is EventStatus.FAILED and row.reason == "gave up after 3 attempts: down"


def test_refused_batch_is_split_so_only_the_bad_event_fails(inbox: Inbox) -> None:
    for i in range(4):
        inbox.accept(event(f"e{i}"), b"{}")
    hull = FakeFirehose()
    hull.refuse = {"e2"}
    result = Forwarder(inbox, hull).run_once()
    assert (result.forwarded, result.failed) == (3, 1)
    bad = inbox.get("e2")
    assert bad is not None and bad.status is EventStatus.FAILED
    assert bad.reason is not None and bad.reason.startswith("Hull refused this event")


def test_retry_failed_then_forwarding_sends_them(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    inbox.mark_failed({"e1": "refused"})
    hull = FakeFirehose()
    fwd = Forwarder(inbox, hull)
    assert fwd.run_once().attempted == 0
    assert inbox.retry_failed() == 1
    assert fwd.run_once().forwarded == 1


def test_background_thread_forwards_new_events_and_stops(inbox: Inbox) -> None:
    hull = FakeFirehose()
    fwd = Forwarder(inbox, hull, poll_interval=0.02)
    fwd.start()
    try:
        inbox.accept(event("e1"), b"{}")
        import time

        deadline = time.monotonic() + 5
        while inbox.counts().forwarded < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert inbox.counts().forwarded == 1
    finally:
        fwd.stop()
    assert not fwd.running


def test_forwarding_needs_hull_settings_and_says_which_are_missing() -> None:
    with pytest.raises(ForwarderConfigError, match="Hull organization, connector ID, connector secret"):
        hull_sender_for(Profile(name="p"), SecretStore.in_memory())
