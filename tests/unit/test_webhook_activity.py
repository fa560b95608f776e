from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cio_desktop.webhooks.activity import (
    ActivityFilter,
    activity_counts,
    event_names,
    parse_date,
    person_activity,
    search,
    stored_size,
    summary_text,
)
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.inbox import Destination, EventStatus, Inbox

MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def ev(
    event_id: str,
    name: str = "Email Opened",
    *,
    customer: str | None = "u1",
    email: str | None = "Ada@Example.com",
    campaign: str | None = "March report",
    day: int = 1,
    known: bool = True,
) -> MappedEvent:
    as_user: dict[str, str] = {}
    if customer:
        as_user["external_id"] = customer
    if email:
        as_user["email"] = email
    props: dict[str, str | int] = {"delivery_id": "d-" + event_id}
    if campaign:
        props["campaign_name"] = campaign
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric=name.split()[-1].lower(),
        name=name,
        known=known,
        created_at=f"2026-03-{day:02d}T10:00:00Z",
        properties=props,
        as_user=as_user or None,
        problem=None if as_user else "no usable identity: x",
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def filled(inbox: Inbox) -> Inbox:
    inbox.accept(ev("o1", day=1), b"{}")
    inbox.accept(ev("o2", day=2), b"{}")
    inbox.accept(ev("c1", "Email Link Clicked", day=2), b"{}")
    inbox.accept(ev("o3", customer="u2", email="bob@example.com", campaign="Welcome", day=5), b"{}")
    inbox.accept(ev("b1", "Email Bounced", customer="u3", email=None, campaign=None, day=9), b"{}")
    inbox.accept(ev("t1", "Webhook test event", known=False, day=9), b"{}")
    return inbox


def ids(rows: list) -> set[str]:  # type: ignore[type-arg]
    return {r.event_id for r in rows}


def test_search_finds_a_person_by_customer_id_or_by_email_in_any_case(filled: Inbox) -> None:
    assert ids(search(filled, ActivityFilter(person="u1"))) == {"o1", "o2", "c1", "t1"}
    assert ids(search(filled, ActivityFilter(person="ADA@example.COM"))) == {"o1", "o2", "c1", "t1"}
    assert ids(search(filled, ActivityFilter(person="bob@example.com"))) == {"o3"}
    assert search(filled, ActivityFilter(person="u")) == []  # a person is matched exactly, not by prefix


def test_search_by_campaign_metric_and_date_combines_and_lists_newest_first(filled: Inbox) -> None:
    assert ids(search(filled, ActivityFilter(campaign="welc"))) == {"o3"}
    opened = search(filled, ActivityFilter(metric="Email Opened"))
    assert [r.event_id for r in opened] == ["o3", "o2", "o1"]
    march_2_to_5 = ActivityFilter(since=parse_date("2026-03-02"), until=parse_date("2026-03-05", end=True))
    assert ids(search(filled, march_2_to_5)) == {"o2", "c1", "o3"}
    assert ids(search(filled, ActivityFilter(metric="Email Opened", campaign="March", since=parse_date("2026-03-02"))))
    assert ids(search(filled, ActivityFilter(campaign="100%_off"))) == set()  # LIKE wildcards are literal


def test_counts_per_metric_and_campaign_leave_out_unknown_events(filled: Inbox) -> None:
    counts = activity_counts(filled, ActivityFilter())
    assert counts.total == 5
    assert counts.per_metric == (("Email Opened", 3), ("Email Bounced", 1), ("Email Link Clicked", 1))
    assert counts.per_campaign == (("March report", 3), ("Welcome", 1))
    assert activity_counts(filled, ActivityFilter(since=parse_date("2026-03-03"))).per_metric == (
        ("Email Bounced", 1),
        ("Email Opened", 1),
    )
    assert "Webhook test event" in event_names(filled)


def test_person_summary_reads_like_a_sentence(filled: Inbox) -> None:
    now = datetime(2026, 3, 20, tzinfo=UTC).timestamp()
    counts = person_activity(filled, ["u1"], None, days=30, now=now)
    assert counts == {"opened": 2, "clicked": 1}
    assert summary_text(counts, 30) == "opened 2, clicked 1 in the last 30 days"
    assert person_activity(filled, [], "ada@EXAMPLE.com", days=30, now=now) == counts
    assert person_activity(filled, ["u1"], None, days=10, now=now) == {}  # all older than 10 days
    assert summary_text({}, 10) == "No email activity in the last 10 days."


def test_bad_dates_say_what_a_date_looks_like() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date("31/03/2026")
    assert parse_date("2026-03-31", end=True) - parse_date("2026-03-31") == 86400
    assert parse_date("2026-03-31T18:00+02:00") == datetime(2026, 3, 31, 16, tzinfo=UTC).timestamp()


def test_without_a_live_hull_events_are_kept_not_pending_and_return_to_pending_with_hull(inbox: Inbox) -> None:
    inbox.accept(ev("before"), b"{}")
    inbox.set_destinations(hull=False, http=False)
    inbox.accept(ev("after"), b"{}")
    assert {r.status for r in search(inbox, ActivityFilter())} == {EventStatus.KEPT}
    assert inbox.due(10) == []
    assert inbox.counts().kept == 2 and inbox.counts().pending == 0
    inbox.set_destinations(hull=True, http=False)
    assert [r.event_id for r in inbox.due(10)] == ["before", "after"]


def test_the_https_destination_has_its_own_queue_next_to_hull(inbox: Inbox) -> None:
    inbox.set_destinations(hull=False, http=True)
    inbox.accept(ev("e1"), b"{}")
    inbox.accept(ev("nobody", customer=None, email=None), b"{}")
    inbox.accept(ev("test", "Webhook test event", known=False), b"{}")
    due = inbox.due(10, destination=Destination.HTTP)
    assert [r.event_id for r in due] == ["e1"]  # only forwardable events go to the endpoint
    inbox.mark_failed({"e1": "refused"}, destination=Destination.HTTP)
    row = inbox.get("e1")
    assert row is not None and row.status is EventStatus.KEPT and row.http_status is EventStatus.FAILED
    assert row.http_reason == "refused" and row.http_attempts == 1
    assert inbox.retry_http_failed() == 1
    assert [r.http_attempts for r in inbox.due(10, destination=Destination.HTTP)] == [0]


def test_retention_prunes_old_events_but_never_ones_still_waiting_to_be_forwarded(inbox: Inbox) -> None:
    inbox.set_destinations(hull=False, http=True)
    inbox.accept(ev("old-kept"), b"{}", received_at=1000.0)
    inbox.mark_forwarded(["old-kept"], destination=Destination.HTTP)
    inbox.accept(ev("old-waiting"), b"{}", received_at=1000.0)  # still pending for the endpoint
    inbox.accept(ev("new"), b"{}", received_at=5000.0)
    assert inbox.prune_older_than(2000.0) == 1
    assert ids(search(inbox, ActivityFilter())) == {"old-waiting", "new"}
    size = stored_size(inbox)
    assert size.events == 2 and size.bytes > 0 and size.oldest == 1000.0


def test_a_version_1_inbox_is_migrated_in_place_with_its_rows_searchable(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
          status TEXT NOT NULL, name TEXT NOT NULL, format TEXT NOT NULL, object_type TEXT NOT NULL,
          metric TEXT NOT NULL, created_at TEXT NOT NULL, received_at REAL NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, forwarded_at REAL,
          reason TEXT, as_user TEXT, properties TEXT NOT NULL, body BLOB NOT NULL);
        CREATE INDEX events_due ON events (status, next_attempt_at);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO events (event_id, status, name, format, object_type, metric, created_at, received_at,
          as_user, properties, body) VALUES ('old', 'forwarded', 'Email Opened', 'current', 'email', 'opened',
          '2026-03-01T10:00:00Z', 1.0, '{"external_id": "u9", "email": "Zoe@Example.com"}',
          '{"campaign_id": 23, "customer_id": "u9"}', x'7b7d');
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with Inbox(path) as box:
        row = search(box, ActivityFilter(person="zoe@example.com"))[0]
        assert (row.event_id, row.person_id, row.campaign, row.status) == ("old", "u9", "23", EventStatus.FORWARDED)
        assert row.created_ts == MARCH_1 + 10 * 3600
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_retry_failed_with_a_fixed_mapping_makes_the_person_searchable_and_queues_the_endpoint(inbox: Inbox) -> None:
    inbox.set_destinations(hull=False, http=True)
    inbox.accept(ev("e1", customer=None, email=None), b"{}")
    assert inbox.get("e1").http_status is None  # type: ignore[union-attr]  # nobody to send it for
    moved = inbox.retry_failed(lambda body, at: ev("e1", customer="u7", email=None))
    row = inbox.get("e1")
    assert moved == 1 and row is not None
    assert (row.status, row.http_status, row.person_id) == (EventStatus.KEPT, EventStatus.PENDING, "u7")
    assert ids(search(inbox, ActivityFilter(person="u7"))) == {"e1"}


def test_starting_with_hull_connected_forwards_old_kept_events_instead_of_pruning_them(tmp_path: Path) -> None:
    import time

    from cio_desktop.config.profile import Profile
    from cio_desktop.config.secrets import SecretStore
    from cio_desktop.webhooks.service import WebhookService

    class Hull:
        def __init__(self) -> None:
            self.items: list[object] = []

        def send_firehose(self, items: list[object]) -> None:
            self.items.extend(items)

    inbox = Inbox(tmp_path / "inbox.sqlite3")
    inbox.set_destinations(hull=False, http=False)
    inbox.accept(ev("kept-long-ago"), b"{}", received_at=1000.0)  # far past the 90-day retention
    row = inbox.get("kept-long-ago")
    assert row is not None and row.status is EventStatus.KEPT
    hull = Hull()
    profile = Profile(name="Acme", webhook_listen="127.0.0.1:0")
    with WebhookService(profile, SecretStore.in_memory(), inbox=inbox, sender=hull) as service:
        service.start()  # Hull is connected now: the kept event waits for it, so retention spares it
        deadline = time.monotonic() + 10
        while not hull.items and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(hull.items) == 1, "the old kept event reached Hull instead of being pruned"
