"""No look-ahead: cutting the data at any bar leaves every earlier signal (and fill) unchanged."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from quant.data import synthetic
from quant.dsl import parse_node, parse_strategy
from quant.primitives import PRIMITIVES
from quant.random_genome import random_strategy
from quant.signals import IndicatorCache, compile_signals, signals_for
from quant.sim import SimConfig, simulate
from quant.types import Kind

MARKET = synthetic(seed=11, bars=700)
FIELDS = ("long_entry", "long_exit", "short_entry", "short_exit", "size")


@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(2, len(MARKET)))
def test_truncating_the_data_never_changes_earlier_signals(seed, cut):
    strategy = random_strategy(np.random.default_rng(seed), depth=4, max_window=120)
    full = signals_for(strategy, MARKET)
    part = signals_for(strategy, MARKET.slice(0, cut))
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[:cut], err_msg=name)
    # and the simulator only uses the past too: fills at t come from decisions at t-1
    cfg = SimConfig()
    a = simulate(strategy, full, MARKET, cfg)
    b = simulate(strategy, part, MARKET.slice(0, cut), cfg)
    np.testing.assert_array_equal(b.equity, a.equity[:cut])
    np.testing.assert_array_equal(b.position, a.position[:cut])


def test_every_series_primitive_is_causal():
    # One tree per primitive with a fixed cut, so a broken kernel is named in the failure.
    cut = 400
    part = MARKET.slice(0, cut)
    for key, p in PRIMITIVES.items():
        args = []
        for a in p.args:
            if a.kind is Kind.WINDOW:
                args.append(str(int(min(a.hi, max(a.lo, 14)))))
            elif a.kind is Kind.THRESHOLD:
                args.append(str(float(a.lo if a.lo is not None else 1.0)))
            elif a.kind is Kind.SERIES:
                args.append("close")
            else:
                args.append("(> close open)")
        text = f"({p.symbol} {' '.join(args)})" if args else p.symbol
        node = parse_node(text, p.ret)
        full = np.asarray(IndicatorCache(MARKET).evaluate(node))
        short = np.asarray(IndicatorCache(part).evaluate(node))
        np.testing.assert_array_equal(short, full[:cut], err_msg=key)


def test_the_cache_computes_each_indicator_once_and_stays_bounded():
    s1 = parse_strategy("(strategy (long-entry (> (sma close 20) (ema close 20)))"
                        " (long-exit (< (sma close 20) (ema close 20))))")
    cache = IndicatorCache(MARKET)
    compile_signals(s1, cache)
    assert cache.misses == 2 and cache.hits == 2 and len(cache) == 2
    compile_signals(s1, cache)  # the comparisons recur: kept, from the cached indicators
    assert cache.misses == 2 and cache.hits == 6 and len(cache) == 4
    compile_signals(s1, cache)  # and now read from the cache themselves
    assert cache.misses == 2 and cache.hits == 8 and len(cache) == 4
    small = IndicatorCache(MARKET, max_bytes=3 * MARKET.close.nbytes)
    for n in range(2, 30):
        small.evaluate(parse_node(f"(sma close {n})", Kind.SERIES))
    assert small.nbytes <= 3 * MARKET.close.nbytes and len(small) == 3


def test_cached_arrays_are_read_only():
    cache = IndicatorCache(MARKET)
    arr = cache.evaluate(parse_node("(sma close 5)", Kind.SERIES))
    assert not arr.flags.writeable


def test_signals_are_decided_on_the_close_of_their_bar():
    # cross-above fires on the bar whose close completes the cross, not before
    s = parse_strategy("(strategy (long-entry (cross-above close (lag close 1))))")
    sig = signals_for(s, MARKET)
    c = MARKET.close
    expected = np.r_[False, False, (c[2:] > c[1:-1]) & (c[1:-1] <= c[:-2])]
    np.testing.assert_array_equal(sig.long_entry, expected)
