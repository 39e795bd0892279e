"""Closing candles exactly once. Pure: pushes, timers and backfills come in with `now_ms`.

Hyperliquid pushes the open candle repeatedly; a candle is closed when one with a later open
time arrives, or when a grace period after its end passes with no newer push. After a reconnect,
REST backfill supplies the closed candles missed meanwhile. Whatever the path, each open time is
emitted once, in order, and never before it has ended.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    """One candle as Hyperliquid describes it. t/T: open/close time in ms (T = t + interval - 1)."""

    t: int
    T: int
    o: float
    h: float
    l: float
    c: float
    v: float
    n: int = 0

    @classmethod
    def from_wire(cls, d: dict) -> "Bar":
        return cls(
            t=int(d["t"]), T=int(d["T"]), o=float(d["o"]), h=float(d["h"]), l=float(d["l"]),
            c=float(d["c"]), v=float(d["v"]), n=int(d.get("n", 0)),
        )


@dataclass
class CandleCloser:
    """Per (coin, interval). `last_closed`: open time of the last candle emitted (or stored)."""

    interval_ms: int
    grace_ms: int = 5_000
    last_closed: int | None = None
    current: Bar | None = None

    def _emit(self, bar: Bar) -> list[Bar]:
        if self.last_closed is not None and bar.t <= self.last_closed:
            return []  # already emitted: exactly once
        self.last_closed = bar.t
        return [bar]

    def on_push(self, bar: Bar, now_ms: int) -> list[Bar]:
        """A websocket push of the open candle (or a late one). Returns candles now closed."""
        if self.last_closed is not None and bar.t <= self.last_closed:
            return []  # a late push for a candle already closed
        cur = self.current
        if cur is None or bar.t == cur.t:
            self.current = bar
            return []
        if bar.t < cur.t:
            return []  # out of order: older than the open one
        self.current = bar
        return self._emit(cur)

    def on_timer(self, now_ms: int) -> list[Bar]:
        """Close the open candle once its end plus the grace period has passed."""
        cur = self.current
        if cur is not None and now_ms > cur.T + self.grace_ms:
            self.current = None
            return self._emit(cur)
        return []

    def on_backfill(self, bars: list[Bar], now_ms: int) -> list[Bar]:
        """Candles from REST after a gap: emit the closed ones not yet emitted, in order.

        A candle counts as closed when a newer one exists in the reply or its end has passed
        `now_ms`: the venue's clock need not agree with ours. The newest one, if not ended,
        becomes the current (open) candle instead."""
        out: list[Bar] = []
        ordered = sorted(bars, key=lambda b: b.t)
        for i, bar in enumerate(ordered):
            newest = i == len(ordered) - 1
            if newest and bar.T >= now_ms:  # still open
                if self.current is None or bar.t >= self.current.t:
                    self.current = bar
                continue
            if self.current is not None and self.current.t == bar.t:
                self.current = None  # REST's closed version replaces the pushed partial one
            out += self._emit(bar)
        # a pushed candle older than everything emitted is stale now
        if self.current is not None and self.last_closed is not None and self.current.t <= self.last_closed:
            self.current = None
        return out

    def skips(self, bar: Bar) -> bool:
        """Whether `bar` is later than the candle after the newest one seen (open or closed):
        the pushes jumped over candles, which only REST can supply now."""
        ref = self.current.t if self.current is not None else self.last_closed
        return ref is not None and bar.t > ref + self.interval_ms

    def backfill_from(self) -> int | None:
        """Open time from which REST should be asked for missing candles (None: no history)."""
        return None if self.last_closed is None else self.last_closed + self.interval_ms

