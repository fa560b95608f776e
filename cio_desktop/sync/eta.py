"""The time left of a run's current phase, from the phase and Customer.io's rate limit (pure).

Reading users runs ahead of sending: the first pages are read and decided at once, then the run waits
for Customer.io, whose Track API takes at most ``rate_limit`` requests per second (the profile's
setting, which the client respects). So the time left is the longest of

- reading what is left of the phase at the current reading rate;
- sending what is left (the operations the people still to read will need, at the share seen so far,
  plus those decided but not answered yet) at the rate Customer.io answered them so far;
- the same requests at the rate limit: no estimate is ever shorter than requests left / rate limit.

Both sides count operations, not people: a merge is two (identify, then merge), a relationship moved
to another account two (remove, add). An operation counts as sent once Customer.io answered its
request (accepted or not): a request queued, throttled or being retried has not gone yet.

Until a phase has run a few seconds and a few batches went out (when it sends anything), the rates
say little: the estimate is "estimating…". A dry run sends nothing, so reading alone sets its time.

A step the source cannot count (accounts as objects, deletions, events) has no total. When its likely
size is known (``expected``: the accounts and relationships the users pass noted) the estimate goes by
it and says it is rough; without one, the words say what is happening ("sending events…"), not a dash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

# Before this long in a phase, or this share of it, the reading rate says nothing yet.
WARMUP_S = 5.0
WARMUP_FRACTION = 0.02
# Requests that must have gone out in the phase before the sending rate and batch size mean anything.
MIN_REQUESTS = 3
# Decision labels whose people, events or accounts go out in requests (skips, unchanged, waiting and
# withheld do not).
_SENDING = ("identify", "merge", "delete", "event (", "object identify", "object delete", "relationship (")


# Decisions that take two operations each (see the module docstring).
_TWO_OPERATIONS = ("merge", "relationship (moved")


def sends(label: str) -> bool:
    """Whether people or events counted under ``label`` are sent to Customer.io."""
    return label.startswith(_SENDING)


def operations(label: str) -> int:
    """How many operations one decision counted under ``label`` sends (0: it sends nothing)."""
    if not sends(label):
        return 0
    return 2 if label.startswith(_TWO_OPERATIONS) else 1


class EtaState(StrEnum):
    NONE = "none"  # nothing left to estimate (finishing, done)
    UNKNOWN_SIZE = "unknown_size"  # the phase's size is unknown (the source cannot count it)
    ESTIMATING = "estimating"  # too early: the rates do not mean anything yet
    KNOWN = "known"


@dataclass(frozen=True)
class EtaInput:
    """What the estimate looks at, all of the current phase. ``to_send``: operations decided that go
    out in requests; ``sent`` and ``requests``: operations and requests Customer.io answered;
    ``rate_limit``: requests per second the run may send (None when it sends nothing: a dry run);
    ``max_per_request``: the most operations one request carries; ``expected``: the phase's likely size
    when ``total`` is unknown."""

    phase: str
    done: int
    total: int | None
    in_phase_s: float
    read_rate: float
    to_send: int = 0
    sent: int = 0
    requests: int = 0
    rate_limit: float | None = None
    max_per_request: int = 1000
    expected: int | None = None


@dataclass(frozen=True)
class Eta:
    """``seconds`` left of the phase when KNOWN; ``rate_limited`` when the rate limit alone sets it;
    ``rough`` when it goes by the phase's likely size, not a count; ``sending``: the run sends (not a
    dry run), which is what the words of a phase of unknown size say it does."""

    state: EtaState
    seconds: float | None = None
    rate_limited: bool = False
    rough: bool = False
    sending: bool = True


ESTIMATING = Eta(EtaState.ESTIMATING)


def estimate_eta(i: EtaInput) -> Eta:
    """The time left of the phase (see the module docstring)."""
    if i.phase in ("finishing", "done"):
        return Eta(EtaState.NONE)
    if i.total is None:
        if i.phase == "starting":
            return ESTIMATING
        if i.expected is None or i.done >= i.expected:  # no likely size, or already past it
            return Eta(EtaState.UNKNOWN_SIZE, sending=i.rate_limit is not None)
        eta = estimate_eta(replace(i, total=i.expected, expected=None))
        return replace(eta, rough=eta.state is EtaState.KNOWN)
    left = max(0, i.total - i.done)
    if i.in_phase_s < WARMUP_S or i.done < WARMUP_FRACTION * i.total or i.done <= 0:
        return ESTIMATING
    if left and i.read_rate <= 0:
        return ESTIMATING  # stalled: no rate to go by
    read_s = left / i.read_rate if left else 0.0
    if i.rate_limit is None:
        return Eta(EtaState.KNOWN, read_s)
    ops_left = left * (i.to_send / i.done) + max(0, i.to_send - i.sent)
    if ops_left <= 0:
        return Eta(EtaState.KNOWN, read_s)
    if i.requests < MIN_REQUESTS or i.sent <= 0:
        if ops_left > i.max_per_request:
            return ESTIMATING
        # All that is left fits in one request: reading sets the time, the rate limit the least.
        floor = 1.0 / i.rate_limit
        return Eta(EtaState.KNOWN, max(read_s, floor), rate_limited=floor > read_s)
    per_request = min(float(i.max_per_request), max(1.0, i.sent / i.requests))
    floor = math.ceil(ops_left / per_request) / i.rate_limit
    send_s = ops_left / (i.sent / i.in_phase_s)
    seconds = max(read_s, send_s, floor)
    return Eta(EtaState.KNOWN, seconds, rate_limited=floor >= max(read_s, send_s))


def format_seconds(seconds: float) -> str:
    s = math.ceil(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# What a step of unknown size is doing, by phase: (when sending, when only planning: a dry run).
_DOING = {
    "users": ("sending people", "reading people"),
    "deletions": ("deleting people who left the segments", "looking for people who left the segments"),
    "objects": ("sending accounts", "planning accounts"),
    "events": ("sending events", "reading events"),
}
# What the time left is of, by phase ("about 26 s for people, then events").
_OF = {"users": "people", "deletions": "deletions", "objects": "accounts", "events": "events"}


def eta_text(eta: Eta, phase: str, *, then: str = "") -> str:
    """The estimate in words for the Sync page: "about 26 s for people, then events", "estimating…",
    "sending events… (how many is not known ahead)". ``then``: what the run does after this phase
    ("accounts and events"), not included in the estimate."""
    if eta.state is EtaState.NONE:
        return "—"
    if eta.state is EtaState.UNKNOWN_SIZE:
        sending, planning = _DOING.get(phase, ("working", "working"))
        return f"{sending if eta.sending else planning}… (how many is not known ahead)"
    if eta.state is EtaState.ESTIMATING or eta.seconds is None:
        return "estimating…"
    after = f" for {_OF.get(phase, phase)}, then {then}" if then else ""
    limit = " (Customer.io's rate limit)" if eta.rate_limited else ""
    return f"{'roughly' if eta.rough else 'about'} {format_seconds(eta.seconds)}{after}{limit}"


__all__ = [
    "ESTIMATING",
    "MIN_REQUESTS",
    "WARMUP_FRACTION",
    "WARMUP_S",
    "Eta",
    "EtaInput",
    "EtaState",
    "estimate_eta",
    "eta_text",
    "format_seconds",
    "operations",
    "sends",
]
