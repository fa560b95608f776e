"""FirehoseWriter: batches of at most 50, flushed within a second, in order, failures reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from cio_desktop.hull.firehose import FirehoseItem, FirehoseWriter
from cio_desktop.net.errors import ServerError, ServiceError


class RecordingClient:
    """Stands in for HullClient.send_firehose (its HTTP side is tested in test_client_hull.py)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[list[FirehoseItem]] = []
        self.times: list[float] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def send_firehose(self, items: Sequence[FirehoseItem]) -> None:
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise ServerError(503, "Hull firehose failed with HTTP 503.")
            self.batches.append(list(items))
            self.times.append(time.monotonic())


def writer(client: RecordingClient, **kw: Any) -> FirehoseWriter:
    return FirehoseWriter(client, **kw)


def test_batches_hold_at_most_50_items_and_keep_order() -> None:
    client = RecordingClient()
    with writer(client, flush_interval=60) as w:
        for i in range(120):
            w.traits({"id": f"u{i}"}, {"n": i})
    sizes = [len(b) for b in client.batches]
    assert max(sizes) <= 50 and sum(sizes) == 120
    flat = [item.body["n"] for batch in client.batches for item in batch]
    assert flat == list(range(120))
    assert w.sent == 120 and w.failed == 0


def test_a_full_batch_goes_out_without_waiting_for_the_interval() -> None:
    client = RecordingClient()
    w = writer(client, flush_interval=30)
    try:
        for i in range(50):
            w.traits({"id": f"u{i}"}, {"n": i})
        deadline = time.monotonic() + 5
        while not client.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(client.batches) == 1 and len(client.batches[0]) == 50
    finally:
        w.close()


def test_a_lone_item_is_sent_within_the_flush_interval() -> None:
    client = RecordingClient()
    w = writer(client, flush_interval=0.2)
    try:
        started = time.monotonic()
        w.traits({"email": "a@x.io"}, {"plan": "pro"}, timestamp=1_700_000_000)
        deadline = started + 5
        while not client.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.batches, "not flushed"
        assert 0.15 <= client.times[0] - started < 1.5
        assert client.batches[0] == [FirehoseItem("traits", {"plan": "pro"}, {"email": "a@x.io"}, 1_700_000_000)]
    finally:
        w.close()


def test_failed_requests_are_reported_with_their_items_and_counted() -> None:
    client = RecordingClient(fail_first=1)
    reported: list[tuple[ServiceError, list[FirehoseItem]]] = []
    w = writer(client, flush_interval=60, on_error=lambda e, items: reported.append((e, list(items))))
    for i in range(3):
        w.traits({"id": f"u{i}"}, {"n": i})
    w.flush()
    w.traits({"id": "u9"}, {"n": 9})
    w.close()
    assert w.failed == 3 and w.sent == 1
    ((error, items),) = reported
    assert error.status == 503 and [i.body["n"] for i in items] == [0, 1, 2]


def test_flush_returns_after_everything_queued_is_sent() -> None:
    client = RecordingClient()
    w = writer(client, flush_interval=60)
    for i in range(7):
        w.traits({"id": f"u{i}"}, {"n": i})
    w.flush()
    assert sum(len(b) for b in client.batches) == 7 and w.sent == 7
    w.close()


def test_writes_after_close_are_refused() -> None:
    w = writer(RecordingClient())
    w.close()
    with pytest.raises(RuntimeError):
        w.traits({"id": "u"}, {"a": 1})


def test_many_threads_writing_lose_nothing() -> None:
    client = RecordingClient()
    w = writer(client, flush_interval=0.05)

    def produce(t: int) -> None:
        for i in range(200):
            w.traits({"id": f"t{t}-{i}"}, {"i": i})

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    seen = [item.as_user["id"] for b in client.batches for item in b]
    assert len(seen) == 800 == len(set(seen))
    assert max(len(b) for b in client.batches) <= 50
