"""The simulation kernel: equal to vectorbt where both model the same thing, and hand-checked
stops, gaps, funding, holding limits and leverage where vectorbt does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from quant.data import Dataset, synthetic
from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.signals import Signals
from quant.sim import (EXIT_LIQUIDATED, EXIT_MAX_HOLD, EXIT_STOP, EXIT_TAKE_PROFIT,
                       EXIT_TRAILING, T_EXIT_IDX, T_EXIT_PX, T_PNL, T_REASON, T_RET, SimConfig,
                       simulate, simulate_nb)

NAN = np.nan


def _shift(a):
    b = np.zeros_like(a)
    b[1:] = a[:-1]
    return b


def _random_signals(n, seed, p=0.04):
    rng = np.random.default_rng(seed)
    return [rng.random(n) < p for _ in range(4)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fee_bps, slip_bps", [(0.0, 0.0), (4.5, 0.0), (4.5, 2.0), (1.5, 10.0)])
def test_long_only_all_in_equals_vectorbt(seed, fee_bps, slip_bps):
    d = synthetic(seed=seed, bars=2000)
    n = len(d)
    le, lx, _, _ = _random_signals(n, seed)
    no = np.zeros(n, bool)
    s = Strategy()
    res = simulate(s, Signals(le, lx, no, no, np.ones(n)), d,
                   SimConfig(fee_bps=fee_bps, slippage_bps=slip_bps, funding_per_hour=0.0,
                             max_leverage=1.0, init_cash=10_000.0))
    # vectorbt fills at the bar's own price: shift our close-of-bar decisions onto the next bar
    pf = vbt.Portfolio.from_signals(
        pd.Series(d.close), entries=_shift(le), exits=_shift(lx), price=d.open,
        fees=fee_bps * 1e-4, slippage=slip_bps * 1e-4, init_cash=10_000.0, freq="1h")
    ref = pf.value().to_numpy()
    np.testing.assert_allclose(res.equity, ref, rtol=1e-9, atol=0)
    assert len(res.trades) == pf.trades.count()


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("fee_bps, slip_bps", [(4.5, 0.0), (4.5, 3.0)])
def test_long_and_short_fixed_units_equal_vectorbt(seed, fee_bps, slip_bps):
    # sizes small enough that vectorbt never cuts a long to the cash at hand (it has no leverage)
    d = synthetic(seed=seed, bars=2000)
    n = len(d)
    le, lx, se, sx = _random_signals(n, seed)
    eq, *_ = simulate_nb(d.open, d.high, d.low, d.close, np.zeros(n), le, lx, se, sx,
                         np.full(n, 0.05), True, fee_bps * 1e-4, slip_bps * 1e-4,
                         NAN, NAN, NAN, -1, 100.0, 10_000.0)
    pf = vbt.Portfolio.from_signals(
        pd.Series(d.close), entries=_shift(le), exits=_shift(lx), short_entries=_shift(se),
        short_exits=_shift(sx), price=d.open, size=0.05, fees=fee_bps * 1e-4,
        slippage=slip_bps * 1e-4, init_cash=10_000.0, freq="1h")
    np.testing.assert_allclose(eq, pf.value().to_numpy(), rtol=1e-9, atol=0)


def _bars(rows, funding=None):
    a = np.array(rows, dtype=float)
    n = len(a)
    return Dataset(np.arange(n, dtype=np.int64) * 3_600_000, a[:, 0].copy(), a[:, 1].copy(),
                   a[:, 2].copy(), a[:, 3].copy(), np.ones(n), "1h", funding)


def _run(d, strategy, le=(), se=(), lx=(), sx=(), size=1.0, **cfg):
    n = len(d)

    def mask(idx):
        m = np.zeros(n, bool)
        m[list(idx)] = True
        return m

    sig = Signals(mask(le), mask(lx), mask(se), mask(sx), np.full(n, size))
    base = dict(fee_bps=0.0, slippage_bps=0.0, funding_per_hour=0.0, init_cash=1000.0,
                max_leverage=10.0)
    base.update(cfg)
    return simulate(strategy, sig, d, SimConfig(**base))


FLAT = [100, 100, 100, 100]


def test_stop_wins_when_stop_and_take_profit_share_a_bar():
    d = _bars([FLAT, FLAT, [100, 106, 94, 100], FLAT])
    r = _run(d, Strategy(stop_loss=0.05, take_profit=0.05), le=[0])
    (t,) = r.trades
    assert t[T_REASON] == EXIT_STOP and t[T_EXIT_PX] == pytest.approx(95.0)
    assert r.equity[-1] == pytest.approx(950.0)


def test_a_gap_through_the_stop_fills_at_the_open():
    d = _bars([FLAT, FLAT, [90, 91, 88, 90], FLAT])
    r = _run(d, Strategy(stop_loss=0.05), le=[0])
    assert r.trades[0, T_EXIT_PX] == pytest.approx(90.0)
    assert r.equity[-1] == pytest.approx(900.0)


def test_take_profit_inside_the_bar_and_short_stop():
    d = _bars([FLAT, FLAT, [100, 106, 99, 101], FLAT])
    r = _run(d, Strategy(take_profit=0.05), le=[0])
    assert r.trades[0, T_REASON] == EXIT_TAKE_PROFIT and r.equity[-1] == pytest.approx(1050.0)
    r = _run(d, Strategy(stop_loss=0.04), se=[0])
    assert r.trades[0, T_REASON] == EXIT_STOP and r.trades[0, T_EXIT_PX] == pytest.approx(104.0)
    assert r.equity[-1] == pytest.approx(960.0)


def test_trailing_stop_follows_the_best_price_of_earlier_bars():
    d = _bars([FLAT, FLAT, [100, 110, 100, 109], [109, 109, 104, 105], FLAT])
    r = _run(d, Strategy(trailing_stop=0.05), le=[0])
    (t,) = r.trades
    assert t[T_REASON] == EXIT_TRAILING and t[T_EXIT_IDX] == 3
    assert t[T_EXIT_PX] == pytest.approx(104.5)


def test_max_hold_exits_at_the_open_after_n_bars():
    d = _bars([[100 + i] * 4 for i in range(8)])
    r = _run(d, Strategy(max_hold=3), le=[0])
    (t,) = r.trades
    assert t[T_REASON] == EXIT_MAX_HOLD and t[T_EXIT_IDX] == 4  # entered bar 1, held 1, 2, 3
    assert t[T_EXIT_PX] == 104


def test_fees_slippage_and_funding_by_hand():
    d = _bars([FLAT] * 4, funding=np.full(4, 0.001))
    r = _run(d, Strategy(), le=[0], lx=[2], fee_bps=10.0, slippage_bps=10.0)
    buy = 100 * 1.001
    units = 1000 / (buy * 1.001)
    cash = 1000 - units * buy * 1.001
    cash -= units * 100 * 0.001  # funding at bar 1's close
    cash -= units * 100 * 0.001  # and bar 2's
    sell = 100 * 0.999
    cash += units * sell * (1 - 0.001)
    assert r.equity[-1] == pytest.approx(cash, rel=1e-12)
    assert r.trades[0, T_PNL] == pytest.approx(cash - 1000, rel=1e-9)
    # shorts receive positive funding
    r = _run(d, Strategy(), se=[0], funding_per_hour=0.0)
    assert r.equity[-1] > 1000.0


def test_constant_funding_fallback_scales_with_the_bar_length():
    d = _bars([FLAT] * 3)
    r = _run(d, Strategy(), le=[0], funding_per_hour=0.0001)
    assert r.equity[-1] == pytest.approx(1000 - 2 * 1000 * 0.0001)


def test_leverage_is_capped_at_entry():
    d = _bars([FLAT, FLAT, [110] * 4])
    r = _run(d, Strategy(), le=[0], size=5.0, max_leverage=2.0)
    assert r.position[1] == pytest.approx(20.0)
    assert r.equity[-1] == pytest.approx(1200.0)


def test_opposite_entry_reverses_and_conflicts_cancel():
    d = _bars([[100 + i] * 4 for i in range(6)])
    r = _run(d, Strategy(), le=[0], se=[2])
    assert r.position[1] > 0 and r.position[3] < 0 and len(r.trades) == 2
    r = _run(d, Strategy(), le=[0], lx=[0])
    assert not r.position.any()


def test_a_wiped_out_account_stops_trading():
    d = _bars([FLAT, FLAT, [40, 40, 40, 40], [100] * 4, [300] * 4])
    r = _run(d, Strategy(), le=[0, 3], size=2.0)
    assert r.equity[2] == 0.0 and r.equity[-1] == 0.0 and not r.position[2:].any()
    (t,) = r.trades
    assert t[T_REASON] == EXIT_LIQUIDATED and t[T_EXIT_IDX] == 2
    assert t[T_PNL] == pytest.approx(20 * (40 - 100)) and t[T_RET] == pytest.approx(-0.6)


def test_strategy_file_risk_genes_reach_the_kernel():
    s = parse_strategy("(strategy (long-entry true) (stop-loss 0.01) (max-hold 5))")
    d = synthetic(seed=1, bars=300)
    from quant.signals import signals_for

    r = simulate(s, signals_for(s, d), d)
    assert len(r.trades) > 10
    held = r.trades[:, 1] - r.trades[:, 0]
    assert held.max() <= 5


@pytest.mark.parametrize("seed", range(6))
def test_fast_paths_agree_with_the_general_path(seed):
    # The kernel takes a short path on bars where no level is touched: stops that are never
    # reached must give exactly the run without stops, and near ones must trade more.
    d = synthetic(seed=seed, bars=1500)
    n = len(d)
    le, lx, se, sx = _random_signals(n, seed + 10, p=0.03)
    sig = Signals(le, lx, se, sx, np.full(n, 0.8))
    cfg = SimConfig(funding_per_hour=1e-5)
    far = simulate(Strategy(stop_loss=0.999, take_profit=99.0, trailing_stop=0.999), sig, d, cfg)
    none = simulate(Strategy(), sig, d, cfg)
    np.testing.assert_allclose(far.equity, none.equity, rtol=1e-12)
    near = simulate(Strategy(stop_loss=0.01, take_profit=0.02, trailing_stop=0.015), sig, d, cfg)
    assert len(near.trades) > len(none.trades)


def test_stop_and_reverse_every_bar_fits_the_trade_buffer():
    # Reversal at every open and a stop hit in the same bar: up to two trades per bar. The
    # kernel does not bounds-check, so the buffer size is the only guard (a too-small one once
    # corrupted the heap).
    from quant.sim import trade_capacity

    d = synthetic(seed=8, bars=400)
    n = len(d)
    le = np.zeros(n, bool)
    se = np.zeros(n, bool)
    le[::2] = True
    se[1::2] = True
    no = np.zeros(n, bool)
    r = simulate(Strategy(stop_loss=1e-6), Signals(le, no, se, no, np.ones(n)), d,
                 SimConfig(slippage_bps=0.0))
    assert n - 2 <= len(r.trades) <= trade_capacity(n)
    r = simulate(Strategy(), Signals(le, no, se, no, np.ones(n)), d)
    assert len(r.trades) == n - 1  # a reversal at every open from bar 1, one open at the end
