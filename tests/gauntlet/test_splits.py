"""Stage boundaries, purge gaps and look-backs."""

from __future__ import annotations

import pytest

from quant.dsl import parse_strategy
from quant.gauntlet.splits import SplitError, make_splits, node_lookback, strategy_lookback


def _tree(text: str):
    return parse_strategy(f"(strategy (long-entry {text}))").long_entry


@pytest.mark.parametrize("text, bars", [
    ("(> close (sma close 50))", 50),
    ("(cross-above (sma close 10) (sma close 50))", 51),  # a cross reads the previous bar too
    ("(> (sma (rsi close 14) 50) 50)", 64),  # nested windows add up
    ("(> (macd-hist close 12 26 9) 0)", 47),  # several windows of one primitive add up
    ("(> returns 0)", 1),
    ("(and (> (lag close 30) close) (< (atr 14) (atr 100)))", 100),
])
def test_lookback_by_hand(text, bars):
    assert node_lookback(_tree(text)) == bars


def test_strategy_lookback_includes_vol_target_window():
    s = parse_strategy("(strategy (long-entry (> close (sma close 20))) (size (vol-target 0.4 72)))")
    assert strategy_lookback(s) == 73


def test_splits_by_hand():
    sp = make_splits(1000, purge=30, windows=4)
    assert (sp.in_sample.start, sp.in_sample.stop) == (0, 600)
    assert (sp.out_of_sample.start, sp.out_of_sample.stop) == (630, 800)
    assert (sp.walk_forward.start, sp.walk_forward.stop) == (830, 1000)
    assert [(w.start, w.stop) for w in sp.windows] == [(830, 872), (872, 915), (915, 957),
                                                      (957, 1000)]


@pytest.mark.parametrize("n, purge, k", [(26280, 0, 4), (26280, 739, 4), (5000, 100, 6), (997, 3, 1)])
def test_purge_gaps_separate_every_stage_and_windows_tile_walk_forward(n, purge, k):
    sp = make_splits(n, purge, 0.6, 0.2, k)
    assert sp.in_sample.start == 0 and sp.in_sample.stop == int(n * 0.6)
    assert sp.out_of_sample.start - sp.in_sample.stop == purge
    assert sp.walk_forward.start - sp.out_of_sample.stop == purge
    assert sp.walk_forward.stop == n
    assert sp.windows[0].start == sp.walk_forward.start and sp.windows[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(sp.windows, sp.windows[1:]))
    assert len(sp.windows) == k


def test_too_short_history_is_refused_with_the_numbers():
    with pytest.raises(SplitError, match="out-of-sample stage has 0 bars after a purge gap of 300"):
        make_splits(1000, purge=300)
