"""The event checkpoint only moves over events that are all handled, never into a shared timestamp."""

from __future__ import annotations

from cio_desktop.sync.checkpoint import EventCheckpoint


def test_checkpoint_stays_at_the_start_until_the_oldest_event_is_done() -> None:
    ck = EventCheckpoint(100.0)
    ck.add(0, 110.0)
    ck.add(1, 120.0)
    ck.finish(1, ok=True)
    assert ck.value() == 100.0
    ck.finish(0, ok=True)
    assert ck.value() == 110.0  # the stream may still hold more events at 120
    ck.stream_done()
    assert ck.value() == 120.0


def test_checkpoint_never_lands_on_a_time_an_unfinished_event_shares() -> None:
    ck = EventCheckpoint(None)
    for seq, ts in enumerate([10.0, 20.0, 20.0, 30.0]):
        ck.add(seq, ts)
    ck.finish(0, ok=True)
    ck.finish(1, ok=True)
    # Event 2 also happened at 20: a checkpoint of 20 would skip it next run (events strictly after).
    assert ck.value() == 10.0
    ck.finish(2, ok=True)
    assert ck.value() == 20.0


def test_a_failed_event_holds_the_checkpoint_just_before_it_for_the_rest_of_the_run() -> None:
    ck = EventCheckpoint(None)
    for seq, ts in enumerate([10.0, 20.0, 30.0]):
        ck.add(seq, ts)
    ck.finish(0, ok=True)
    ck.finish(1, ok=False)
    ck.finish(2, ok=True)
    ck.stream_done()
    assert ck.value() == 10.0


def test_nothing_handled_keeps_the_previous_checkpoint() -> None:
    ck = EventCheckpoint(42.0)
    ck.stream_done()
    assert ck.value() == 42.0
    empty = EventCheckpoint(None)
    assert empty.value() is None
