"""The market that drives the books: a seeded synthetic price path, and the candles it leaves.

Pure: `step()` advances one tick; nothing here reads a clock. Same seed, same calls, same prices.
The market-data issue will add replayed candles and imported L2 snapshots behind the same shape.
"""

from __future__ import annotations

import calendar
import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from venue.config import SimConfig
from venue.wire import fmt

MINUTE = 60_000
INTERVALS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": 60 * MINUTE,
    "2h": 120 * MINUTE,
    "4h": 240 * MINUTE,
    "8h": 480 * MINUTE,
    "12h": 720 * MINUTE,
    "1d": 1440 * MINUTE,
    "3d": 3 * 1440 * MINUTE,
    "1w": 7 * 1440 * MINUTE,
    "1M": 0,  # calendar month
}


def candle_bounds(interval: str, t_ms: int) -> tuple[int, int]:
    """[open, close] ms of the candle of `interval` that contains `t_ms` (close is inclusive)."""
    span = INTERVALS[interval]
    if span:
        start = t_ms - t_ms % span
        return start, start + span - 1
    when = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
    start_dt = datetime(when.year, when.month, 1, tzinfo=timezone.utc)
    days = calendar.monthrange(when.year, when.month)[1]
    start = int(start_dt.timestamp() * 1000)
    return start, start + days * 1440 * MINUTE - 1


@dataclass(slots=True)
class Candle:
    t: int
    T: int
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 - Hyperliquid's field name
    c: Decimal
    v: Decimal
    n: int

    def wire(self, coin: str, interval: str) -> dict:
        return {
            "t": self.t,
            "T": self.T,
            "s": coin,
            "i": interval,
            "o": fmt(self.o),
            "c": fmt(self.c),
            "h": fmt(self.h),
            "l": fmt(self.l),
            "v": fmt(self.v),
            "n": self.n,
        }


class CandleStore:
    """The latest `limit` candles per coin and interval, as Hyperliquid keeps them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.series: dict[tuple[str, str], OrderedDict[int, Candle]] = {}
        self.touched: set[tuple[str, str]] = set()

    def update(self, coin: str, px: Decimal, t_ms: int, volume: Decimal = Decimal(0), trades: int = 0) -> None:
        for interval in INTERVALS:
            key = (coin, interval)
            series = self.series.setdefault(key, OrderedDict())
            start, end = candle_bounds(interval, t_ms)
            candle = series.get(start)
            if candle is None:
                candle = Candle(t=start, T=end, o=px, h=px, l=px, c=px, v=Decimal(0), n=0)
                series[start] = candle
                while len(series) > self.limit:
                    series.popitem(last=False)
            else:
                candle.h = max(candle.h, px)
                candle.l = min(candle.l, px)
                candle.c = px
            candle.v += volume
            candle.n += trades
            self.touched.add(key)

    def snapshot(self, coin: str, interval: str, start: int, end: int) -> list[dict]:
        series = self.series.get((coin, interval), {})
        return [c.wire(coin, interval) for t, c in series.items() if start <= t <= end]

    def close_at(self, coin: str, t_ms: int) -> Decimal | None:
        """The 1m close at `t_ms`, or the oldest 1m open if `t_ms` is before the history."""
        series = self.series.get((coin, "1m"))
        if not series:
            return None
        start, _ = candle_bounds("1m", t_ms)
        candle = series.get(start)
        if candle is not None:
            return candle.c
        first = next(iter(series.values()))
        return first.o if t_ms < first.t else None

    def latest(self, coin: str, interval: str) -> dict | None:
        series = self.series.get((coin, interval))
        if not series:
            return None
        return next(reversed(series.values())).wire(coin, interval)


class SyntheticMarket:
    """A geometric random walk per coin (per-step sd = `volatility`), seeded."""

    def __init__(self, config: SimConfig, start_ms: int) -> None:
        self.rng = random.Random(config.seed)
        self.sigma = float(config.volatility)
        self.fair: dict[str, Decimal] = {c.name: Decimal(c.start_px) for c in config.coins}
        self.frozen = config.market == "frozen"
        self.candles = CandleStore(config.max_candles)
        self._backfill(config.history_minutes, start_ms)

    def _backfill(self, minutes: int, end_ms: int) -> None:
        """History before the start, one sample a minute, ending at today's start price."""
        if minutes <= 0:
            return
        paths: dict[str, list[Decimal]] = {}
        for coin, px in self.fair.items():
            rev = [px]
            x = float(px)
            for _ in range(minutes):
                x *= math.exp(-self.sigma * 8 * self.rng.gauss(0.0, 1.0))
                rev.append(_round_sig(x))
            paths[coin] = list(reversed(rev))
        for i in range(minutes + 1):
            t = end_ms - (minutes - i) * MINUTE
            for coin, path in paths.items():
                self.candles.update(coin, path[i], t)

    def step(self) -> dict[str, Decimal]:
        if not self.frozen:
            for coin, px in self.fair.items():
                x = float(px) * math.exp(self.sigma * self.rng.gauss(0.0, 1.0))
                self.fair[coin] = _round_sig(x)
        return dict(self.fair)

    def jump(self, coin: str, px: Decimal) -> None:
        self.fair[coin] = px


def _round_sig(x: float) -> Decimal:
    """Eight significant figures, exactly representable as a Decimal."""
    return Decimal(f"{x:.8g}")
