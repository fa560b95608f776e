from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.inbox import AcceptResult, EventStatus, Inbox, InboxClosedError, inbox_path


def event(event_id: str, *, known: bool = True, as_user: dict[str, str] | None = None) -> MappedEvent:
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric="opened",
        name="Email Opened" if known else "Customer.io email deferred",
        known=known,
        created_at="2023-11-14T22:13:20Z",
        properties={"delivery_id": "d1"},
        as_user={"external_id": "u1"} if as_user is None else as_user,
        problem=None,
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box  # type: ignore[misc]
    box.close()


def test_inbox_file_lives_in_the_profile_data_dir_apart_from_the_ledger(isolated_home: Path) -> None:
    path = inbox_path("Acme")
    assert path.name == "inbox.sqlite3"
    assert path.parent == isolated_home / "data" / "Acme"


def test_accepted_event_is_on_disk_in_wal_mode_with_full_sync(inbox: Inbox) -> None:
    assert inbox.accept(event("e1"), b"{}") is AcceptResult.STORED
    conn = sqlite3.connect(inbox.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT event_id, status FROM events").fetchall() == [("e1", "pending")]
    assert inbox._write.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_duplicate_event_id_is_stored_once_and_counted(inbox: Inbox) -> None:
    assert inbox.accept(event("e1"), b"{}") is AcceptResult.STORED
    assert inbox.accept(event("e1"), b"{}") is AcceptResult.DUPLICATE
    counts = inbox.counts()
    assert counts.received == 1 and counts.duplicates == 1


def test_unknown_and_identityless_events_get_their_status(inbox: Inbox) -> None:
    inbox.accept(event("u", known=False), b"{}")
    nobody = event("n", as_user={})
    inbox.accept(MappedEvent(**{**nobody.__dict__, "as_user": None, "problem": "no usable identity: x"}), b"{}")
    assert inbox.get("u").status is EventStatus.UNKNOWN  # type: ignore[union-attr]
    failed = inbox.get("n")
    assert failed is not None and failed.status is EventStatus.FAILED and failed.reason == "no usable identity: x"


def test_concurrent_accepts_are_group_committed_and_all_stored(inbox: Inbox) -> None:
    results: list[AcceptResult] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        r = inbox.accept(event(f"e{i}"), b"{}")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(AcceptResult.STORED) == 200
    assert inbox.counts().pending == 200


def test_forwarder_state_transitions_and_counts(inbox: Inbox) -> None:
    for i in range(3):
        inbox.accept(event(f"e{i}"), b"{}")
    assert [r.event_id for r in inbox.due(10, now=0)] == ["e0", "e1", "e2"]
    inbox.mark_forwarded(["e0"])
    inbox.mark_retry({"e1": 500.0}, "Hull answered 503")
    inbox.mark_failed({"e2": "Hull refused the event (400)"})
    assert [r.event_id for r in inbox.due(10, now=100)] == []
    assert [r.event_id for r in inbox.due(10, now=500)] == ["e1"]
    e1 = inbox.get("e1")
    assert e1 is not None and e1.attempts == 1 and e1.reason == "Hull answered 503"
    counts = inbox.counts()
    assert (counts.forwarded, counts.pending, counts.failed) == (1, 1, 1)
    assert inbox.next_due_at() == 500.0


def test_retry_failed_puts_failed_events_back_to_pending(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    inbox.mark_failed({"e1": "Hull refused"})
    assert inbox.retry_failed() == 1
    row = inbox.get("e1")
    assert row is not None and row.status is EventStatus.PENDING and row.attempts == 0 and row.reason is None


def test_retry_failed_with_remap_recovers_events_that_lacked_identity(inbox: Inbox) -> None:
    nobody = MappedEvent(**{**event("n").__dict__, "as_user": None, "problem": "no usable identity"})
    inbox.accept(nobody, b'{"raw": true}')
    seen: list[bytes] = []

    def remap(body: bytes, received_at: float) -> MappedEvent:
        seen.append(body)
        return event("n", as_user={"email": "a@b.co"})

    assert inbox.retry_failed(remap) == 1
    row = inbox.get("n")
    assert seen == [b'{"raw": true}']
    assert row is not None and row.status is EventStatus.PENDING and row.as_user == {"email": "a@b.co"}


def test_listing_filters_by_status_and_search(inbox: Inbox) -> None:
    inbox.accept(event("e1"), b"{}")
    inbox.accept(event("e2", known=False), b"{}")
    inbox.mark_forwarded(["e1"])
    assert [r.event_id for r in inbox.list_events()] == ["e2", "e1"]
    assert [r.event_id for r in inbox.list_events(statuses=[EventStatus.FORWARDED])] == ["e1"]
    assert [r.event_id for r in inbox.list_events(search="deferred")] == ["e2"]
    assert inbox.list_events(search="100%_") == []
    assert inbox.last_event() is not None and inbox.last_event().event_id == "e2"  # type: ignore[union-attr]


def test_rejected_requests_are_counted_but_nothing_stored(inbox: Inbox) -> None:
    inbox.count_rejected()
    inbox.count_rejected()
    inbox.accept(event("e1"), b"{}")  # the writer is FIFO: counted before this commit returns
    counts = inbox.counts()
    assert counts.rejected == 2 and counts.received == 1


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    with Inbox(path) as box:
        box.accept(event("e1"), b"{}")
        box.mark_retry({"e1": 42.0}, "later")
    with Inbox(path) as box:
        row = box.get("e1")
        assert row is not None and row.next_attempt_at == 42.0 and row.attempts == 1


def test_writes_after_close_fail_clearly(tmp_path: Path) -> None:
    box = Inbox(tmp_path / "inbox.sqlite3")
    box.close()
    with pytest.raises(InboxClosedError):
        box.accept(event("e1"), b"{}")


def test_prune_removes_only_old_forwarded_events(inbox: Inbox) -> None:
    for i in range(3):
        inbox.accept(event(f"e{i}"), b"{}")
    inbox.mark_forwarded(["e0"], now=100.0)
    inbox.mark_forwarded(["e1"], now=10_000.0)
    assert inbox.prune_forwarded(before=5_000.0) == 1
    assert inbox.get("e0") is None and inbox.get("e1") is not None and inbox.get("e2") is not None


def test_event_with_a_lone_surrogate_is_stored_failed_with_its_body_as_received(inbox: Inbox) -> None:
    # json.loads keeps "\ud800" as a lone surrogate, which SQLite's UTF-8 text cannot hold.
    body = b'{"event_id": "s1", "data": {"subject": "Hi \\ud83d"}}'
    broken = MappedEvent(**{**event("s1").__dict__, "properties": {"email_subject": "Hi \ud83d"}})
    assert inbox.accept(broken, body) is AcceptResult.STORED
    row = inbox.get("s1")
    assert row is not None and row.status is EventStatus.FAILED
    assert "not valid Unicode" in (row.reason or "") and "properties" in (row.reason or "")
    assert row.properties == {"email_subject": "Hi \ufffd"}
    assert inbox.body("s1") == body
    # Mapping it again finds the same text: it stays failed rather than being forwarded altered.
    assert inbox.retry_failed(lambda raw, at: broken) == 0
    assert inbox.get("s1").status is EventStatus.FAILED  # type: ignore[union-attr]


def test_lone_surrogate_in_the_name_or_identity_is_also_failed_not_an_error(inbox: Inbox) -> None:
    named = MappedEvent(**{**event("n1").__dict__, "name": "Customer.io email \udc00", "known": False})
    who = event("w1", as_user={"external_id": "u\ud800"})
    inbox.accept(named, b"{}")
    inbox.accept(who, b"{}")
    n1, w1 = inbox.get("n1"), inbox.get("w1")
    assert n1 is not None and n1.status is EventStatus.FAILED and n1.name == "Customer.io email \ufffd"
    assert w1 is not None and w1.status is EventStatus.FAILED and w1.as_user == {"external_id": "u\ufffd"}
    assert "identity" in (w1.reason or "")
