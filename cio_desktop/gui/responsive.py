"""Keep the window responsive while a sync runs in the same process.

Two process-wide settings are changed for the duration of a run and restored afterwards:

- Full (generation 2) garbage collections stop every thread, the GUI thread included, for as long as
  it takes to walk all live objects; mid-sync, with pages of users and batches in flight, that measured
  100-600 ms (bench/bench_gui.py). While a sync runs only the young generations are collected
  automatically: they catch the short-lived cycles and cost a few milliseconds.
- The interpreter's thread switch interval drops from 5 ms to 1 ms, so the GUI thread waits less for
  the GIL behind the engine's threads (p99 heartbeat gap 29 -> 20 ms in the same benchmark).
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_holders = 0
_saved: tuple[tuple[int, int, int], float] | None = None
# count[1] never reaches this, so generation 2 is not collected automatically.
_NEVER = 2**30
SWITCH_INTERVAL_S = 0.001


def hold() -> None:
    """Apply the sync-time settings (nested calls are counted)."""
    global _holders, _saved
    with _lock:
        _holders += 1
        if _holders == 1:
            _saved = (gc.get_threshold(), sys.getswitchinterval())
            gen0, gen1, _gen2 = _saved[0]
            gc.set_threshold(gen0, gen1, _NEVER)
            sys.setswitchinterval(SWITCH_INTERVAL_S)


def release() -> None:
    """Undo one :func:`hold`; the last one restores the previous settings."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _saved is not None:
            thresholds, interval = _saved
            gc.set_threshold(*thresholds)
            sys.setswitchinterval(interval)
            _saved = None


def held() -> bool:
    with _lock:
        return _holders > 0
