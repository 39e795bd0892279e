"""Regime segments of a history, so fitness can be measured per regime and specialists emerge.

Labels come from the bars themselves (the regime agent's live states are for trading, not for
scoring history): `high_vol` when the rolling volatility is in the top fifth of the history,
else `trend_up` / `trend_down` when close is more than `band` rolling standard deviations of
price above / below its moving average, else `range`. Labels only segment returns for scoring;
no signal ever reads them, so they cannot leak the future into a strategy.
"""

from __future__ import annotations

import math

import numpy as np

from quant import nb_indicators as nb
from quant.data import Dataset

REGIMES: tuple[str, ...] = ("trend_up", "trend_down", "range", "high_vol")
TREND_UP, TREND_DOWN, RANGE, HIGH_VOL = range(4)


def regime_labels(ds: Dataset, trend_window: int = 100, vol_window: int = 24,
                  band: float = 0.5, vol_quantile: float = 0.8) -> np.ndarray:
    """One int8 label per bar (index into REGIMES); bars before the windows fill are `range`."""
    n = len(ds)
    labels = np.full(n, RANGE, np.int8)
    if n < max(trend_window, vol_window) + 2:
        return labels
    close = np.ascontiguousarray(ds.close, dtype=np.float64)
    ma = nb.sma(close, trend_window)
    z = nb.zscore(close, trend_window)
    rv = nb.realized_vol(close, vol_window)
    with np.errstate(invalid="ignore"):
        labels[np.isfinite(ma) & (z > band)] = TREND_UP
        labels[np.isfinite(ma) & (z < -band)] = TREND_DOWN
        finite = np.isfinite(rv)
        if finite.any():
            cut = float(np.quantile(rv[finite], vol_quantile))
            labels[finite & (rv > cut)] = HIGH_VOL
    # a bar's return is scored under the regime known at the previous close, so a big move
    # does not label its own bar
    labels[1:] = labels[:-1].copy()
    labels[0] = RANGE
    return labels


def regime_sharpe(returns: np.ndarray, labels: np.ndarray, bars_per_year: float,
                  min_bars: int = 50) -> tuple[float, ...]:
    """Annualised Sharpe of the per-bar returns inside each regime (0 where a regime has fewer
    than `min_bars` bars or no variance), in REGIMES order."""
    out = []
    for k in range(len(REGIMES)):
        r = returns[labels == k]
        if r.shape[0] < min_bars:
            out.append(0.0)
            continue
        sd = float(r.std(ddof=1))
        out.append(float(r.mean()) / sd * math.sqrt(bars_per_year) if sd > 0 else 0.0)
    return tuple(out)


def affinity(regime_sharpes: tuple[float, ...] | list[float]) -> dict[str, float]:
    """Regime affinity of a strategy: the positive part of each regime's Sharpe, normalised to
    sum to 1 (empty when it makes money in no regime)."""
    pos = [max(0.0, float(x)) for x in regime_sharpes]
    total = sum(pos)
    if total <= 0:
        return {}
    return {name: round(x / total, 4) for name, x in zip(REGIMES, pos) if x > 0}
