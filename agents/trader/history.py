"""One market's bars (coin and interval): the stored history the backtest reads, then every
closed candle as it comes, and the compiled signals of its strategies at the last bar.

Signals are compiled by quant.signals.compile_signals, the backtest's own entry point, over the
whole history held (from its first bar), so a decision equals the backtest's run on the same bars
(recursive indicators such as EMA included). The history starts at the first stored bar within
`history_bars` of the first live candle and keeps growing; when it is a tenth longer, the oldest
bars are dropped back to `history_bars` (an EMA forgets its start within a few times its window:
after 10,000 bars a 500-bar EMA's start weighs less than 1e-17 of its value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.trader.model import Bar, BarSignals
from marketdata.store import CandleStore
from quant.data import Dataset
from quant.genome import Strategy
from quant.signals import IndicatorCache, compile_signals

_COLS = ("time_ms", "open", "high", "low", "close", "volume")


@dataclass
class MarketHistory:
    coin: str
    interval: str
    history_bars: int = 20_000  # 0 = keep everything
    n: int = 0

    def __post_init__(self) -> None:
        self._cols = {c: np.empty(1024, dtype=np.int64 if c == "time_ms" else np.float64)
                      for c in _COLS}

    def __len__(self) -> int:
        return self.n

    @property
    def last_open_ms(self) -> int | None:
        return int(self._cols["time_ms"][self.n - 1]) if self.n else None

    def seed(self, stored: Dataset | None, before_ms: int) -> int:
        """Start from the stored bars that opened before `before_ms` (the first live candle),
        at most `history_bars` of them. Returns how many were taken."""
        if stored is None or len(stored) == 0:
            return 0
        stop = int(np.searchsorted(stored.time_ms, before_ms, side="left"))
        start = max(0, stop - self.history_bars) if self.history_bars else 0
        for c in _COLS:
            arr = getattr(stored, c)[start:stop]
            self._reserve(arr.shape[0])
            self._cols[c][:arr.shape[0]] = arr
        self.n = stop - start
        return self.n

    def _reserve(self, size: int) -> None:
        cap = self._cols["close"].shape[0]
        if size <= cap:
            return
        new = max(size, cap * 2)
        for c, arr in self._cols.items():
            grown = np.empty(new, dtype=arr.dtype)
            grown[:self.n] = arr[:self.n]
            self._cols[c] = grown

    def append(self, bar: Bar, volume: float) -> bool:
        """Add a closed bar; False (and nothing changes) when it is not after the last one."""
        last = self.last_open_ms
        if last is not None and bar.open_ms <= last:
            return False
        if self.history_bars and self.n >= self.history_bars + max(100, self.history_bars // 10):
            keep = self.history_bars
            for arr in self._cols.values():
                arr[:keep] = arr[self.n - keep:self.n]
            self.n = keep
        self._reserve(self.n + 1)
        for c, v in zip(_COLS, (bar.open_ms, bar.open, bar.high, bar.low, bar.close, volume)):
            self._cols[c][self.n] = v
        self.n += 1
        return True

    def dataset(self) -> Dataset:
        n = self.n
        c = self._cols
        return Dataset(c["time_ms"][:n], c["open"][:n], c["high"][:n], c["low"][:n],
                       c["close"][:n], c["volume"][:n], self.interval, None,
                       f"trader:{self.coin}/{self.interval}")

    def bar(self, i: int = -1) -> Bar:
        i = self.n + i if i < 0 else i
        c = self._cols
        return Bar(int(c["time_ms"][i]), float(c["open"][i]), float(c["high"][i]),
                   float(c["low"][i]), float(c["close"][i]))


def stored(data_dir, coin: str, interval: str, before_ms: int) -> Dataset | None:
    """The candle store's bars of this market that opened before `before_ms` (the files
    `store:COIN/INTERVAL` backtests read), or None when there are none."""
    table = CandleStore(data_dir).read(coin, interval, end=before_ms - 1)
    if table.num_rows == 0:
        return None
    col = {k: table.column(k).to_numpy() for k in ("t", "o", "h", "l", "c", "v")}
    t = col["t"].astype(np.int64)
    keep = np.r_[True, np.diff(t) != 0]  # one bar per open time, as the backtest's loader
    f = {k: np.ascontiguousarray(v[keep], dtype=np.float64) for k, v in col.items() if k != "t"}
    return Dataset(t[keep], f["o"], f["h"], f["l"], f["c"], f["v"], interval, None,
                   f"store:{coin}/{interval}")


def last_signals(ds: Dataset, strategies: dict[str, Strategy]) -> dict[str, BarSignals]:
    """Each strategy's compiled signals at the last bar of `ds` (one indicator cache shared by
    all of them, as the backtest's evaluator shares one across a population)."""
    if len(ds) == 0:
        return {}
    cache = IndicatorCache(ds)
    out = {}
    for sid, strategy in strategies.items():
        sig = compile_signals(strategy, cache)
        size = sig.size[-1] if sig.size.shape[0] > 1 else sig.size[0]
        out[sid] = BarSignals(bool(sig.long_entry[-1]), bool(sig.long_exit[-1]),
                              bool(sig.short_entry[-1]), bool(sig.short_exit[-1]), float(size))
    return out
