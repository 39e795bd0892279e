"""Datasets for backtests: OHLCV (+ optional funding) as float64 numpy arrays and a bar interval.

Loading one from a `--data` spec (synthetic, planted, csv, store) is marketdata.datasets'
`load_dataset`: it reads files and generates markets with quant.synth, both above this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SECONDS_PER_YEAR = 365 * 86400  # crypto trades 24/7


class DataSpecError(ValueError):
    """A `--data` spec that cannot be loaded; the message names the spec and the fix."""


def interval_seconds(interval: str) -> int:
    m = re.fullmatch(r"(\d+)([smhdw])", interval.strip())
    if not m:
        raise DataSpecError(f"bar interval {interval!r} not understood; use e.g. 1m, 15m, 1h, 1d")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def interval_name(seconds: int) -> str:
    """The bar interval of `seconds` in its largest whole unit: 3600 -> "1h", 5400 -> "90m"."""
    return next((f"{seconds // u}{k}" for k, u in sorted(_UNIT_S.items(), key=lambda kv: -kv[1])
                 if seconds % u == 0), f"{seconds}s")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Bars in time order. Prices float64; `time_ms` is each bar's open time (ms, UTC).

    `funding` is the funding rate accrued over each bar (fraction of notional, positive = longs
    pay), or None when the source has none; the simulator uses its constant hourly rate for
    None and for NaN bars (no observation).
    """

    time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    interval: str = "1h"
    funding: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        n = self.close.shape[0]
        for col in ("time_ms", "open", "high", "low", "close", "volume"):
            if getattr(self, col).shape != (n,):
                raise ValueError(f"dataset column {col} has shape {getattr(self, col).shape}, "
                                 f"expected ({n},)")
        interval_seconds(self.interval)

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def bar_seconds(self) -> int:
        return interval_seconds(self.interval)

    @property
    def bars_per_year(self) -> float:
        return SECONDS_PER_YEAR / self.bar_seconds

    def slice(self, start: int = 0, stop: int | None = None) -> Dataset:
        """Bars [start, stop): a prefix of the data is how the look-ahead test cuts it."""
        sl = slice(start, stop)
        return Dataset(
            self.time_ms[sl], self.open[sl], self.high[sl], self.low[sl], self.close[sl],
            self.volume[sl], self.interval,
            None if self.funding is None else self.funding[sl], self.name,
        )


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def synthetic(seed: int = 0, bars: int = 5000, interval: str = "1h",
              annual_vol: float = 0.6, start_ms: int = 1_704_067_200_000) -> Dataset:
    """A seeded random-walk market (no edge): log-normal closes, plausible highs/lows/volumes."""
    rng = np.random.default_rng(seed)
    sec = interval_seconds(interval)
    sigma = annual_vol * np.sqrt(sec / SECONDS_PER_YEAR)
    rets = rng.standard_normal(bars) * sigma
    close = 30_000.0 * np.exp(np.cumsum(rets))
    open_ = np.empty(bars)
    open_[0] = 30_000.0
    open_[1:] = close[:-1] * np.exp(rng.standard_normal(bars - 1) * sigma * 0.05)
    wick = np.abs(rng.standard_normal((2, bars))) * sigma * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(3.0, 0.5, bars) * (1.0 + 50.0 * np.abs(rets))
    time_ms = start_ms + np.arange(bars, dtype=np.int64) * sec * 1000
    return Dataset(time_ms, _f64(open_), _f64(high), _f64(low), _f64(close), _f64(volume),
                   interval, None, f"synthetic:seed={seed},bars={bars}")
