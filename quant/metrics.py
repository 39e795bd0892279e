"""Performance metrics of a backtest. Per-bar simple returns r; the market trades 24/7, so
annualisation uses √(bars per year) for Sharpe-type ratios (validation.md).

Conventions (units in the names where it matters):
- sharpe = mean(r)/std(r, ddof=1)·√bpy, risk-free rate 0; sortino uses the downside deviation
  √(mean(min(r, 0)²)) over all bars.
- max_drawdown is a positive fraction of the running peak of equity (initial cash included);
  max_drawdown_bars is the longest stretch of bars spent below a previous peak.
- skew and kurtosis are the population moment ratios; kurtosis is *raw* (3 for a normal), the
  form the probabilistic Sharpe ratio takes.
- sharpe_lo: Lo (2002) annualised Sharpe η(q)·SR with q = bars per year, autocorrelations beyond
  `lo_lags` taken as zero. psr: probability that the true per-bar Sharpe exceeds 0 (Bailey and
  López de Prado 2014).
- expectancy: mean trade return (net pnl / entry notional); turnover: traded notional / equity
  per year; exposure: share of bars ending with a position.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quant.sim import T_PNL, T_RET, BacktestResult


@njit(cache=True, error_model="numpy", nogil=True)
def return_stats_nb(r, equity, init_cash, lags):
    """One pass for the moments, one for drawdowns, `lags` for autocorrelations.

    Returns (mean, std ddof 1, downside deviation, skew, raw kurtosis, max drawdown,
    max drawdown duration in bars, autocorrelations rho[1..lags]).
    """
    n = r.shape[0]
    mean = 0.0
    down = 0.0
    for i in range(n):
        mean += r[i]
        if r[i] < 0:
            down += r[i] * r[i]
    mean /= n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(n):
        d = r[i] - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    std = math.sqrt(m2 / (n - 1)) if n > 1 else np.nan
    p2 = m2 / n
    skew = (m3 / n) / p2 ** 1.5 if p2 > 0 else np.nan
    kurt = (m4 / n) / (p2 * p2) if p2 > 0 else np.nan
    peak = init_cash
    mdd = 0.0
    dur = 0
    mdur = 0
    for i in range(n):
        e = equity[i]
        if e >= peak:
            peak = e
            dur = 0
        else:
            dur += 1
            if dur > mdur:
                mdur = dur
            dd = 1.0 - e / peak
            if dd > mdd:
                mdd = dd
    rho = np.zeros(lags)
    if m2 > 0:
        for k in range(1, min(lags, n - 1) + 1):
            rho[k - 1] = _lag_product_nb(r, mean, k) / m2
    return mean, std, math.sqrt(down / n), skew, kurt, mdd, mdur, rho


@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _lag_product_nb(r, mean, k):
    # Σ (r_i - mean)(r_{i-k} - mean); fastmath lets LLVM vectorise the reduction (the only
    # loop here that runs lags × bars times)
    acc = 0.0
    for i in range(k, r.shape[0]):
        acc += (r[i] - mean) * (r[i - k] - mean)
    return acc


def lo_eta(rho: np.ndarray, q: float) -> float:
    """Lo's η(q) = q / √(q + 2 Σ_{k=1}^{q-1} (q-k) ρ_k), ρ_k beyond len(rho) taken as 0."""
    k = np.arange(1, len(rho) + 1, dtype=np.float64)
    keep = k < q
    denom = q + 2.0 * float(np.sum((q - k[keep]) * rho[keep]))
    return q / math.sqrt(denom) if denom > 0 else math.nan


def probabilistic_sharpe(sr: float, t: int, skew: float, kurt: float, sr_star: float = 0.0) -> float:
    """PSR(SR*) with per-bar Sharpe `sr`, T bars, skewness and raw kurtosis (validation.md)."""
    if t < 2 or not all(map(math.isfinite, (sr, skew, kurt))):
        return math.nan
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if var <= 0:
        return math.nan
    z = (sr - sr_star) * math.sqrt(t - 1) / math.sqrt(var)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _ratio(a: float, b: float) -> float:
    if b == 0 or not math.isfinite(b):
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def compute_metrics(res: BacktestResult, lo_lags: int = 24) -> dict[str, float]:
    r = res.returns
    n = int(r.shape[0])
    bpy = float(res.bars_per_year)
    mean, std, down, skew, kurt, mdd, mdur, rho = return_stats_nb(
        r, res.equity, float(res.init_cash), int(lo_lags))
    years = n / bpy
    final = float(res.equity[-1]) if n else res.init_cash
    total = final / res.init_cash - 1.0
    cagr = (final / res.init_cash) ** (1.0 / years) - 1.0 if final > 0 and years > 0 else -1.0
    sr_bar = _ratio(mean, std) if std > 0 else math.nan
    sharpe = sr_bar * math.sqrt(bpy)
    pnl = res.trades[:, T_PNL]
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    n_trades = int(pnl.shape[0])
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": std * math.sqrt(bpy),
        "sharpe": sharpe,
        "sharpe_per_bar": sr_bar,
        "sortino": _ratio(mean, down) * math.sqrt(bpy) if n else math.nan,
        "calmar": _ratio(cagr, mdd),
        "max_drawdown": float(mdd),
        "max_drawdown_bars": int(mdur),
        "trades": n_trades,
        "win_rate": len(wins) / n_trades if n_trades else math.nan,
        "profit_factor": _ratio(float(wins.sum()), -float(losses.sum())) if n_trades else math.nan,
        "expectancy": float(res.trades[:, T_RET].mean()) if n_trades else math.nan,
        "trades_per_day": n_trades / (years * 365.0) if years > 0 else math.nan,
        "exposure": float(np.count_nonzero(res.position)) / n if n else math.nan,
        "turnover": float(res.turnover.sum()) / years if years > 0 else math.nan,
        "skew": float(skew),
        "kurtosis": float(kurt),
        "sharpe_lo": sr_bar * lo_eta(rho, bpy) if math.isfinite(sr_bar) else math.nan,
        "psr": probabilistic_sharpe(sr_bar, n, float(skew), float(kurt)),
        "bars": n,
    }
