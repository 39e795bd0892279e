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
    """Moments, drawdowns and autocorrelations of per-bar returns in three short passes.

    Returns (mean, std ddof 1, downside deviation, skew, raw kurtosis, max drawdown,
    max drawdown duration in bars, autocorrelations rho[1..lags]).
    """
    n = r.shape[0]
    mean, down, mdd, mdur = _level_pass_nb(r, equity, init_cash)
    m2, m3, m4 = _central_moments_nb(r, mean)
    std = math.sqrt(m2 / (n - 1)) if n > 1 else np.nan
    p2 = m2 / n
    skew = (m3 / n) / p2 ** 1.5 if p2 > 0 else np.nan
    kurt = (m4 / n) / (p2 * p2) if p2 > 0 else np.nan
    rho = np.zeros(lags)
    if m2 > 0:
        kmax = min(lags, n - 1)
        # block by block, every lag per block: the block stays in L1 instead of streaming the
        # whole series once per lag
        for s in range(0, n, 4096):
            e = min(n, s + 4096)
            for k in range(1, kmax + 1):
                lo = max(s, k)
                if lo < e:
                    rho[k - 1] += _lag_product_nb(r[lo:e], r[lo - k:e - k], mean)
        for k in range(kmax):
            rho[k] /= m2
    return mean, std, math.sqrt(down / n), skew, kurt, mdd, mdur, rho


@njit(cache=True, error_model="numpy", nogil=True)
def _level_pass_nb(r, equity, init_cash):
    n = r.shape[0]
    total = 0.0
    down = 0.0
    peak = init_cash
    mdd = 0.0
    dur = 0
    mdur = 0
    for i in range(n):
        x = r[i]
        total += x
        if x < 0:
            down += x * x
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
    return total / n, down, mdd, mdur


# fastmath lets LLVM vectorise these reductions; slices keep the indices provably
# non-negative, without which numba's wrap-around checks block vectorisation.
@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _central_moments_nb(r, mean):
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(r.shape[0]):
        d = r[i] - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return m2, m3, m4


@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _lag_product_nb(a, b, mean):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += (a[i] - mean) * (b[i] - mean)
    return acc


@njit(cache=True, error_model="numpy", nogil=True)
def lo_eta(rho, q):
    """Lo's η(q) = q / √(q + 2 Σ_{k=1}^{q-1} (q-k) ρ_k), ρ_k beyond len(rho) taken as 0."""
    acc = 0.0
    for i in range(rho.shape[0]):
        k = i + 1.0
        if k < q:
            acc += (q - k) * rho[i]
    denom = q + 2.0 * acc
    return q / math.sqrt(denom) if denom > 0 else np.nan


@njit(cache=True, error_model="numpy", nogil=True)
def trade_stats_nb(trades):
    """(count, winners, gross profit, gross loss (>= 0), mean trade return)."""
    n = trades.shape[0]
    wins = 0
    gp = 0.0
    gl = 0.0
    ret = 0.0
    for i in range(n):
        p = trades[i, T_PNL]
        if p > 0:
            wins += 1
            gp += p
        elif p < 0:
            gl -= p
        ret += trades[i, T_RET]
    return n, wins, gp, gl, ret / n if n else np.nan


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
    n_trades, n_wins, gross_profit, gross_loss, expectancy = trade_stats_nb(res.trades)
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
        "trades": int(n_trades),
        "win_rate": n_wins / n_trades if n_trades else math.nan,
        "profit_factor": _ratio(gross_profit, gross_loss) if n_trades else math.nan,
        "expectancy": float(expectancy),
        "trades_per_day": n_trades / (years * 365.0) if years > 0 else math.nan,
        "exposure": res.exposed_bars / n if n else math.nan,
        "turnover": res.turnover / years if years > 0 else math.nan,
        "skew": float(skew),
        "kurtosis": float(kurt),
        "sharpe_lo": sr_bar * float(lo_eta(rho, bpy)) if math.isfinite(sr_bar) else math.nan,
        "psr": probabilistic_sharpe(sr_bar, n, float(skew), float(kurt)),
        "bars": n,
    }
