"""Clocks: logic takes `now` as an argument; agents read it from one of these.

The wall clock is real time; the replay clock follows `ClockTick` messages on `sys.clock`, so a
recorded or synthetic market can drive the organism faster than real time.
"""

from __future__ import annotations

import time


class WallClock:
    source = "wall"

    def now_ns(self) -> int:
        return time.time_ns()


class ReplayClock:
    """Time as told by the replay publisher. Never goes backwards; 0 until the first tick."""

    source = "replay"

    def __init__(self) -> None:
        self._now = 0

    def advance(self, now_ns: int) -> None:
        if now_ns > self._now:
            self._now = now_ns

    def now_ns(self) -> int:
        return self._now


Clock = WallClock | ReplayClock
