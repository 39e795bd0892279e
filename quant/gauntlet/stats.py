"""The statistics that make a backtest mean something (formulas in /work/shared/validation.md).

- expected_max_normal(N): E[max of N independent standard normals], the approximation of Bailey
  and López de Prado: (1−γ)·Φ⁻¹(1−1/N) + γ·Φ⁻¹(1−1/(N·e)).
- deflated_sharpe: PSR(SR₀) with SR₀ = √V·E[max of N]; per-bar Sharpe, raw kurtosis.
- min_backtest_length: years of history needed before N trials cannot fake a target Sharpe;
  supported_trials: the other way round, the most trials some years of history can take.
- pbo_cscv: probability of backtest overfitting by combinatorially symmetric cross-validation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from quant.metrics import probabilistic_sharpe

EULER_GAMMA = 0.5772156649015329


def expected_max_normal(n: float) -> float:
    """E[max of n iid N(0,1)] (Bailey & López de Prado's approximation); 0 for n ≤ 1."""
    if n <= 1:
        return 0.0
    return float((1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n)
                 + EULER_GAMMA * norm.ppf(1.0 - 1.0 / (n * math.e)))


def deflated_sharpe_threshold(n_trials: int, sharpe_variance: float) -> float:
    """SR₀: the per-bar Sharpe the best of `n_trials` zero-skill trials reaches by luck,
    given the variance of per-bar Sharpe across the trials."""
    if sharpe_variance <= 0 or n_trials <= 1:
        return 0.0
    return math.sqrt(sharpe_variance) * expected_max_normal(n_trials)


def deflated_sharpe(sr: float, t: int, skew: float, kurt: float, n_trials: int,
                    sharpe_variance: float) -> float:
    """DSR = PSR(SR₀): probability that the true per-bar Sharpe beats the best of `n_trials`
    lucky ones. `sr` per bar, `t` bars, `kurt` raw (3 for a normal)."""
    return probabilistic_sharpe(sr, t, skew, kurt, deflated_sharpe_threshold(n_trials,
                                                                            sharpe_variance))


def null_sharpe_variance(t: int) -> float:
    """Variance of a per-bar Sharpe estimate over `t` bars when the true Sharpe is 0: the
    fallback for V when the candidate does not report the variance across its trials."""
    return 1.0 / max(t - 1, 1)


def min_backtest_length(n_trials: int, target_sharpe: float) -> float:
    """MinBTL in years: (E[max of N] / target annual Sharpe)²."""
    return (expected_max_normal(n_trials) / target_sharpe) ** 2


def supported_trials(years: float, target_sharpe: float, cap: int = 10**15) -> int:
    """The most trials `years` of history can take: the largest N with MinBTL(N) ≤ years at
    the target annual Sharpe (at least 1: one strategy tried needs no deflation; at most
    `cap`)."""
    if not (years > 0 and target_sharpe > 0):
        return 1
    if min_backtest_length(cap, target_sharpe) <= years:
        return cap
    lo, hi = 1, cap  # MinBTL grows with N: lo fits, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2 if hi - lo < 1024 else int(math.sqrt(lo * hi))
        if min_backtest_length(mid, target_sharpe) <= years:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class PboResult:
    pbo: float  # share of splits whose in-sample best ranks in the lower half out of sample
    logits: np.ndarray  # λ per split
    n_splits: int
    n_strategies: int
    n_blocks: int


def pbo_cscv(returns: np.ndarray, blocks: int = 16) -> PboResult:
    """CSCV over a T×N matrix of per-bar returns (N candidates, columns).

    Rows are cut into `blocks` equal blocks (trailing rows that do not fill a block are
    dropped); for each of C(S, S/2) halves as in-sample, the in-sample best column (by per-bar
    Sharpe) gets its relative rank ω = rank/(N+1) among the out-of-sample Sharpes (rank 1 =
    worst, ties averaged), λ = ln(ω/(1−ω)); PBO = share of splits with λ ≤ 0.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"pbo_cscv needs a T×N matrix with N ≥ 2, got shape {m.shape}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be even and ≥ 2, got {blocks}")
    t, n = m.shape
    size = t // blocks
    if size < 2:
        raise ValueError(f"{t} rows cannot make {blocks} blocks of at least 2 rows")
    m = m[: size * blocks].reshape(blocks, size, n)
    s1 = m.sum(axis=1)  # (S, N)
    s2 = (m * m).sum(axis=1)
    combos = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    mask = np.zeros((len(combos), blocks))
    np.put_along_axis(mask, combos, 1.0, axis=1)
    rows = size * (blocks // 2)
    is_sr = _sharpe_from_sums(mask @ s1, mask @ s2, rows)
    oos_sr = _sharpe_from_sums((1 - mask) @ s1, (1 - mask) @ s2, rows)
    best = np.argmax(is_sr, axis=1)
    chosen = oos_sr[np.arange(len(combos)), best][:, None]
    below = (oos_sr < chosen).sum(axis=1)
    ties = (oos_sr == chosen).sum(axis=1) - 1
    rank = 1.0 + below + 0.5 * ties
    omega = rank / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    return PboResult(float(np.mean(logits <= 0.0)), logits, len(combos), n, blocks)


def _sharpe_from_sums(s1: np.ndarray, s2: np.ndarray, k: int) -> np.ndarray:
    mean = s1 / k
    var = np.maximum(s2 / k - mean * mean, 0.0) * k / (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(var > 0, mean / np.sqrt(var), 0.0)
    return sr
