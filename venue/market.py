"""The market that drives the books: a seeded synthetic price path, and the candles it leaves.

Pure: `step()` advances one tick and `record(now_ms)` writes the candles; nothing here reads a
clock. Same seed, same calls, same prices and volumes. Replayed candles and imported L2
snapshots drive the books behind the same shape.

The synthetic market is meant to look like a real coin to whatever reads its candles (evolution
searches them on `make run`): one volatility per tick for the live path and the history before
it (the default is about 0.7 % an hour, BTC's usual), and volume traded by the rest of the market
with a daily cycle, busiest at the US open, larger when the price moves.
"""

from __future__ import annotations

import calendar
import json
import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from venue.config import SimConfig
from venue.wire import fmt

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Background activity of a liquid perpetual (the same for every coin, in USD): traded per hour
# on average, a daily cycle peaking at BUSIEST_HOUR_UTC (volume there is (1 + s) / (1 - s) times
# the quietest hour's, about 2.6x for s = 0.45), and the usual size of one trade.
HOURLY_NOTIONAL_USD = 40_000_000.0
DAILY_SWING = 0.45
BUSIEST_HOUR_UTC = 15
USD_PER_TRADE = 2_500.0
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

    def update(self, coin: str, px: Decimal, t_ms: int, volume: Decimal = Decimal(0), trades: int = 0,
               intervals: tuple[str, ...] | None = None) -> None:
        for interval in INTERVALS if intervals is None else intervals:
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


Ladder = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]  # (bids, asks) of (px, sz)
# A ladder's levels may also carry their order count: (px, sz, n), as l2Book shows it.


class Market:
    """What drives the books: a fair (oracle and mark) price per coin, moved one step at a time,
    and optionally the resting liquidity itself (imported L2 snapshots)."""

    # A market that follows another venue (venue.mirror) pays that venue's funding rows
    # instead of the exchange's own hourly formula.
    funding_from_source = False

    def __init__(self, config: SimConfig) -> None:
        self.fair: dict[str, Decimal] = {c.name: Decimal(c.start_px) for c in config.coins}
        self.frozen = False
        self.candles = CandleStore(config.max_candles)

    def step(self) -> dict[str, Decimal]:
        return dict(self.fair)

    def record(self, now_ms: int) -> None:
        """Write the current prices into the candles (the engine calls this after every tick)."""
        for coin, px in self.fair.items():
            self.candles.update(coin, px, now_ms)

    def jump(self, coin: str, px: Decimal) -> None:
        self.fair[coin] = px

    def ladder(self, coin: str) -> Ladder | None:
        """Liquidity to show for `coin` instead of the synthetic ladder (None: synthetic)."""
        return None

    def needs_requote(self, coin: str) -> bool:
        """Whether `coin`'s liquidity is replaced at this tick (a mirror: only after a new book,
        so what an order took stays taken until then)."""
        return True

    def halt_reason(self, coin: str) -> str | None:
        """Why new orders on `coin` are refused now (a mirror whose source went stale), or None."""
        return None

    def asset_ctx(self, coin: str) -> dict:
        """Asset-context fields that replace the exchange's own (a mirror: the source's)."""
        return {}


def make_market(config: SimConfig, start_ms: int) -> Market:
    """The market named by `config.market`: synthetic | frozen | candles:PATH | l2:PATH
    (mirror:URL is venue.mirror.MirrorMarket, built by the engine)."""
    spec = config.market
    if spec in ("synthetic", "frozen"):
        return SyntheticMarket(config, start_ms)
    kind, _, path = spec.partition(":")
    if kind == "candles" and path:
        return CandleReplay(config, _read_json_records(path))
    if kind == "l2" and path:
        return L2Replay(config, _read_json_records(path))
    raise ValueError(f"unknown market {spec!r}: use synthetic, frozen, mirror:URL, "
                     "candles:PATH or l2:PATH")


class SyntheticMarket(Market):
    """A geometric random walk per coin (per-step sd = `volatility`, one step every `tick_ms`),
    seeded, with the volume the rest of the market trades (see `activity`)."""

    def __init__(self, config: SimConfig, start_ms: int) -> None:
        super().__init__(config)
        self.rng = random.Random(config.seed)
        self.volume_rng = random.Random(f"{config.seed}-volume")
        self.seed = config.seed
        self.sigma = float(config.volatility)
        self.tick_ms = config.tick_ms
        self.frozen = config.market == "frozen"
        self.recorded_ms = start_ms
        self.recorded_px = dict(self.fair)
        self._backfill(config.history_minutes, config.history_hours, start_ms)

    def sigma_over(self, span_ms: int) -> float:
        """The walk's standard deviation of log price over `span_ms` (the live path's)."""
        return self.sigma * math.sqrt(span_ms / self.tick_ms)

    def _backfill(self, minutes: int, hours: int, end_ms: int) -> None:
        """History before the start, one sample a minute, ending at today's start price; before
        that, `hours` of samples every 15 minutes for the hourly and longer candles only (a
        minute series with holes would be worse than none). Both move as the live path does.
        The older part has its own random streams, so the minute history and the live path do
        not depend on `hours`."""
        minutes = max(0, minutes)
        paths: dict[str, list[tuple[Decimal, float]]] = {}
        sigma = self.sigma_over(MINUTE)
        for coin, px in self.fair.items():
            paths[coin] = _walk_back(float(px), minutes, sigma, self.rng)[::-1] + [(px, 0.0)]
        if hours > 0:
            self._deep_backfill(hours, end_ms - minutes * MINUTE, paths)
        if minutes <= 0:
            return
        for i in range(minutes + 1):
            t = end_ms - (minutes - i) * MINUTE
            for coin, path in paths.items():
                px, z = path[i]
                if i < minutes:  # the last sample is now: the live path trades from here
                    volume, trades = activity(px, t, MINUTE, z, self.volume_rng)
                else:
                    volume, trades = Decimal(0), 0
                self.candles.update(coin, px, t, volume, trades)

    def _deep_backfill(self, hours: int, end_ms: int,
                       first: dict[str, list[tuple[Decimal, float]]]) -> None:
        step = 15 * MINUTE
        long_intervals = tuple(i for i, span in INTERVALS.items() if span == 0 or span >= HOUR)
        rng = random.Random(f"{self.seed}-deep-history")
        volume_rng = random.Random(f"{self.seed}-deep-volume")
        sigma = self.sigma_over(step)
        samples = hours * 4
        for coin, path in first.items():
            walk = _walk_back(float(path[0][0]), samples, sigma, rng)[::-1]
            for i, (px, z) in enumerate(walk):
                t = end_ms - (samples - i) * step
                volume, trades = activity(px, t, step, z, volume_rng)
                self.candles.update(coin, px, t, volume, trades, intervals=long_intervals)

    def step(self) -> dict[str, Decimal]:
        if not self.frozen:
            for coin, px in self.fair.items():
                x = float(px) * math.exp(self.sigma * self.rng.gauss(0.0, 1.0))
                self.fair[coin] = _round_sig(x)
        return dict(self.fair)

    def record(self, now_ms: int) -> None:
        """The candles at `now_ms`, with the volume traded since the last record (none while
        frozen: a frozen market is a test's, moved only by hand)."""
        span = now_ms - self.recorded_ms
        for coin, px in self.fair.items():
            volume, trades = Decimal(0), 0
            if not self.frozen and span > 0:
                move = abs(math.log(float(px) / float(self.recorded_px[coin])))
                z = min(10.0, move / max(self.sigma_over(span), 1e-12))  # a jump: busy, not absurd
                volume, trades = activity(px, now_ms, span, z, self.volume_rng)
            self.recorded_px[coin] = px
            self.candles.update(coin, px, now_ms, volume, trades)
        self.recorded_ms = max(self.recorded_ms, now_ms)



class CandleReplay(Market):
    """Stored candles replayed: each step moves every coin to its next candle's close.

    Records are Hyperliquid candle objects (`{"t","s","o","h","l","c","v",...}`); coins absent from
    the file keep their start price; at the end of the file prices hold.
    """

    def __init__(self, config: SimConfig, records: list[dict]) -> None:
        super().__init__(config)
        self.paths: dict[str, list[Decimal]] = {}
        for rec in sorted(records, key=lambda r: int(r["t"])):
            coin = str(rec["s"])
            if coin in self.fair:
                self.paths.setdefault(coin, []).append(Decimal(str(rec["c"])))
        self.cursor = 0
        for coin, path in self.paths.items():
            self.fair[coin] = path[0]

    def step(self) -> dict[str, Decimal]:
        if not self.frozen:
            self.cursor += 1
            for coin, path in self.paths.items():
                self.fair[coin] = path[min(self.cursor, len(path) - 1)]
        return dict(self.fair)


class L2Replay(Market):
    """Imported L2 snapshots replayed: each step shows every coin's next snapshot as the book.

    Records are l2Book data (`{"coin","time","levels"}`) or lines of Hyperliquid's S3 archive
    (`{"time", "raw": {"channel": "l2Book", "data": {...}}}`), uncompressed. The fair price is the
    snapshot's mid; after a jump the snapshot is shifted to centre on the jumped price.
    """

    def __init__(self, config: SimConfig, records: list[dict]) -> None:
        super().__init__(config)
        self.snapshots: dict[str, list[Ladder]] = {}
        for rec in records:
            data = rec.get("raw", {}).get("data", rec) if isinstance(rec.get("raw"), dict) else rec
            coin = str(data["coin"])
            if coin not in self.fair:
                continue
            bids, asks = data["levels"]
            ladder: Ladder = (
                [(Decimal(str(l["px"])), Decimal(str(l["sz"]))) for l in bids],
                [(Decimal(str(l["px"])), Decimal(str(l["sz"]))) for l in asks],
            )
            self.snapshots.setdefault(coin, []).append(ladder)
        self.cursor = 0
        self.shift: dict[str, Decimal] = {}
        for coin in self.snapshots:
            self.fair[coin] = self._mid(coin)

    def _current(self, coin: str) -> Ladder:
        snaps = self.snapshots[coin]
        return snaps[min(self.cursor, len(snaps) - 1)]

    def _mid(self, coin: str) -> Decimal:
        bids, asks = self._current(coin)
        if bids and asks:
            return (bids[0][0] + asks[0][0]) / 2
        return self.fair[coin]

    def step(self) -> dict[str, Decimal]:
        if not self.frozen:
            self.cursor += 1
            for coin in self.snapshots:
                self.fair[coin] = self._mid(coin) + self.shift.get(coin, Decimal(0))
        return dict(self.fair)

    def jump(self, coin: str, px: Decimal) -> None:
        if coin in self.snapshots:
            self.shift[coin] = px - self._mid(coin)
        self.fair[coin] = px

    def ladder(self, coin: str) -> Ladder | None:
        if coin not in self.snapshots:
            return None
        shift = self.shift.get(coin, Decimal(0))
        bids, asks = self._current(coin)
        return [(px + shift, sz) for px, sz in bids], [(px + shift, sz) for px, sz in asks]


def _read_json_records(path: str) -> list[dict]:
    """A JSON array, or JSON lines, of objects."""
    text = Path(path).read_text()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return list(json.loads(stripped))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _walk_back(x: float, steps: int, sigma: float,
               rng: random.Random) -> list[tuple[Decimal, float]]:
    """A geometric random walk run backwards from x: the `steps` prices before it, newest
    first (x itself excluded), each with the size of the step that led from it, in standard
    deviations (|z|, for the volume)."""
    out = []
    for _ in range(steps):
        z = rng.gauss(0.0, 1.0)
        x *= math.exp(-sigma * z)
        out.append((_round_sig(x), abs(z)))
    return out


def activity(px: Decimal, t_ms: int, span_ms: int, move: float,
             rng: random.Random) -> tuple[Decimal, int]:
    """(volume in coin, trades) the rest of the market trades over `span_ms` at price `px`:
    HOURLY_NOTIONAL_USD on average, times the daily cycle at `t_ms` (UTC), times 0.6 + 0.5
    `move` (the price move over the span in standard deviations, |z|, 0.8 on average: volume
    rises with volatility), times lognormal noise of mean 1."""
    hour = (t_ms % DAY) / HOUR
    cycle = 1.0 + DAILY_SWING * math.cos(2 * math.pi * (hour - BUSIEST_HOUR_UTC) / 24)
    usd = (HOURLY_NOTIONAL_USD * span_ms / HOUR * cycle * (0.6 + 0.5 * move)
           * rng.lognormvariate(-0.045, 0.3))
    return _round_sig(usd / float(px)), max(1, round(usd / USD_PER_TRADE))


def _round_sig(x: float) -> Decimal:
    """Eight significant figures, exactly representable as a Decimal."""
    return Decimal(f"{x:.8g}")
