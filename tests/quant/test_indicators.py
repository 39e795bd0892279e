"""Our numba indicator kernels against pandas-ta-classic (and plain pandas where it has no twin)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas_ta_classic as ta
import pytest

from quant import nb_indicators as nb


def same(ours, ref, rtol=1e-9, atol=1e-9):
    ref = np.asarray(ref, dtype=float)
    ours = np.asarray(ours, dtype=float)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="warm-up NaN differ")
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=rtol, atol=atol)


@pytest.mark.parametrize("n", [2, 10, 50])
def test_moving_averages(frame, n):
    c = frame.close
    same(nb.sma(c.to_numpy(), n), ta.sma(c, n))
    same(nb.ema(c.to_numpy(), n), ta.ema(c, n))
    same(nb.rsi(c.to_numpy(), n), ta.rsi(c, n))
    same(nb.roc(c.to_numpy(), n), ta.roc(c, n))
    same(nb.rolling_extreme(c.to_numpy(), n, True), c.rolling(n).max())
    same(nb.rolling_extreme(c.to_numpy(), n, False), c.rolling(n).min())
    same(nb.lag(c.to_numpy(), n), c.shift(n))


@pytest.mark.parametrize("n", [3, 20, 100])
def test_dispersion(frame, n):
    c = frame.close
    same(nb.zscore(c.to_numpy(), n), ta.zscore(c, n))
    same(nb.rolling_std(c.to_numpy(), n, 1), c.rolling(n).std(ddof=1), rtol=1e-7)
    same(nb.realized_vol(c.to_numpy(), n), c.pct_change().rolling(n).std(), rtol=1e-7)
    bb = ta.bbands(c, n, 2.0)
    same(nb.bollinger_pctb(c.to_numpy(), n, 2.0), bb[f"BBP_{n}_2.0"], rtol=1e-7)


def test_macd(frame):
    line, sig, hist = nb.macd(frame.close.to_numpy(), 12, 26, 9)
    ref = ta.macd(frame.close, 12, 26, 9)
    same(line, ref["MACD_12_26_9"])
    same(sig, ref["MACDs_12_26_9"])
    same(hist, ref["MACDh_12_26_9"])


@pytest.mark.parametrize("n", [5, 14])
def test_range_indicators(frame, n):
    h, lo, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
    same(nb.atr(h, lo, c, n), ta.atr(frame.high, frame.low, frame.close, n))
    same(nb.adx(h, lo, c, n), ta.adx(frame.high, frame.low, frame.close, n)[f"ADX_{n}"])
    st = ta.stoch(frame.high, frame.low, frame.close, n, 3, 3)
    same(nb.stoch_k(h, lo, c, n, 3), st[f"STOCHk_{n}_3_3"])
    dc = ta.donchian(frame.high, frame.low, n, n)
    same(nb.rolling_extreme(h, n, True), dc[f"DCU_{n}_{n}"])
    same(nb.rolling_extreme(lo, n, False), dc[f"DCL_{n}_{n}"])
    kc = ta.kc(frame.high, frame.low, frame.close, n, 1.5)
    basis, lower, upper = nb.keltner(h, lo, c, n, 1.5, True)
    same(lower, kc[f"KCLe_{n}_1.5"])
    same(upper, kc[f"KCUe_{n}_1.5"])
    same(nb.linreg(c, n), ta.linreg(frame.close, n), rtol=1e-8)


def test_squeeze_lazybear(frame):
    h, lo, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
    on, off, mom = nb.squeeze(h, lo, c, 20, 2.0, 1.5)
    ref = ta.squeeze(frame.high, frame.low, frame.close, 20, 2.0, 20, 1.5, lazybear=True)
    same(mom, ref["SQZ_20_2.0_20_1.5_LB"], rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(on, ref["SQZ_ON"].to_numpy() == 1)
    np.testing.assert_array_equal(off, ref["SQZ_OFF"].to_numpy() == 1)


def test_exhaustion_count_matches_a_plain_loop(frame):
    c = frame.close.to_numpy()
    for n in (1, 4):
        ours = nb.exhaustion_count(c, n)
        up = dn = 0
        for i in range(len(c)):
            if i >= n and c[i] > c[i - n]:
                up, dn = up + 1, 0
            elif i >= n and c[i] < c[i - n]:
                up, dn = 0, dn + 1
            else:
                up = dn = 0
            assert ours[i] == (up if up else -dn)
    assert np.abs(nb.exhaustion_count(c, 4)).max() >= 5  # counts run, not just flip


def test_exhaustion_agrees_with_td_sequential_setup(frame):
    # pandas-ta's td_seq counts the same runs (close vs close 4 bars earlier), NaN at 0, and
    # stops counting at 13 (the TD countdown length); ours keeps counting.
    ref = ta.td_seq(frame.close, asint=False, show_all=True)
    ours = nb.exhaustion_count(frame.close.to_numpy(), 4)
    up = ref["TD_SEQ_UPa"].fillna(0).to_numpy()
    both = up > 0
    np.testing.assert_array_equal(np.minimum(ours[both], 13), up[both])


def test_crosses_and_nan():
    a = np.array([1.0, 2.0, 3.0, 2.0, np.nan, 3.0])
    b = np.full(6, 2.5)
    assert nb.cross_above(a, b).tolist() == [False, False, True, False, False, False]
    assert nb.cross_below(a, b).tolist() == [False, False, False, True, False, False]
    assert nb.protected_div(np.array([1.0, 2.0]), np.array([0.0, 4.0])).tolist() == [1.0, 0.5]


def test_kernels_survive_nan_inside_the_series():
    x = np.array([np.nan, 1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0])
    s = pd.Series(x)
    same(nb.sma(x, 2), s.rolling(2).mean())
    same(nb.rolling_std(x, 3, 1), s.rolling(3).std())
    same(nb.rolling_extreme(x, 2, True), s.rolling(2).max())


def test_sliding_linreg_matches_a_direct_fit_through_nan_gaps():
    rng = np.random.default_rng(2)
    x = 30_000 + np.cumsum(rng.normal(0, 50, 700))
    x[[5, 300, 301, 450]] = np.nan
    for n in (2, 7, 50):
        expected = np.full(x.shape, np.nan)
        for i in range(n - 1, len(x)):
            w = x[i - n + 1:i + 1]
            if not np.isnan(w).any():
                slope, icpt = np.polyfit(np.arange(n), w, 1)
                expected[i] = icpt + slope * (n - 1)
        same(nb.linreg(x, n), expected, rtol=1e-9, atol=1e-6)
