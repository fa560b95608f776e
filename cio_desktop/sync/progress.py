"""Progress of a run: what the engine reports to the CLI progress bar and the GUI.

The engine calls :meth:`ProgressTracker.advance` for every user it handles; the tracker turns that
into at most a few :class:`Progress` values per second (phase changes and the final value always
get through), so a GUI that forwards each one as a queued signal never floods its event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from cio_desktop.sync.eta import ESTIMATING, Eta, EtaInput, estimate_eta, operations

log = logging.getLogger(__name__)

# At most this many progress reports per second (phase changes excepted).
MAX_REPORTS_PER_SECOND = 5.0
# Rate is measured over this sliding window so it follows slowdowns (rate limits, retries).
_RATE_WINDOW_S = 5.0


class Phase(StrEnum):
    """Stages of a run, in order."""

    STARTING = "starting"
    USERS = "users"
    DELETIONS = "deletions"
    OBJECTS = "objects"
    EVENTS = "events"
    FINISHING = "finishing"
    DONE = "done"


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run.

    ``done``/``total`` count users (or events in the events phase); ``total`` is None when the
    source cannot say. ``rate`` is items per second over the last few seconds; ``eta`` the time
    left of the phase (:mod:`~cio_desktop.sync.eta`: from the phase and Customer.io's rate limit),
    ``eta_s`` its seconds (None until known). ``counts`` maps a decision label
    ("identify (new)", "skip (unchanged)", ...) to how many got it so far; ``failed`` counts people
    and events Customer.io refused or that could not be sent.
    """

    phase: str
    done: int
    total: int | None
    rate: float
    eta_s: float | None
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    failed: int = 0
    message: str = ""
    eta: Eta = ESTIMATING
    # Requests Customer.io answered in this phase (what the estimate's sending rate is measured on).
    requests: int = 0
    # The phase's likely size when ``total`` is unknown (the objects step: what the users pass noted).
    expected: int | None = None

    @property
    def fraction(self) -> float | None:
        """0..1 when the total is known."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class ProgressTracker:
    """Thread-safe accumulator that emits throttled :class:`Progress` values to a callback."""

    def __init__(
        self,
        callback: Callable[[Progress], None] | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_per_second: float = MAX_REPORTS_PER_SECOND,
        rate_limit: float | None = None,
        max_per_request: int = 1000,
    ) -> None:
        """``rate_limit``: Customer.io requests per second the run may send (None: it sends nothing,
        a dry run); ``max_per_request``: the most operations a request carries."""
        self._callback = callback
        self._clock = clock
        self._min_interval = 1.0 / max_per_second
        self._lock = threading.Lock()
        self._phase = Phase.STARTING.value
        self._done = 0
        self._total: int | None = None
        self._expected: int | None = None
        self._counts: dict[str, int] = {}
        self._failed = 0
        self._message = ""
        self._last_emit = float("-inf")
        self._samples: deque[tuple[float, int]] = deque()
        self._rate_limit = rate_limit
        self._max_per_request = max_per_request
        # Of the current phase: when it started, operations decided that go out, and the operations and
        # requests Customer.io answered.
        self._phase_started = self._clock()
        self._to_send = 0
        self._sent = 0
        self._requests = 0

    # ------------------------------------------------------------------ updates
    def phase(
        self, phase: Phase | str, *, total: int | None = None, expected: int | None = None, message: str = ""
    ) -> None:
        """Start a phase: ``done`` restarts at 0. Always reported. ``expected``: the phase's likely size
        when ``total`` is unknown (only the time left uses it; the progress bar stays without a total)."""
        with self._lock:
            self._phase = str(phase)
            self._done = 0
            self._total = total
            self._expected = expected
            self._message = message
            self._samples.clear()
            self._phase_started = self._clock()
            self._samples.append((self._phase_started, 0))
            self._to_send = self._sent = self._requests = 0
        self._emit(force=True)

    def advance(self, n: int = 1, *, label: str | None = None, sending: int | None = None) -> None:
        """``n`` more items handled in the current phase; ``label`` counts them under a decision.
        ``sending``: the operations they send, when not what their label sends (eta.operations)."""
        with self._lock:
            self._done += n
            if label is not None:
                self._counts[label] = self._counts.get(label, 0) + n
            if sending is not None:
                self._to_send += sending
            elif label is not None:
                self._to_send += n * operations(label)
        self._emit(force=False)

    def answered(self, settled: int) -> None:
        """Customer.io answered a request (accepted or refused): ``settled`` operations of those decided are
        now settled (0 for a refused request that is split and sent again in parts). Called once per
        request, after its answer, from the sender threads."""
        with self._lock:
            self._requests += 1
            self._sent += settled

    def fail(self, n: int = 1) -> None:
        with self._lock:
            self._failed += n
        self._emit(force=False)

    # ------------------------------------------------------------------ reads
    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def failed(self) -> int:
        with self._lock:
            return self._failed

    @property
    def sending(self) -> tuple[int, int, int]:
        """Of the current phase: operations decided that go out, operations and requests answered."""
        with self._lock:
            return self._to_send, self._sent, self._requests

    # ------------------------------------------------------------------ internals
    def _snapshot_locked(self, now: float) -> Progress:
        self._samples.append((now, self._done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= _RATE_WINDOW_S:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        elapsed = now - t0
        rate = (self._done - d0) / elapsed if elapsed > 0 else 0.0
        eta = estimate_eta(
            EtaInput(
                phase=self._phase,
                done=self._done,
                total=self._total,
                expected=self._expected,
                in_phase_s=now - self._phase_started,
                read_rate=rate,
                to_send=self._to_send,
                sent=self._sent,
                requests=self._requests,
                rate_limit=self._rate_limit,
                max_per_request=self._max_per_request,
            )
        )
        return Progress(
            phase=self._phase,
            done=self._done,
            total=self._total,
            rate=rate,
            eta_s=eta.seconds,
            counts=MappingProxyType(dict(self._counts)),
            failed=self._failed,
            message=self._message,
            eta=eta,
            requests=self._requests,
            expected=self._expected,
        )

    def _emit(self, *, force: bool) -> None:
        if self._callback is None:
            return
        with self._lock:
            now = self._clock()
            if not force and now - self._last_emit < self._min_interval:
                return
            self._last_emit = now
            snap = self._snapshot_locked(now)
        # Outside the lock: a slow callback must not block the sender threads' bookkeeping. A failing
        # callback (a UI bug) must not stop the sync either.
        try:
            self._callback(snap)
        except Exception:
            log.exception("progress callback failed")
