"""The truncation check finds a decision that reads the future, and passes causal ones."""

from __future__ import annotations

import numpy as np

from quant.data import synthetic
from quant.dsl import parse_strategy
from quant.gauntlet.lookahead import check_lookahead, cut_points
from quant.signals import Signals, signals_for

S = parse_strategy("(strategy (long-entry (> close (sma close 20))) (long-exit (< close (sma close 20))))")


def test_causal_strategy_passes():
    ds = synthetic(seed=2, bars=3000)
    res = check_lookahead(S, ds, signals_for(S, ds), cut_points(3000, 5, 20))
    assert res.mismatched_bars == 0 and res.first_mismatch == -1 and len(res.cuts) == 5


def test_signals_that_peek_at_the_next_close_are_caught():
    ds = synthetic(seed=2, bars=3000)
    honest = signals_for(S, ds)
    peek = np.r_[ds.close[1:] > ds.close[:-1], False]  # "buy if the next close is higher"
    leaky = Signals(peek, ~peek, honest.short_entry, honest.short_exit, honest.size)
    res = check_lookahead(S, ds, leaky, (1000, 2000))
    assert res.mismatched_bars > 0
    assert res.first_mismatch < 1000


def test_cut_points_stay_inside_history():
    cuts = cut_points(1000, 4, 100)
    assert len(cuts) == 4 and all(100 < c < 1000 for c in cuts)
    assert cut_points(3, 4) == ()
