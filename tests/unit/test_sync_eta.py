"""The time left of a phase: "estimating…" until it means something, then never faster than reading,
than sending went so far, or than Customer.io's rate limit allows (pure, plus the tracker that feeds it)."""

from __future__ import annotations

import math
import random
from typing import Any

from cio_desktop.sync.eta import Eta, EtaInput, EtaState, estimate_eta, eta_text, operations, sends
from cio_desktop.sync.progress import Phase, Progress, ProgressTracker


def eta(**kw: Any) -> Eta:
    base: dict[str, Any] = {"phase": "users", "done": 0, "total": 31_000, "in_phase_s": 10.0, "read_rate": 1000.0}
    base.update(kw)
    return estimate_eta(EtaInput(**base))


def test_three_seconds_into_a_run_it_says_estimating_not_eight_seconds() -> None:
    # The reported case: 8 s predicted at 3 s into a 31 s run, from the speed of the first pages read.
    early = eta(done=8000, in_phase_s=3.0, read_rate=2700.0, to_send=8000, sent=2000, requests=2, rate_limit=100.0)
    assert early.state is EtaState.ESTIMATING and eta_text(early, "users") == "estimating…"
    assert eta(done=100, in_phase_s=20.0).state is EtaState.ESTIMATING, "under 2% of the phase"


def test_sending_says_estimating_until_a_few_batches_went_out() -> None:
    assert eta(done=12_000, to_send=12_000, sent=2000, requests=2, rate_limit=100.0).state is EtaState.ESTIMATING


def test_reading_ahead_of_sending_is_not_mistaken_for_progress() -> None:
    # 12,000 read in 10 s (reading alone: 19 s more) but only 4,000 went out: sending sets the time.
    e = eta(done=12_000, read_rate=1200.0, to_send=12_000, sent=4000, requests=4, rate_limit=100.0)
    assert e.state is EtaState.KNOWN and e.seconds == (19_000 + 8000) / 400.0 and not e.rate_limited
    assert eta_text(e, "users", then="accounts and events") == "about 1 min 08 s for people, then accounts and events"
    assert eta_text(e, "users") == "about 1 min 08 s"


def test_the_rate_limit_is_the_floor_of_every_estimate() -> None:
    # 20,000 operations left, 1,000 per request, 1 request per second: 20 s at least, whatever sending did so far.
    e = eta(done=11_000, total=31_000, in_phase_s=6.0, to_send=11_000, sent=11_000, requests=11, rate_limit=1.0)
    assert e.seconds == 20.0 and e.rate_limited
    assert eta_text(e, "users") == "about 20 s (Customer.io's rate limit)"


def test_no_estimate_is_ever_faster_than_the_requests_left_at_the_rate_limit() -> None:
    rng = random.Random(12)
    for _ in range(2000):
        total = rng.randint(1000, 200_000)
        done = rng.randint(total // 50 + 1, total)
        to_send = rng.randint(0, done)
        sent = rng.randint(0, to_send)
        requests = rng.randint(3, max(3, sent // 10 + 3))
        rate = rng.choice([0.5, 10.0, 100.0, 3000.0])
        e = eta(total=total, done=done, to_send=to_send, sent=sent, requests=requests, rate_limit=rate)
        ops_left = (total - done) * to_send / done + (to_send - sent)
        if e.state is EtaState.KNOWN and sent and ops_left > 0:
            per_request = max(1.0, sent / requests)
            assert e.seconds is not None and e.seconds >= math.ceil(ops_left / per_request) / rate - 1e-9


def test_a_run_with_nothing_to_send_and_a_dry_run_go_by_reading() -> None:
    unchanged = eta(done=10_000, read_rate=1000.0, to_send=0, rate_limit=100.0)
    assert unchanged.state is EtaState.KNOWN and unchanged.seconds == 21.0
    dry = eta(done=10_000, read_rate=1000.0, to_send=10_000, rate_limit=None)
    assert dry.seconds == 21.0, "a dry run sends nothing: no request to wait for"


def test_a_last_handful_to_send_needs_no_batches_to_estimate() -> None:
    e = eta(done=30_000, read_rate=1000.0, to_send=40, sent=0, requests=0, rate_limit=100.0)
    assert e.state is EtaState.KNOWN and e.seconds == 1.0


def test_a_step_whose_size_cannot_be_known_says_what_it_is_doing_not_a_dash() -> None:
    assert eta_text(eta(phase="events", total=None, rate_limit=100.0), "events") == (
        "sending events… (how many is not known ahead)"
    )
    assert eta_text(eta(phase="deletions", total=None, rate_limit=1.0), "deletions").startswith(
        "deleting people who left the segments…"
    )
    assert eta_text(eta(phase="events", total=None, rate_limit=None), "events").startswith("reading events…")
    assert eta_text(eta(phase="starting", total=None), "starting") == "estimating…"
    assert eta_text(eta(phase="finishing"), "finishing") == "—"


def test_the_accounts_step_goes_by_the_accounts_noted_and_says_the_estimate_is_rough() -> None:
    # 3,000 accounts and relationships noted; 1,000 done in 10 s, all of them sent, 10 requests at 100/s.
    kw: dict[str, Any] = {"phase": "objects", "total": None, "to_send": 1000, "sent": 1000, "requests": 10}
    e = eta(done=1000, read_rate=100.0, expected=3000, rate_limit=100.0, **kw)
    assert e.state is EtaState.KNOWN and e.rough and e.seconds == 20.0
    assert eta_text(e, "objects", then="events") == "roughly 20 s for accounts, then events"
    # The same as a known size would give: only the words say it is rough.
    assert e.seconds == eta(done=1000, read_rate=100.0, rate_limit=100.0, **{**kw, "total": 3000}).seconds
    assert eta(done=10, expected=3000, in_phase_s=1.0, **kw).state is EtaState.ESTIMATING, "too early still"
    past = eta(done=3500, read_rate=100.0, expected=3000, rate_limit=100.0, **kw)
    assert eta_text(past, "objects") == "sending accounts… (how many is not known ahead)", "past the estimate"


def test_only_decisions_that_go_out_count_as_sending() -> None:
    assert all(sends(label) for label in ("identify (new)", "delete (left the segments)", "event (anonymous)"))
    assert all(sends(label) for label in ("object identify (new)", "object delete (no member left)"))
    assert sends("relationship (moved to another account)")
    assert not any(
        sends(label) for label in ("skip: unchanged", "withheld: delete (left the segments)", "event skip: invalid")
    )
    assert not any(sends(label) for label in ("object unchanged", "relationship waiting: account not in Customer.io"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_measures_each_phase_and_bounds_its_estimate_by_the_rate_limit() -> None:
    clock, seen = Clock(), list[Progress]()
    tracker = ProgressTracker(seen.append, clock=clock, rate_limit=1.0, max_per_request=1000)
    tracker.phase(Phase.USERS, total=100_000)
    for _ in range(10):  # 10 s: 2,000 read per second, all to send, but 1 request of 1,000 per second
        clock.now += 1.0
        tracker.answered(1000)
        tracker.advance(2000, label="identify (new)")
    p = seen[-1]
    assert p.requests == 10 and p.eta.state is EtaState.KNOWN
    # 80,000 left to read and 10,000 read but not sent: 90 requests at 1 per second; reading alone says 40 s.
    assert p.eta.seconds == 90.0 and p.eta.rate_limited and p.eta_s == p.eta.seconds
    clock.now += 1.0
    tracker.phase(Phase.EVENTS)
    assert seen[-1].requests == 0 and seen[-1].eta.state is EtaState.UNKNOWN_SIZE


def test_a_dry_runs_tracker_goes_by_reading_alone() -> None:
    clock, seen = Clock(), list[Progress]()
    tracker = ProgressTracker(seen.append, clock=clock, rate_limit=None)
    tracker.phase(Phase.USERS, total=10_000)
    for _ in range(5):
        clock.now += 1.0
        tracker.advance(1000, label="identify (new)")
    assert seen[-1].eta.state is EtaState.KNOWN and seen[-1].eta_s == 5.0


def test_the_tracker_estimates_a_step_of_unknown_size_by_its_expected_size_without_faking_a_total() -> None:
    clock, seen = Clock(), list[Progress]()
    tracker = ProgressTracker(seen.append, clock=clock, rate_limit=10.0, max_per_request=100)
    tracker.phase(Phase.OBJECTS, expected=2000)
    for _ in range(6):  # 6 s: 100 accounts a second, each sent in a request of 100
        clock.now += 1.0
        tracker.answered(100)
        tracker.advance(100, label="object identify (new)")
    p = seen[-1]
    assert p.total is None and p.fraction is None, "the bar does not pretend to know the size"
    # 1,400 left at 100 a second: 14 s (the rate limit alone would allow 1.4 s).
    assert p.eta.state is EtaState.KNOWN and p.eta.rough and p.eta.seconds == 14.0
    clock.now += 1.0
    tracker.phase(Phase.EVENTS)
    assert seen[-1].eta.state is EtaState.UNKNOWN_SIZE and seen[-1].eta.sending


def test_a_merge_counts_two_operations_and_a_moved_relationship_two() -> None:
    assert operations("merge (customerId changed)") == 2
    assert operations("relationship (moved to another account)") == 2
    assert operations("identify (changed)") == operations("relationship (added)") == operations("event (sent)") == 1
    assert operations("skip: unchanged") == operations("relationship waiting: account not in Customer.io") == 0


def test_merges_still_due_are_never_estimated_faster_than_the_rate_limit_allows() -> None:
    # The reported case: 1,000 merges read, 1,000 of their 2,000 operations answered in 10 requests of
    # 100, 1 request per second: 1,000 operations are still due, 10 requests, so 10 s, not "about 0 s".
    e = estimate_eta(EtaInput("users", 1000, 1000, 10.0, 100.0, 2000, 1000, 10, rate_limit=1.0, max_per_request=100))
    assert e.state is EtaState.KNOWN and e.seconds == 10.0 and e.rate_limited


def test_the_tracker_counts_a_merge_as_the_two_operations_it_sends() -> None:
    clock, seen = Clock(), list[Progress]()
    tracker = ProgressTracker(seen.append, clock=clock, rate_limit=1.0, max_per_request=100)
    tracker.phase(Phase.USERS, total=1000)
    for _ in range(10):  # 100 merges read a second; each second one request of 100 operations answered
        clock.now += 2.0
        tracker.answered(100)
        tracker.advance(100, label="merge (customerId changed)")
    assert tracker.sending == (2000, 1000, 10)
    p = seen[-1]
    assert p.done == 1000 and p.eta.state is EtaState.KNOWN
    assert p.eta.seconds is not None and p.eta.seconds >= 10.0, "1,000 operations due: 10 requests at 1 a second"


def test_a_refused_request_split_in_parts_counts_its_operations_once() -> None:
    tracker = ProgressTracker(None, rate_limit=10.0)
    tracker.phase(Phase.USERS, total=4)
    tracker.advance(4, label="identify (new)")
    tracker.answered(0)  # 400 on the whole request: split in two
    tracker.answered(2)
    tracker.answered(2)
    assert tracker.sending == (4, 4, 3), "three requests answered, four operations settled"


def test_no_tracker_estimate_beats_the_operations_truly_due_at_the_rate_limit() -> None:
    # Whatever the mix of merges, moved relationships and plain sends, and however far the answers lag.
    truth = {"merge (customerId changed)": 2, "relationship (moved to another account)": 2, "identify (new)": 1}
    truth["skip: unchanged"] = 0
    rng = random.Random(7)
    for _ in range(300):
        clock, seen = Clock(), list[Progress]()
        rate = rng.choice([1.0, 10.0, 100.0])
        tracker = ProgressTracker(seen.append, clock=clock, max_per_second=1e9, rate_limit=rate, max_per_request=100)
        steps = [(rng.choice(list(truth)), rng.randint(1, 400)) for _step in range(rng.randint(1, 30))]
        # Half the time the whole phase is read by the end: only what is due is left.
        tracker.phase(Phase.USERS, total=sum(n for _, n in steps) * rng.choice([1, 3]))
        decided = answered = 0
        for label, n in steps:
            clock.now += rng.uniform(0.1, 2.0)
            settled = rng.randint(0, min(100, decided - answered))
            tracker.answered(settled)
            answered += settled
            decided += n * truth[label]
            tracker.advance(n, label=label)  # reports what the tracker knows now
        eta, due = seen[-1].eta, decided - answered
        if eta.state is EtaState.KNOWN and due:
            assert eta.seconds is not None and eta.seconds >= math.ceil(due / 100) / rate - 1e-9
