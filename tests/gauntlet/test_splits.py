"""Stage boundaries, purge gaps and look-backs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.dsl import parse_strategy
from quant.gauntlet.splits import (
    Span,
    SplitError,
    make_splits,
    node_lookback,
    searched_span,
    strategy_lookback,
)
from schemas import BarRange


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


def test_a_searched_span_is_the_in_sample_and_the_later_stages_follow_it():
    sp = make_splits(5000, purge=30, in_sample=Span(2000, 3200))
    assert (sp.in_sample.start, sp.in_sample.stop) == (2000, 3200)
    # the 1800 bars after it split out-of-sample : walk-forward as 0.2 : 0.2
    assert (sp.out_of_sample.start, sp.out_of_sample.stop) == (3230, 4100)
    assert (sp.walk_forward.start, sp.walk_forward.stop) == (4130, 5000)
    # a span that is the leading 60 % gives the same stages as the fractions
    assert make_splits(1000, 30, in_sample=Span(0, 600)) == make_splits(1000, 30)
    with pytest.raises(SplitError, match=r"\(100 bars after the 1200 the search saw\)"):
        make_splits(3300, purge=40, in_sample=Span(2000, 3200))


@given(st.integers(0, 10_000), st.integers(1, 5_000), st.integers(0, 10_000))
def test_the_searched_span_holds_exactly_the_bars_in_the_range(lo, n, skip):
    times = 1_700_000_000_000 + 3_600_000 * np.arange(20_000)
    times = np.delete(times, np.arange(skip, min(skip + 50, 20_000)))  # a hole
    start, end = int(times[lo]), int(times[min(lo + n, len(times) - 1)])
    span = searched_span(times, BarRange(start=start * 10**6, end=end * 10**6, bars=n))
    inside = times[span.start:span.stop]
    assert inside[0] == start and inside[-1] == end
    assert ((times >= start) & (times <= end)).sum() == len(span)


def test_a_searched_range_outside_the_history_is_named():
    times = 1_700_000_000_000 + 3_600_000 * np.arange(100)
    with pytest.raises(SplitError, match="holds none of the 5 bars the search saw"):
        searched_span(times, BarRange(start=1, end=2, bars=5))
