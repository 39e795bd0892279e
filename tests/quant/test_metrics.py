"""Metrics against values computed by hand (plain Python arithmetic, no shared code)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy.stats import norm

from quant.metrics import compute_metrics, lo_eta, probabilistic_sharpe
from quant.sim import BacktestResult

R = [0.1, -0.05, 0.02, -0.1, 0.03]
PNL = [(10.0, 0.01), (-5.0, -0.005), (3.0, 0.003)]


def _result(returns=R, trades=PNL, position=(0, 1, 1, 0, -1), turnover=(0, 1, 0, 1, 1),
            bpy=365.0, init=1.0):
    eq, e = [], init
    for r in returns:
        e *= 1 + r
        eq.append(e)
    tr = np.zeros((len(trades), 9))
    for i, (pnl, ret) in enumerate(trades):
        tr[i, 6], tr[i, 7] = pnl, ret
    pos = np.array(position, float)
    return BacktestResult(np.array(eq), np.array(returns, float), pos, float(sum(turnover)),
                          int(np.count_nonzero(pos)), tr, bpy, init)


def test_metrics_by_hand():
    m = compute_metrics(_result(), lo_lags=2)
    n = len(R)
    mean = sum(R) / n
    sd = statistics.stdev(R)
    final = math.prod(1 + r for r in R)
    assert m["total_return"] == pytest.approx(final - 1)
    assert m["cagr"] == pytest.approx(final ** (365 / 5) - 1)
    assert m["volatility"] == pytest.approx(sd * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(365))
    assert m["sortino"] == pytest.approx(mean / math.sqrt((0.05**2 + 0.1**2) / 5) * math.sqrt(365))
    # equity 1.1, 1.045, 1.0659, 0.95931, 0.9880893: worst point 0.95931 against the 1.1 peak
    assert m["max_drawdown"] == pytest.approx(1 - 0.95931 / 1.1)
    assert m["max_drawdown_bars"] == 4
    assert m["calmar"] == pytest.approx(m["cagr"] / (1 - 0.95931 / 1.1))
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(13 / 5)
    assert m["expectancy"] == pytest.approx((0.01 - 0.005 + 0.003) / 3)
    assert m["trades_per_day"] == pytest.approx(3 / 5)
    assert m["exposure"] == pytest.approx(3 / 5)
    assert m["turnover"] == pytest.approx(3 / (5 / 365))
    dev = [r - mean for r in R]
    m2 = sum(d * d for d in dev) / n
    assert m["skew"] == pytest.approx(sum(d**3 for d in dev) / n / m2**1.5)
    assert m["kurtosis"] == pytest.approx(sum(d**4 for d in dev) / n / m2**2)
    rho1 = sum(dev[i] * dev[i - 1] for i in range(1, n)) / (m2 * n)
    rho2 = sum(dev[i] * dev[i - 2] for i in range(2, n)) / (m2 * n)
    q = 365
    eta = q / math.sqrt(q + 2 * ((q - 1) * rho1 + (q - 2) * rho2))
    assert m["sharpe_lo"] == pytest.approx(eta * mean / sd)
    sr, g3, g4 = mean / sd, m["skew"], m["kurtosis"]
    psr = norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr))
    assert m["psr"] == pytest.approx(psr)


def test_lo_eta_is_root_q_without_autocorrelation():
    # η(q) carries the annualisation: √q for independent returns, less with momentum
    assert lo_eta(np.zeros(10), 8760) == pytest.approx(math.sqrt(8760))
    assert lo_eta(np.array([0.2]), 8760) < math.sqrt(8760)
    assert lo_eta(np.array([-0.2]), 8760) > math.sqrt(8760)


def test_psr_textbook_value():
    # normal returns (skew 0, kurtosis 3): PSR = Φ(SR·√(T−1)/√(1 + SR²/2))
    sr, t = 0.05, 1000
    expected = norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 + sr * sr / 2))
    assert probabilistic_sharpe(sr, t, 0.0, 3.0) == pytest.approx(expected)
    assert probabilistic_sharpe(0.0, t, 0.0, 3.0) == pytest.approx(0.5)


def test_no_trades_and_flat_returns_do_not_crash():
    m = compute_metrics(_result(returns=[0.0] * 5, trades=[], position=[0] * 5,
                                turnover=[0] * 5))
    assert m["trades"] == 0 and m["total_return"] == 0 and m["max_drawdown"] == 0
    assert math.isnan(m["sharpe"]) and math.isnan(m["win_rate"])


def test_profit_factor_without_losses_is_infinite():
    m = compute_metrics(_result(trades=[(1.0, 0.01)]))
    assert m["profit_factor"] == math.inf


def test_default_lo_lags_follow_the_newey_west_rule():
    from quant.metrics import default_lo_lags

    assert default_lo_lags(10_000) == 11 and default_lo_lags(100_000) == 18
    assert default_lo_lags(1) == 1 and default_lo_lags(0) == 1


def test_moments_and_sharpe_agree_with_scipy_on_a_long_run():
    from scipy import stats

    from quant.backtest import evaluate
    from quant.data import synthetic
    from quant.dsl import parse_strategy

    s = parse_strategy("(strategy (long-entry (> close (sma close 24)))"
                       " (long-exit (< close (sma close 24))) (short-entry (< close (sma close 96)))"
                       " (short-exit (> close (sma close 96))))")
    ev = evaluate(s, synthetic(seed=9, bars=5000))
    r = ev.result.returns
    m = ev.metrics
    assert m["trades"] > 20
    assert m["skew"] == pytest.approx(stats.skew(r, bias=True), rel=1e-9)
    assert m["kurtosis"] == pytest.approx(stats.kurtosis(r, fisher=False, bias=True), rel=1e-9)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760), rel=1e-9)
    eq = ev.result.equity
    peak = np.maximum.accumulate(np.r_[ev.result.init_cash, eq])[1:]
    assert m["max_drawdown"] == pytest.approx(float(np.max(1 - eq / peak)), rel=1e-12)
    assert m["total_return"] == pytest.approx(float(np.prod(1 + r) - 1), rel=1e-9)


def test_tiny_datasets_do_not_crash():
    from quant.backtest import Evaluator, evaluate
    from quant.data import synthetic
    from quant.dsl import parse_strategy

    s = parse_strategy("(strategy (long-entry true) (short-entry false))")
    for d in (synthetic(seed=0, bars=2).slice(0, 1), synthetic(seed=0, bars=2)):
        assert evaluate(s, d).metrics["bars"] == len(d)
        assert Evaluator(d).metrics_many([s, s])[1]["bars"] == len(d)
