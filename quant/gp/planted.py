"""A seeded planted-edge market: a random walk whose next-bar drift follows a rule the primitive
catalogue can express, so a search that works must find it and keep it out of sample.

The quant core's `synthetic` generator has no planted-edge mode yet (that belongs to the
market-data work); this one is evolution's own proof market. Rule: the drift of bar t+1 is
`+edge·σ` while close_t is above its `window`-bar SMA and `−edge·σ` while below. The oracle
strategy, `trend-filter` with that window, harvests it (its Sharpe on fresh data of the same
process is `oracle_sharpe`).
"""

from __future__ import annotations

import math

import numpy as np

from quant.data import SECONDS_PER_YEAR, Dataset, interval_seconds
from quant.dsl import parse_strategy
from quant.genome import Strategy


def planted_edge(seed: int = 0, bars: int = 6000, interval: str = "1h", edge: float = 0.05,
                 window: int = 48, annual_vol: float = 0.6,
                 start_ms: int = 1_704_067_200_000) -> Dataset:
    """`bars` bars whose drift is ±edge·σ per bar by the sign of close − SMA(close, window)."""
    rng = np.random.default_rng(seed)
    sec = interval_seconds(interval)
    sigma = annual_vol * math.sqrt(sec / SECONDS_PER_YEAR)
    noise = rng.standard_normal(bars) * sigma
    log_close = np.empty(bars)
    level = math.log(30_000.0)
    ring = np.zeros(window)
    total = 0.0
    state = 0.0
    for t in range(bars):
        level += state * edge * sigma + noise[t]
        log_close[t] = level
        c = math.exp(level)
        total += c - ring[t % window]
        ring[t % window] = c
        if t + 1 >= window:
            state = 1.0 if c > total / window else -1.0
    close = np.exp(log_close)
    open_ = np.empty(bars)
    open_[0] = 30_000.0
    open_[1:] = close[:-1]
    wick = np.abs(rng.standard_normal((2, bars))) * sigma * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(3.0, 0.5, bars)
    time_ms = start_ms + np.arange(bars, dtype=np.int64) * sec * 1000
    return Dataset(time_ms, open_, high, low, close, volume, interval, None,
                   f"planted:seed={seed},bars={bars},edge={edge},window={window}")


def oracle_strategy(window: int = 48) -> Strategy:
    sma = f"(sma close {int(window)})"
    return parse_strategy(f"""(strategy
      (long-entry (> close {sma})) (long-exit (< close {sma}))
      (short-entry (< close {sma})) (short-exit (> close {sma})))""")


def oracle_sharpe(seed: int = 10_000, bars: int = 20_000, edge: float = 0.05,
                  window: int = 48) -> float:
    """Annualised Sharpe of the oracle after fees, slippage and funding, on fresh data."""
    from quant.backtest import evaluate

    ds = planted_edge(seed, bars, edge=edge, window=window)
    return float(evaluate(oracle_strategy(window), ds).metrics["sharpe"])


def load_market(spec: str, data_dir="data") -> Dataset:
    """`quant.data.load_dataset`, plus `planted[:seed=S,bars=N,edge=E,window=W]`."""
    from quant.data import DataSpecError, load_dataset

    kind, _, rest = spec.partition(":")
    if kind != "planted":
        return load_dataset(spec, data_dir)
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, eq, val = part.partition("=")
        if not eq or key not in ("seed", "bars", "edge", "window"):
            raise DataSpecError(f"{spec}: bad option {part!r}; use "
                                f"planted:seed=S,bars=N,edge=E,window=W")
        opts[key] = val
    try:
        return planted_edge(int(opts.get("seed", 0)), int(opts.get("bars", 6000)),
                            edge=float(opts.get("edge", 0.05)),
                            window=int(opts.get("window", 48)))
    except ValueError:
        raise DataSpecError(f"{spec}: seed, bars, window must be integers and edge a number"
                            ) from None
