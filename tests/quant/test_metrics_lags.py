"""The autocorrelations behind sharpe_lo, three lags per loop, against one lag per loop.

quant.metrics sums (r[i] - mean)(r[i-k] - mean) block by block; where three lags cover the
same bars it runs their sums in one loop (`_lag_products3_nb`). Each of the three must be the
very sum `_lag_product_nb` computes alone (the same vector lanes, added in the same order), so
sharpe_lo, and everything evolution ranks by it, keeps its bits. Lengths around the vector
widths and the 4,096-bar blocks, returns with runs of zeros (flat stretches), many lag counts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from quant.metrics import (_central_moments_nb, _lag_product_nb, _lag_products3_nb,
                           _return_stats_nb)


@njit(error_model="numpy", nogil=True)
def _one_lag_per_loop(r, mean, down, mdd, mdur, lags):
    """quant.metrics._return_stats_nb as it was, each lag alone. Verbatim on purpose: numba
    inlines the sums into the kernel and LLVM vectorises a loop by what else the kernel does
    (drop skew and kurtosis and m2 is summed in other lanes), so only the same kernel is a
    bit-for-bit reference."""
    n = r.shape[0]
    m2, m3, m4 = _central_moments_nb(r, mean)
    std = math.sqrt(m2 / (n - 1)) if n > 1 else np.nan
    p2 = m2 / n
    skew = (m3 / n) / p2 ** 1.5 if p2 > 0 else np.nan
    kurt = (m4 / n) / (p2 * p2) if p2 > 0 else np.nan
    rho = np.zeros(lags)
    if m2 > 0:
        kmax = min(lags, n - 1)
        for s in range(0, n, 4096):
            e = min(n, s + 4096)
            for k in range(1, kmax + 1):
                lo = max(s, k)
                if lo < e:
                    rho[k - 1] += _lag_product_nb(r[lo:e], r[lo - k:e - k], mean)
        for k in range(kmax):
            rho[k] /= m2
    return mean, std, math.sqrt(down / n), skew, kurt, mdd, mdur, rho


LENGTHS = [2, 3, 4, 5, 15, 16, 17, 19, 20, 31, 33, 100, 4095, 4096, 4097, 4111, 8192, 8205,
           10_000, 12_345]


@pytest.mark.parametrize("n", LENGTHS)
def test_three_lags_per_loop_keep_the_bits(n):
    rng = np.random.default_rng(n)
    for lags in (1, 2, 3, 4, 11, 18, 25):
        r = rng.normal(0.0, rng.choice([1e-3, 1e-2, 0.3]), n)
        r[rng.random(n) < rng.random()] = 0.0
        mean = float(r.mean())
        got = _return_stats_nb(r, mean, 0.01, 0.2, 7, lags)
        want = _one_lag_per_loop(r, mean, 0.01, 0.2, 7, lags)
        assert np.array(got[:7]).tobytes() == np.array(want[:7]).tobytes()
        assert got[7].tobytes() == want[7].tobytes()


@pytest.mark.parametrize("n", [16, 17, 35, 4096, 4103, 777])
def test_each_of_three_sums_is_the_single_sum(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(20):
        r = rng.normal(0.0, 0.01, n + 3)
        r[rng.random(n + 3) < 0.4] = 0.0
        mean = float(r.mean())
        a, b, c, d = r[3:], r[2:-1], r[1:-2], r[:-3]
        assert _lag_products3_nb(a, b, c, d, mean) == (
            _lag_product_nb(a, b, mean), _lag_product_nb(a, c, mean), _lag_product_nb(a, d, mean))
