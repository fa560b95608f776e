"""Notice that the computer slept, so the receiver and its tunnel can be brought back afterwards.

While a laptop sleeps nothing runs; on waking, the wall clock has jumped ahead while the monotonic
clock (which Linux and macOS stop during sleep) has not. Windows' monotonic clock may keep counting
through sleep, so a long gap between two checks that are meant to come every second counts too.
The clocks are injected so tests simulate a night's sleep without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Longer than any pause a busy but awake machine makes between two once-a-second checks.
WAKE_THRESHOLD = 30.0


class WakeDetector:
    """``check()`` once in a while (the Webhook page does every second); it says when a sleep ended."""

    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        threshold: float = WAKE_THRESHOLD,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.threshold = threshold
        self._last = (wall(), monotonic())

    def check(self) -> float | None:
        """Seconds the computer was away since the last check if it slept, else None."""
        wall, mono = self._wall(), self._monotonic()
        last_wall, last_mono = self._last
        self._last = (wall, mono)
        wall_gap, mono_gap = wall - last_wall, mono - last_mono
        if wall_gap - mono_gap > self.threshold:  # the wall clock moved on while the monotonic one stood
            return wall_gap
        if mono_gap > self.threshold:  # both moved, but no check ran for that long: we were suspended
            return mono_gap
        return None

    def reset(self) -> None:
        """Start measuring from now (after a pause on purpose, e.g. the checks were switched off)."""
        self._last = (self._wall(), self._monotonic())


__all__ = ["WAKE_THRESHOLD", "WakeDetector"]
