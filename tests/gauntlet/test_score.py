"""The readiness score: weights, ramps and a hand-computed total."""

from __future__ import annotations

import math

import pytest

from quant.gauntlet.score import WEIGHTS, ScoreInputs, frequency_fit, kept, ramp, readiness_score


def test_weights_are_the_users():
    assert sum(WEIGHTS.values()) == 100
    groups = {}
    for k, v in WEIGHTS.items():
        groups[k.split(".")[0]] = groups.get(k.split(".")[0], 0) + v
    assert groups == {"performance": 35, "risk": 30, "execution": 20, "robustness": 15}


def test_ramp_and_kept():
    assert ramp(1.5, 0, 3) == 0.5 and ramp(-1, 0, 3) == 0 and ramp(9, 0, 3) == 1
    assert ramp(0.15, 0.25, 0.05) == pytest.approx(0.5)  # falling ramp (drawdown)
    assert ramp(math.nan, 0, 1) == 0
    assert kept(1.0, 2.0) == 0.5 and kept(3.0, 2.0) == 1.0 and kept(1.0, -1.0) == 0.0


def test_frequency_is_judged_in_time_and_in_bars():
    assert frequency_fit(50, 40) == 1.0
    assert frequency_fit(11, 40) == pytest.approx(0.5)  # halfway from 2 to 20 a year
    assert frequency_fit(5000, 2.0) == pytest.approx(0.5)  # one trade per two bars
    assert frequency_fit(0, math.inf) == 0.0


def test_score_by_hand():
    s = ScoreInputs(sharpe=1.5, cagr=0.25, win_rate=0.475, max_drawdown=0.15,
                    positive_month_share=0.6, longest_underwater_days=48.5,
                    trades_per_year=11, bars_per_trade=40, latency_sharpe=0.75,
                    stressed_sharpe=1.5, in_sample_sharpe=3.0, out_of_sample_sharpe=1.5,
                    cross_market_sharpe=math.nan)
    total, parts = readiness_score(s)
    # every ramp at one half except slippage (kept all: 5), latency (a half), cross-market (0)
    expected = {
        "performance.sharpe": 7.5, "performance.return": 5, "performance.win_rate": 5,
        "risk.max_drawdown": 7.5, "risk.monthly_consistency": 5, "risk.recovery_time": 2.5,
        "execution.signal_frequency": 5, "execution.latency": 2.5, "execution.slippage": 5,
        "robustness.out_of_sample": 3.5, "robustness.cross_market": 0,
    }
    for k, v in expected.items():
        assert parts[k] == pytest.approx(v), k
    assert total == pytest.approx(sum(expected.values()))
    assert parts["performance"] == pytest.approx(17.5)
    assert parts["robustness"] == pytest.approx(3.5)
