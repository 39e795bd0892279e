"""The kernel's stretch loops (idle and in-position bars) change nothing: bit for bit the same
equity, returns, positions, trades, turnover and exposure as the previous kernel, kept in
tests/quant/sim_reference.py, over random signals, sizes, stops, holding limits and funding."""

from __future__ import annotations

import numpy as np
import pytest

from quant.data import synthetic
from quant.sim import (EXIT_LIQUIDATED, N_TRADE_COLS, T_REASON, simulate_into_nb,
                       trade_capacity)
from tests.quant.sim_reference import reference_simulate_into_nb


def _case(rng, n):
    p = rng.choice([0.002, 0.02, 0.2, 0.6])
    le, lx, se, sx = (rng.random(n) < p * rng.uniform(0.2, 1.5) for _ in range(4))
    if rng.random() < 0.3:
        se[:] = False
        sx[:] = False
    size = (np.full(1, rng.uniform(0.1, 4.0)) if rng.random() < 0.5
            else np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0.1, 4.0, n)))

    def maybe(lo, hi):
        return rng.uniform(lo, hi) if rng.random() < 0.5 else np.nan

    risk = (maybe(0.002, 0.08), maybe(0.002, 0.12), maybe(0.002, 0.08),
            int(rng.integers(1, 60)) if rng.random() < 0.4 else -1)
    return le, lx, se, sx, size, risk


@pytest.mark.parametrize("seed", range(12))
def test_kernel_equals_the_reference_kernel(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    d = synthetic(seed=seed, bars=n)
    funding = (np.full(1, 1.25e-5) if seed % 3 == 0
               else rng.normal(1e-5, 5e-5, n) if seed % 3 == 1 else np.zeros(1))
    wiped = 0
    for _ in range(25):
        le, lx, se, sx, size, (sl, tp, tr, mh) = _case(rng, n)
        units = bool(rng.random() < 0.2)
        lev = float(rng.choice([1.0, 3.0, 50.0]))
        if lev == 50.0:
            size = size * 12.0  # up to 48× equity: accounts that get wiped out
        if units:
            size = size * 0.01
        outs = []
        for kernel in (simulate_into_nb, reference_simulate_into_nb):
            eq, r, pos = np.empty(n), np.empty(n), np.empty(n)
            tr_buf = np.full((trade_capacity(n), N_TRADE_COLS), np.nan)
            nt, turnover, exposed = kernel(
                d.open, d.high, d.low, d.close, funding, le, lx, se, sx, size, units,
                4.5e-4, 1e-4, sl, tp, tr, mh, lev, 10_000.0, eq, r, pos, tr_buf)
            outs.append((eq, r, pos, tr_buf[:nt], turnover, exposed))
        new, ref = outs
        wiped += bool(np.any(ref[3][:, T_REASON] == EXIT_LIQUIDATED))
        for a, b in zip(new[:4], ref[:4]):
            np.testing.assert_array_equal(a, b)
        assert new[4:] == ref[4:]
    assert wiped > 0  # the liquidation path was exercised
