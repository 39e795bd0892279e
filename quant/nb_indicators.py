"""Numba kernels for the indicators: one pass over float64 arrays, NaN during warm-up.

pandas-ta-classic computes the same quantities (tests/quant/test_indicators.py holds the two
side by side), but each call costs a millisecond of pandas overhead and evolution asks for
thousands of (indicator, window) pairs, so the hot path runs these kernels instead. Every kernel
is causal: the value at bar t reads inputs at bars <= t only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = np.finfo(np.float64).eps
_JIT = dict(cache=True, error_model="numpy", nogil=True)


@njit(**_JIT)
def first_valid(x):
    for i in range(x.shape[0]):
        if not np.isnan(x[i]):
            return i
    return x.shape[0]


@njit(**_JIT)
def sma(x, n):
    """Rolling mean over n bars; NaN unless all n inputs are valid (pandas `rolling(n).mean()`).

    The window sum slides by one add per bar and is recomputed exactly every n bars (and after
    a NaN), which bounds the rounding error without a compensated (and 5x slower) sum.
    """
    m = x.shape[0]
    out = np.full(m, np.nan)
    s = 0.0
    fresh = False
    since = 0
    nan_count = 0
    for i in range(m):
        if np.isnan(x[i]):
            nan_count += 1
        if i >= n and np.isnan(x[i - n]):
            nan_count -= 1
        if i < n - 1 or nan_count > 0:
            fresh = False
            continue
        since += 1
        if not fresh or since >= n:  # (a countdown: an integer modulo per bar costs more)
            since = 0
            s = 0.0
            for j in range(i - n + 1, i + 1):
                s += x[j]
            fresh = True
        else:
            s += x[i] - x[i - n]
        out[i] = s / n
    return out


@njit(**_JIT)
def ewm_seeded(x, n, alpha):
    """Exponential smoothing seeded with the mean of the first n valid values (pandas-ta style).

    The seed sits at first_valid + n - 1; later NaN inputs carry the previous value forward.
    """
    m = x.shape[0]
    out = np.full(m, np.nan)
    fv = first_valid(x)
    if fv + n > m:
        return out
    s = 0.0
    for i in range(fv, fv + n):
        s += x[i]
    prev = s / n
    out[fv + n - 1] = prev
    for i in range(fv + n, m):
        v = x[i]
        if not np.isnan(v):
            prev = alpha * v + (1.0 - alpha) * prev
        out[i] = prev
    return out


@njit(**_JIT)
def ema(x, n):
    return ewm_seeded(x, n, 2.0 / (n + 1.0))


@njit(**_JIT)
def rma(x, n):
    """Wilder's moving average (alpha = 1/n)."""
    return ewm_seeded(x, n, 1.0 / n)


@njit(**_JIT)
def rolling_std(x, n, ddof):
    """Rolling standard deviation; NaN unless all n inputs are valid.

    Sums of (x - k) and (x - k)² slide with the window, k being the window mean at the last
    exact pass (every n bars and after a NaN), so the two sums never cancel badly.
    """
    m = x.shape[0]
    out = np.full(m, np.nan)
    if n - ddof <= 0:
        return out
    k = 0.0
    s1 = 0.0
    s2 = 0.0
    fresh = False
    since = 0
    nan_count = 0
    for i in range(m):
        if np.isnan(x[i]):
            nan_count += 1
        if i >= n and np.isnan(x[i - n]):
            nan_count -= 1
        if i < n - 1 or nan_count > 0:
            fresh = False
            continue
        since += 1
        if not fresh or since >= n:  # (a countdown: an integer modulo per bar costs more)
            since = 0
            k = 0.0
            for j in range(i - n + 1, i + 1):
                k += x[j]
            k /= n
            s1 = 0.0
            s2 = 0.0
            for j in range(i - n + 1, i + 1):
                d = x[j] - k
                s1 += d
                s2 += d * d
            fresh = True
        else:
            a = x[i] - k
            b = x[i - n] - k
            s1 += a - b
            s2 += a * a - b * b
        var = (s2 - s1 * s1 / n) / (n - ddof)
        out[i] = np.sqrt(var) if var > 0.0 else 0.0
    return out


@njit(**_JIT)
def rolling_extreme(x, n, is_max):
    """Rolling max (is_max) or min over n bars with a monotonic deque; NaN if any input is NaN."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    dq = np.empty(m, dtype=np.int64)
    head = 0
    tail = 0
    nan_count = 0
    for i in range(m):
        v = x[i]
        if np.isnan(v):
            nan_count += 1
        else:
            while tail > head:
                last = x[dq[tail - 1]]
                if (is_max and last <= v) or ((not is_max) and last >= v):
                    tail -= 1
                else:
                    break
            dq[tail] = i
            tail += 1
        if i >= n and np.isnan(x[i - n]):
            nan_count -= 1
        while tail > head and dq[head] <= i - n:
            head += 1
        if i >= n - 1 and nan_count == 0 and tail > head:
            out[i] = x[dq[head]]
    return out


@njit(**_JIT)
def lag(x, n):
    out = np.full(x.shape[0], np.nan)
    for i in range(n, x.shape[0]):
        out[i] = x[i - n]
    return out


@njit(**_JIT)
def pct_change(x, n):
    out = np.full(x.shape[0], np.nan)
    for i in range(n, x.shape[0]):
        out[i] = x[i] / x[i - n] - 1.0
    return out


@njit(**_JIT)
def roc(x, n):
    """Rate of change in percent: 100 * (x_t - x_{t-n}) / x_{t-n}."""
    return 100.0 * pct_change(x, n)


@njit(**_JIT)
def zscore(x, n):
    """(x - rolling mean) / rolling std (ddof 1), as pandas-ta `zscore`."""
    return (x - sma(x, n)) / rolling_std(x, n, 1)


@njit(**_JIT)
def realized_vol(x, n):
    """Rolling std (ddof 1) of one-bar simple returns of x over n bars; per bar, not annualised."""
    return rolling_std(pct_change(x, 1), n, 1)


@njit(**_JIT)
def rsi(x, n):
    m = x.shape[0]
    gain = np.full(m, np.nan)
    loss = np.full(m, np.nan)
    for i in range(1, m):
        d = x[i] - x[i - 1]
        if not np.isnan(d):
            gain[i] = d if d > 0.0 else 0.0
            loss[i] = -d if d < 0.0 else 0.0
    g = rma(gain, n)
    lo = rma(loss, n)
    return 100.0 * g / (g + lo)


@njit(**_JIT)
def macd(x, fast, slow, signal):
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram."""
    line = ema(x, fast) - ema(x, slow)
    sig = ema(line, signal)
    return line, sig, line - sig


@njit(**_JIT)
def _nonzero(d):
    return d if d != 0.0 else _EPS


@njit(**_JIT)
def bollinger_pctb(x, n, k):
    """Bollinger %B: (x - lower) / (upper - lower), bands at SMA ± k·std (ddof 0)."""
    mid = sma(x, n)
    sd = rolling_std(x, n, 0)
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        lower = mid[i] - k * sd[i]
        upper = mid[i] + k * sd[i]
        out[i] = _nonzero(x[i] - lower) / _nonzero(upper - lower)
    return out


@njit(**_JIT)
def true_range(high, low, close):
    m = close.shape[0]
    out = np.full(m, np.nan)
    for i in range(1, m):
        pc = close[i - 1]
        out[i] = max(_nonzero(high[i] - low[i]), abs(high[i] - pc), abs(pc - low[i]))
    return out


@njit(**_JIT)
def atr(high, low, close, n):
    return rma(true_range(high, low, close), n)


@njit(**_JIT)
def _wilder_sum(x, n):
    """TA-Lib's cumulative Wilder smoothing: seed = sum of x[1:n] at bar n-1, then s - s/n + x."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    if n > m:
        return out
    s = 0.0
    for i in range(1, n):
        if not np.isnan(x[i]):
            s += x[i]
    out[n - 1] = s
    for i in range(n, m):
        if not np.isnan(x[i]):
            s = s - s / n + x[i]
        out[i] = s
    return out


@njit(**_JIT)
def adx(high, low, close, n):
    """Average directional index (Wilder), as pandas-ta `adx` column ADX_n."""
    m = close.shape[0]
    pos = np.full(m, np.nan)
    neg = np.full(m, np.nan)
    for i in range(1, m):
        up = high[i] - high[i - 1]
        dn = low[i - 1] - low[i]
        pos[i] = up if (up > dn and up > 0.0) else 0.0
        neg[i] = dn if (dn > up and dn > 0.0) else 0.0
    tr_s = _wilder_sum(true_range(high, low, close), n)
    pos_s = _wilder_sum(pos, n)
    neg_s = _wilder_sum(neg, n)
    dx = np.full(m, np.nan)
    for i in range(n, m):
        dmp = 100.0 * pos_s[i] / tr_s[i]
        dmn = 100.0 * neg_s[i] / tr_s[i]
        dx[i] = 100.0 * abs(dmp - dmn) / (dmp + dmn)
    return rma(dx, n)


@njit(**_JIT)
def stoch_k(high, low, close, n, smooth):
    """Stochastic %K: 100·(close - lowest low)/(highest high - lowest low), SMA-smoothed."""
    ll = rolling_extreme(low, n, False)
    hh = rolling_extreme(high, n, True)
    raw = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        raw[i] = 100.0 * (close[i] - ll[i]) / _nonzero(hh[i] - ll[i])
    return sma(raw, smooth)


@njit(**_JIT)
def keltner(high, low, close, n, mult, use_ema):
    """Keltner channel (basis, lower, upper): MA of close ± mult · MA of true range."""
    tr = true_range(high, low, close)
    if use_ema:
        basis = ema(close, n)
        band = ema(tr, n)
    else:
        basis = sma(close, n)
        band = sma(tr, n)
    return basis, basis - mult * band, basis + mult * band


@njit(**_JIT)
def linreg(x, n):
    """End point of the least-squares line over the last n bars (pandas-ta `linreg`).

    O(1) per bar: the sums Σy and Σj·y slide with the window, re-anchored by an exact pass
    every n bars and after any NaN.
    """
    m = x.shape[0]
    out = np.full(m, np.nan)
    sx = 0.5 * n * (n - 1)
    sxx = n * (n - 1) * (2 * n - 1) / 6.0
    div = n * sxx - sx * sx
    sy = 0.0
    sxy = 0.0
    fresh = False
    since = 0
    nan_count = 0
    for i in range(m):
        if np.isnan(x[i]):
            nan_count += 1
        if i >= n and np.isnan(x[i - n]):
            nan_count -= 1
        if i < n - 1 or nan_count > 0:
            fresh = False
            continue
        since += 1
        if not fresh or since >= n:  # (a countdown: an integer modulo per bar costs more)
            since = 0
            sy = 0.0
            sxy = 0.0
            for j in range(n):
                y = x[i - n + 1 + j]
                sy += y
                sxy += j * y
            fresh = True
        else:
            y_out = x[i - n]
            sxy = sxy - (sy - y_out) + (n - 1) * x[i]
            sy = sy - y_out + x[i]
        slope = (n * sxy - sx * sy) / div
        out[i] = (sy - slope * sx) / n + slope * (n - 1)
    return out


@njit(**_JIT)
def squeeze_state(high, low, close, n, bb_mult, kc_mult):
    """LazyBear squeeze (on, off): Bollinger bands (SMA, std ddof 0) inside / outside the
    Keltner channel (SMA of close and of true range)."""
    mid = sma(close, n)
    sd = rolling_std(close, n, 0)
    basis, kcl, kcu = keltner(high, low, close, n, kc_mult, False)
    m = close.shape[0]
    on = np.zeros(m, dtype=np.bool_)
    off = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        bbl = mid[i] - bb_mult * sd[i]
        bbu = mid[i] + bb_mult * sd[i]
        on[i] = bbl > kcl[i] and bbu < kcu[i]
        off[i] = bbl < kcl[i] and bbu > kcu[i]
    return on, off


@njit(**_JIT)
def squeeze_momentum(high, low, close, n):
    """LazyBear momentum histogram: linreg over n of close - (mean(HH, LL)/2 + SMA(close)/2)."""
    hh = rolling_extreme(high, n, True)
    ll = rolling_extreme(low, n, False)
    dev = close - (0.25 * (hh + ll) + 0.5 * sma(close, n))
    return linreg(dev, n)


@njit(**_JIT)
def squeeze(high, low, close, n, bb_mult, kc_mult):
    """LazyBear Squeeze Momentum: (squeeze on, squeeze off, momentum histogram)."""
    on, off = squeeze_state(high, low, close, n, bb_mult, kc_mult)
    return on, off, squeeze_momentum(high, low, close, n)


@njit(**_JIT)
def exhaustion_count(x, n):
    """Signed run length of closes beyond the close n bars earlier (TD-setup style count).

    +k: the last k bars each closed above the value n bars before them; -k: below; 0 otherwise.
    """
    m = x.shape[0]
    out = np.zeros(m)
    up = 0
    dn = 0
    for i in range(m):
        if i >= n and x[i] > x[i - n]:
            up += 1
            dn = 0
        elif i >= n and x[i] < x[i - n]:
            dn += 1
            up = 0
        else:
            up = 0
            dn = 0
        out[i] = up if up > 0 else -dn
    return out


@njit(**_JIT)
def cross_above(a, b):
    """True at t when a crosses strictly above b: a_t > b_t and a_{t-1} <= b_{t-1}."""
    m = a.shape[0]
    out = np.zeros(m, dtype=np.bool_)
    for i in range(1, m):
        out[i] = a[i] > b[i] and a[i - 1] <= b[i - 1]
    return out


@njit(**_JIT)
def cross_below(a, b):
    m = a.shape[0]
    out = np.zeros(m, dtype=np.bool_)
    for i in range(1, m):
        out[i] = a[i] < b[i] and a[i - 1] >= b[i - 1]
    return out


@njit(**_JIT)
def protected_div(a, b):
    """a / b, with 1.0 where |b| < 1e-12 (the usual GP convention: defined everywhere)."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = a[i] / b[i] if abs(b[i]) >= 1e-12 else 1.0
    return out
