"""A coin/interval's candle history kept current from `md.candle`: bounded, ordered, one bar per
open time."""

from __future__ import annotations

import numpy as np

from quant.data import Dataset
from schemas import Candle

_COLS = ("time_ms", "open", "high", "low", "close", "volume")


class CandleHistory:
    def __init__(self, coin: str, interval: str, max_bars: int):
        self.coin, self.interval, self.max_bars = coin, interval, max_bars
        self._cols = {c: np.empty(0, np.int64 if c == "time_ms" else np.float64) for c in _COLS}
        self.appended = 0  # bars added since the last take()

    def __len__(self) -> int:
        return int(self._cols["time_ms"].shape[0])

    def load(self, ds: Dataset) -> None:
        """Start from stored history (the candle store), keeping the last max_bars bars."""
        keep = slice(max(0, len(ds) - self.max_bars), None)
        for c in _COLS:
            self._cols[c] = np.ascontiguousarray(getattr(ds, c)[keep])

    def add(self, candle: Candle) -> bool:
        """Append a closed candle; a bar already held is replaced, an older one ignored."""
        if not candle.closed:
            return False
        t = candle.open_time // 1_000_000
        times = self._cols["time_ms"]
        row = {"time_ms": t, "open": candle.open, "high": candle.high, "low": candle.low,
               "close": candle.close, "volume": candle.volume}
        if times.shape[0] and t <= times[-1]:
            if t == times[-1]:
                for c in _COLS:
                    self._cols[c][-1] = row[c]
                return True
            return False
        for c in _COLS:
            arr = np.append(self._cols[c], row[c])
            self._cols[c] = arr[-self.max_bars:] if arr.shape[0] > self.max_bars else arr
        self.appended += 1
        return True

    def dataset(self) -> Dataset:
        self.appended = 0
        c = self._cols
        return Dataset(c["time_ms"].copy(), c["open"].copy(), c["high"].copy(), c["low"].copy(),
                       c["close"].copy(), c["volume"].copy(), self.interval, None,
                       f"store:{self.coin}/{self.interval}")
