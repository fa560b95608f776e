"""Interpreter settings for the duration of a users pass (restored afterwards).

- Fewer cyclic garbage collections. Every user read is a few dozen fresh dicts and lists, freed by
  reference counting the moment the user is planned; none of them form cycles. At its default
  threshold (700 new containers) the collector still walks the young generation about once per ten
  users: some 15% of a sync's time. The threshold goes up to :data:`PASS_THRESHOLD`; garbage cycles
  are still collected, in larger steps.
- A shorter GIL switch interval. The planning thread gives the GIL up at every ledger query and then
  waits for the reading thread to hand it back, up to the interval (5 ms by default) each time:
  with several queries per page that was most of the time spent in lookups. 1 ms keeps that wait
  short (and the GUI thread's too) for a negligible cost in extra switches.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# New container objects between young-generation collections during a pass (default: 700).
PASS_THRESHOLD = 50_000
# Seconds a thread may hold the GIL while another waits for it, during a pass (default: 0.005).
PASS_SWITCH_INTERVAL = 0.001

_lock = threading.Lock()
_active = 0
_saved_threshold: tuple[int, int, int] = gc.get_threshold()
_saved_interval = sys.getswitchinterval()


@contextmanager
def tuned_for_pass() -> Iterator[None]:
    """Apply the pass settings while inside (nests, and concurrent runs share them)."""
    global _active, _saved_threshold, _saved_interval
    with _lock:
        if _active == 0:
            _saved_threshold = gc.get_threshold()
            _saved_interval = sys.getswitchinterval()
            if _saved_threshold[0] and _saved_threshold[0] < PASS_THRESHOLD:  # 0: collection is off, leave it
                gc.set_threshold(PASS_THRESHOLD, *_saved_threshold[1:])
            sys.setswitchinterval(min(_saved_interval, PASS_SWITCH_INTERVAL))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved_threshold)
                sys.setswitchinterval(_saved_interval)


__all__ = ["PASS_SWITCH_INTERVAL", "PASS_THRESHOLD", "tuned_for_pass"]
