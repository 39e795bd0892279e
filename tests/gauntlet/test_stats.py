"""Statistics of the gauntlet against hand computation and scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import kurtosis, norm, skew

from quant.gauntlet.stats import (
    EULER_GAMMA,
    deflated_sharpe,
    deflated_sharpe_threshold,
    expected_max_normal,
    min_backtest_length,
    null_sharpe_variance,
    pbo_cscv,
)
from quant.metrics import probabilistic_sharpe


@pytest.mark.parametrize("n, table", [(100, 2.53), (1_000, 3.26), (10_000, 3.86), (100_000, 4.39)])
def test_expected_max_matches_the_table_in_validation_md(n, table):
    assert expected_max_normal(n) == pytest.approx(table, abs=0.006)


def test_expected_max_is_close_to_monte_carlo():
    rng = np.random.default_rng(0)
    mc = rng.standard_normal((4000, 100)).max(axis=1).mean()
    assert expected_max_normal(100) == pytest.approx(mc, abs=0.05)
    assert expected_max_normal(1) == 0.0


def test_deflated_sharpe_by_hand():
    sr, t, g3, g4, n, v = 0.05, 2000, -0.4, 5.0, 250, 0.0004
    emax = (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n) + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e))
    sr0 = math.sqrt(v) * emax
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert deflated_sharpe_threshold(n, v) == pytest.approx(sr0, rel=1e-12)
    assert deflated_sharpe(sr, t, g3, g4, n, v) == pytest.approx(norm.cdf(z), rel=1e-9)


def test_deflated_sharpe_with_one_trial_is_the_psr_against_zero():
    assert deflated_sharpe(0.03, 5000, 0.1, 3.5, 1, 0.001) == probabilistic_sharpe(0.03, 5000, 0.1, 3.5)


def test_psr_uses_raw_kurtosis_of_the_returns():
    """PSR from scipy's moments (excess kurtosis + 3 = raw) equals the hand formula."""
    r = np.random.default_rng(3).standard_t(5, 3000) * 0.01 + 0.001
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = skew(r), kurtosis(r, fisher=False)
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    assert probabilistic_sharpe(sr, len(r), g3, g4) == pytest.approx(norm.cdf(z), rel=1e-9)


def test_min_backtest_length_by_hand():
    assert min_backtest_length(1_000, 2.0) == pytest.approx((3.26 / 2.0) ** 2, rel=0.005)
    assert min_backtest_length(100, 1.0) == pytest.approx(2.53**2, rel=0.005)
    assert null_sharpe_variance(101) == pytest.approx(0.01)


def _sr(x):
    sd = x.std(axis=0, ddof=1)
    return np.where(sd > 0, x.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)


def _pbo_reference(m: np.ndarray, s: int) -> float:
    """CSCV written the slow, obvious way (Bailey et al. 2017, algorithm 2.3)."""
    t, n = m.shape
    size = t // s
    blocks = [m[i * size:(i + 1) * size] for i in range(s)]
    hits = total = 0
    for combo in itertools.combinations(range(s), s // 2):
        ins = np.vstack([blocks[i] for i in combo])
        oos = np.vstack([blocks[i] for i in range(s) if i not in combo])
        best = int(np.argmax(_sr(ins)))
        o = _sr(oos)
        rank = 1 + np.sum(o < o[best]) + 0.5 * (np.sum(o == o[best]) - 1)
        w = rank / (n + 1)
        hits += math.log(w / (1 - w)) <= 0
        total += 1
    return hits / total


def test_pbo_two_blocks_by_hand():
    # A: block 1 Sharpe 2 (1,2,3), block 2 Sharpe 0 (-1,0,1); B: block 1 Sharpe 1 (0,1,2),
    # block 2 Sharpe 2 (1,2,3). Each half's in-sample winner is last out of sample: PBO = 1,
    # ω = 1/3, λ = ln(1/2) in both splits.
    m = np.array([[1, 0], [2, 1], [3, 2], [-1, 1], [0, 2], [1, 3]], dtype=float)
    res = pbo_cscv(m, blocks=2)
    assert res.pbo == 1.0 and res.n_splits == 2
    np.testing.assert_allclose(res.logits, [math.log(0.5)] * 2)
    # A dominant in both blocks: never overfit, λ = ln((2/3)/(1/3)) = ln 2
    m2 = np.array([[1, 0], [2, 1], [3, 2], [1, 0], [2, 1], [3, 2]], dtype=float)
    res2 = pbo_cscv(m2, blocks=2)
    assert res2.pbo == 0.0
    np.testing.assert_allclose(res2.logits, [math.log(2.0)] * 2)


@pytest.mark.parametrize("seed", range(3))
def test_pbo_matches_the_slow_reference(seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((403, 7)) * 0.01 + rng.normal(0, 0.001, 7)
    assert pbo_cscv(m, blocks=8).pbo == pytest.approx(_pbo_reference(m[:400], 8))


def test_pbo_is_near_one_half_on_noise_and_zero_with_a_planted_edge():
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((3200, 20))
    assert 0.3 < pbo_cscv(noise, 16).pbo < 0.7
    edge = noise.copy()
    edge[:, 4] += 0.25
    assert pbo_cscv(edge, 16).pbo < 0.02


def test_pbo_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="N ≥ 2"):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(np.zeros((100, 3)), blocks=5)
    with pytest.raises(ValueError, match="blocks of at least 2"):
        pbo_cscv(np.zeros((20, 3)), blocks=16)
