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
  `lo_lags` taken as zero; by default the Newey–West bandwidth ⌊4·(T/100)^(2/9)⌋ (11 lags for
  10^4 bars, 18 for 10^5), the usual rule for how far autocorrelation estimates stay useful. psr: probability that the true per-bar Sharpe exceeds 0 (Bailey and
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
    mean, down, mdd, mdur = _level_pass_nb(r, equity, init_cash)
    return _return_stats_nb(r, mean, down, mdd, mdur, lags)


@njit(cache=True, error_model="numpy", nogil=True)
def _return_stats_nb(r, mean, down, mdd, mdur, lags):
    """return_stats_nb given the mean, the sum of squared downside returns and the drawdowns."""
    n = r.shape[0]
    m2, m3, m4 = _central_moments_nb(r, mean)
    std = math.sqrt(m2 / (n - 1)) if n > 1 else np.nan
    p2 = m2 / n
    skew = (m3 / n) / p2 ** 1.5 if p2 > 0 else np.nan
    kurt = (m4 / n) / (p2 * p2) if p2 > 0 else np.nan
    rho = np.zeros(lags)
    if m2 > 0:
        kmax = min(lags, n - 1)
        # block by block, every lag per block: the block stays in L1 instead of streaming the
        # whole series once per lag. Where three lags cover the same bars (every block but the
        # first), one loop runs the three sums: a single sum waits on its four accumulators'
        # additions, three keep the core busy; each sum is the very one _lag_product_nb
        # computes (same vector lanes and order, tests/quant/test_metrics_lags.py)
        for s in range(0, n, 4096):
            e = min(n, s + 4096)
            k = 1
            if s >= kmax:
                while k + 2 <= kmax:
                    p, q, w = _lag_products3_nb(r[s:e], r[s - k:e - k], r[s - k - 1:e - k - 1],
                                                r[s - k - 2:e - k - 2], mean)
                    rho[k - 1] += p
                    rho[k] += q
                    rho[k + 1] += w
                    k += 3
            while k <= kmax:
                lo = max(s, k)
                if lo < e:
                    rho[k - 1] += _lag_product_nb(r[lo:e], r[lo - k:e - k], mean)
                k += 1
        for k in range(kmax):
            rho[k] /= m2
    return mean, std, math.sqrt(down / n), skew, kurt, mdd, mdur, rho


@njit(cache=True, error_model="numpy", nogil=True)
def _level_pass_nb(r, equity, init_cash):
    total, down = _sum_and_downside_nb(r)
    n = r.shape[0]
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
            if e < peak * (1.0 - mdd):  # a deeper trough: only then pay for the division
                mdd = 1.0 - e / peak
    return total / n, down, mdd, mdur


@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _sum_and_downside_nb(r):
    # branch-free: half the returns are negative, a branch on the sign mispredicts constantly
    total = 0.0
    down = 0.0
    for i in range(r.shape[0]):
        x = r[i]
        total += x
        m = min(x, 0.0)
        down += m * m
    return total, down


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


@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _lag_products3_nb(a, b, c, d, mean):
    """(_lag_product_nb(a, b, mean), ... (a, c, mean), ... (a, d, mean)) in one loop."""
    p = 0.0
    q = 0.0
    w = 0.0
    for i in range(a.shape[0]):
        x = a[i] - mean
        p += x * (b[i] - mean)
        q += x * (c[i] - mean)
        w += x * (d[i] - mean)
    return p, q, w


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


@njit(cache=True, error_model="numpy", nogil=True)
def probabilistic_sharpe(sr, t, skew, kurt, sr_star=0.0):
    """PSR(SR*) with per-bar Sharpe `sr`, T bars, skewness and raw kurtosis (validation.md)."""
    if t < 2 or not (np.isfinite(sr) and np.isfinite(skew) and np.isfinite(kurt)):
        return np.nan
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if var <= 0:
        return np.nan
    z = (sr - sr_star) * math.sqrt(t - 1) / math.sqrt(var)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@njit(cache=True, error_model="numpy", nogil=True)
def _ratio(a, b):
    if b == 0 or not np.isfinite(b):
        if a == 0:
            return np.nan
        return np.inf if a > 0 else -np.inf
    return a / b


KEYS = ("total_return", "cagr", "volatility", "sharpe", "sharpe_per_bar", "sortino", "calmar",
        "max_drawdown", "max_drawdown_bars", "trades", "win_rate", "profit_factor", "expectancy",
        "trades_per_day", "exposure", "turnover", "skew", "kurtosis", "sharpe_lo", "psr", "bars")
_INT_KEYS = frozenset(("max_drawdown_bars", "trades", "bars"))
N_METRICS = len(KEYS)


@njit(cache=True, error_model="numpy", nogil=True)
def metrics_nb(r, equity, init_cash, bpy, trades, turnover, exposed, lags, out):
    """Every metric of one run into `out` (order of KEYS): one call, no Python in between."""
    _fill_metrics_nb(r, equity, init_cash, bpy, trades, turnover, exposed, lags, out,
                     return_stats_nb(r, equity, init_cash, lags))


@njit(cache=True, error_model="numpy", nogil=True)
def metrics_drawdown_nb(r, equity, init_cash, bpy, trades, turnover, exposed, lags, mdd, mdur,
                        out):
    """metrics_nb with the drawdowns already measured (quant.sim measures them as it writes
    the equity): the same numbers, one pass over the curve fewer."""
    n = r.shape[0]
    total, down = _sum_and_downside_nb(r)
    stats = _return_stats_nb(r, total / n, down, mdd, mdur, lags)
    _fill_metrics_nb(r, equity, init_cash, bpy, trades, turnover, exposed, lags, out, stats)


@njit(cache=True, error_model="numpy", nogil=True)
def _fill_metrics_nb(r, equity, init_cash, bpy, trades, turnover, exposed, lags, out, stats):
    n = r.shape[0]
    mean, std, down, skew, kurt, mdd, mdur, rho = stats
    n_trades, n_wins, gross_profit, gross_loss, expectancy = trade_stats_nb(trades)
    years = n / bpy
    final = equity[n - 1] if n else init_cash
    cagr = (final / init_cash) ** (1.0 / years) - 1.0 if final > 0 and years > 0 else -1.0
    sr_bar = mean / std if std > 0 else np.nan
    root = math.sqrt(bpy)
    out[0] = final / init_cash - 1.0
    out[1] = cagr
    out[2] = std * root
    out[3] = sr_bar * root
    out[4] = sr_bar
    out[5] = _ratio(mean, down) * root if n else np.nan
    out[6] = _ratio(cagr, mdd)
    out[7] = mdd
    out[8] = mdur
    out[9] = n_trades
    out[10] = n_wins / n_trades if n_trades else np.nan
    out[11] = _ratio(gross_profit, gross_loss) if n_trades else np.nan
    out[12] = expectancy
    out[13] = n_trades / (years * 365.0) if years > 0 else np.nan
    out[14] = exposed / n if n else np.nan
    out[15] = turnover / years if years > 0 else np.nan
    out[16] = skew
    out[17] = kurt
    out[18] = sr_bar * lo_eta(rho, bpy) if np.isfinite(sr_bar) else np.nan
    out[19] = probabilistic_sharpe(sr_bar, n, skew, kurt, 0.0)
    out[20] = n


def metrics_dict(values: np.ndarray) -> dict[str, float]:
    """KEYS → values, counts as ints."""
    d = dict(zip(KEYS, values.tolist()))
    for k in _INT_KEYS:
        d[k] = int(d[k])
    return d


def default_lo_lags(bars: int) -> int:
    """Newey–West bandwidth ⌊4·(T/100)^(2/9)⌋, at least 1."""
    return max(1, int(4.0 * (max(bars, 1) / 100.0) ** (2.0 / 9.0)))


def compute_metrics(res: BacktestResult, lo_lags: int | None = None) -> dict[str, float]:
    if lo_lags is None:
        lo_lags = default_lo_lags(res.returns.shape[0])
    out = np.empty(N_METRICS)
    metrics_nb(res.returns, res.equity, float(res.init_cash), float(res.bars_per_year),
               res.trades, float(res.turnover), int(res.exposed_bars), int(lo_lags), out)
    return metrics_dict(out)
