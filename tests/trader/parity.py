"""What the backtest decided at each close, read back from its trade records, and the trader's
model run over the same signals: the two sides of the parity tests."""

from __future__ import annotations

import numpy as np

from agents.trader.model import Bar, BarSignals, Exits, Model, on_close
from quant.data import Dataset
from quant.genome import Strategy
from quant.signals import Signals
from quant.sim import (
    EXIT_END,
    EXIT_LIQUIDATED,
    EXIT_NAMES,
    EXIT_STOP,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
    T_DIR,
    T_ENTRY_IDX,
    T_EXIT_IDX,
    T_REASON,
    SimConfig,
    simulate,
)

INSIDE_BAR = {EXIT_STOP, EXIT_TAKE_PROFIT, EXIT_TRAILING, EXIT_LIQUIDATED}


def masked(sig: Signals, start: int) -> Signals:
    """The signals with every decision before bar `start` removed (the trader starts flat)."""
    parts = []
    for k in ("long_entry", "long_exit", "short_entry", "short_exit"):
        a = getattr(sig, k).copy()
        a[:start] = False
        parts.append(a)
    return Signals(*parts, sig.size)


def backtest_sides(strategy: Strategy, sig: Signals, ds: Dataset, start: int,
                   sim: SimConfig = SimConfig()) -> tuple[np.ndarray, dict[int, str]]:
    """(side held right after each close's decision, i.e. at the next open; exits inside a bar
    by bar index with their reason), from the simulator's trades with decisions before `start`
    removed."""
    res = simulate(strategy, masked(sig, start), ds, sim)
    n = len(ds)
    side = np.zeros(n, dtype=np.int64)
    exits: dict[int, str] = {}
    for tr in res.trades:
        e, x, d, why = int(tr[T_ENTRY_IDX]), int(tr[T_EXIT_IDX]), int(tr[T_DIR]), int(tr[T_REASON])
        if why == EXIT_END:
            x = n
        elif why in INSIDE_BAR:
            exits[x] = EXIT_NAMES[why]
            x = x + 1  # held at the open of the exit bar
        # decision at close t holds the position at the open of t+1: closes e-1 .. x-2
        side[max(e - 1, 0):max(x - 1, 0)] = d
    return side, exits


def bar_signals(sig: Signals, t: int) -> BarSignals:
    size = sig.size[t] if sig.size.shape[0] > 1 else sig.size[0]
    return BarSignals(bool(sig.long_entry[t]), bool(sig.long_exit[t]), bool(sig.short_entry[t]),
                      bool(sig.short_exit[t]), float(size))


def exits_of(strategy: Strategy) -> Exits:
    return Exits(strategy.stop_loss, strategy.take_profit, strategy.trailing_stop,
                 strategy.max_hold)


def model_sides(strategy: Strategy, sig: Signals, ds: Dataset, start: int,
                sim: SimConfig = SimConfig()) -> tuple[np.ndarray, dict[int, str]]:
    """The trader's model over bars start..n-2 (the last close decides nothing in a backtest)."""
    n = len(ds)
    step = ds.bar_seconds * 1000
    m = Model()
    x = exits_of(strategy)
    side = np.zeros(n, dtype=np.int64)
    exits: dict[int, str] = {}
    for t in range(start, n - 1):
        bar = Bar(int(ds.time_ms[t]), float(ds.open[t]), float(ds.high[t]), float(ds.low[t]),
                  float(ds.close[t]))
        m, d = on_close(m, bar, bar_signals(sig, t), x, step, slippage=sim.slippage_bps * 1e-4,
                        max_leverage=sim.max_leverage)
        if d.exit_reason and d.exit_reason not in ("signal", "max-hold"):
            exits[t] = d.exit_reason
        side[t] = m.side
    return side, exits
