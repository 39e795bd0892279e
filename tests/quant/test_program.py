"""Signal programs (quant.program) decide bit for bit what evaluating the trees in numpy decides,
and the batch path (quant.batch) gives bit for bit the metrics, regime and segment Sharpe ratios
of one strategy at a time through the reference code (simulate, compute_metrics, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.batch import BatchBuffers, evaluate_batch
from quant.data import synthetic
from quant.dsl import parse_strategy
from quant.gp.fitness import SEGMENTS, InSampleEvaluator, finite, segment_sharpe
from quant.gp.regimes import REGIMES, regime_labels, regime_sharpe
from quant.metrics import KEYS, compute_metrics
from quant.program import BLOCK
from quant.random_genome import random_strategy
from quant.signals import IndicatorCache, compile_signals, evaluate_signals
from quant.sim import SimConfig, Workspace, _action_codes_nb, simulate

FIELDS = ("long_entry", "long_exit", "short_entry", "short_exit", "size")
MARKET = synthetic(seed=5, bars=3 * BLOCK + 7)


@given(seed=st.integers(0, 2**32 - 1),
       bars=st.sampled_from([1, 2, 3, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 2, len(MARKET)]))
def test_programs_give_the_numpy_signals(seed, bars):
    data = MARKET.slice(0, bars)
    cache = IndicatorCache(data)
    strategy = random_strategy(np.random.default_rng(seed), depth=5, max_window=60)
    ref = evaluate_signals(strategy, cache)
    # first sight (comparisons in the kernel), then again (kept as atoms), then from the cache
    for _ in range(3):
        got = compile_signals(strategy, cache)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)


CORNERS = [
    # crosses over arithmetic across block edges, NaN warm-up, protected division, constants
    "(strategy (long-entry (cross-above (+ close (* (sma close 30) 0.001)) (ema close 9)))"
    " (long-exit (cross-below (/ (rsi close 14) (- close close)) 1.0))"
    " (short-entry (and (not (> (zscore close 50) 0.5)) (or true (< returns 0.0))))"
    " (short-exit (cross-above (* (- high low) (atr 14)) 2.0)))",
    "(strategy (long-entry (exhausted-up close 4 3)) (long-exit (squeeze-off 20 2.0 1.5))"
    " (short-entry (cross-below (lag close 1) close)) (short-exit false)"
    " (size (vol-target 0.5 48)))",
    "(strategy (long-entry false) (long-exit true) (short-entry true) (short-exit false))",
]


@pytest.mark.parametrize("text", CORNERS)
def test_corner_programs_give_the_numpy_signals(text):
    strategy = parse_strategy(text)
    for bars in (1, BLOCK, BLOCK + 1, len(MARKET)):
        cache = IndicatorCache(MARKET.slice(0, bars))
        ref = evaluate_signals(strategy, cache)
        for _ in range(3):  # comparisons in the kernel, then as cached atoms
            got = compile_signals(strategy, cache)
            for name in FIELDS:
                np.testing.assert_array_equal(getattr(got, name), getattr(ref, name),
                                              err_msg=f"{name} at {bars} bars")


def _reference(strategy, data, config, labels):
    """One strategy through the reference code: numpy signals, simulate, metrics, numpy
    regime and segment statistics."""
    cache = IndicatorCache(data)
    res = simulate(strategy, evaluate_signals(strategy, cache), data, config,
                   Workspace(data, config))
    m = compute_metrics(res)
    return ([m[k] for k in KEYS], regime_sharpe(res.returns, labels, data.bars_per_year),
            segment_sharpe(res.returns, SEGMENTS, data.bars_per_year))


@pytest.mark.parametrize("bars", [40, BLOCK + 3, 3000])
def test_the_batch_kernel_equals_the_reference_path(bars):
    data = synthetic(seed=bars, bars=bars)
    rng = np.random.default_rng(bars)
    strategies = [random_strategy(rng, depth=4, max_window=30) for _ in range(40)]
    strategies += [parse_strategy(t) for t in CORNERS]
    config = SimConfig()
    labels = regime_labels(data)
    cache = IndicatorCache(data)
    buffers = BatchBuffers(bars, len(strategies))
    runs = [evaluate_batch(strategies, cache, config, Workspace(data, config).funding, buffers,
                           labels=labels, n_regimes=len(REGIMES), n_segments=SEGMENTS)
            for _ in range(3)]  # comparisons in the kernel, then as cached atoms
    for got in runs[1:]:
        np.testing.assert_array_equal(got.metrics, runs[0].metrics)
        np.testing.assert_array_equal(got.regimes, runs[0].regimes)
    got = runs[0]
    for j, s in enumerate(strategies):
        metrics, regimes, segments = _reference(s, data, config, labels)
        np.testing.assert_array_equal(got.metrics[j], np.array(metrics, dtype=float))
        assert tuple(got.regimes[j]) == regimes
        assert tuple(got.segments[j]) == segments


def test_the_in_sample_evaluator_equals_the_reference_path():
    data = synthetic(seed=2, bars=2500)
    ev = InSampleEvaluator(data)
    rng = np.random.default_rng(3)
    strategies = [random_strategy(rng, depth=4, max_window=60) for _ in range(70)]
    results = ev.evaluate_many(strategies)
    for s, r in zip(strategies, results):
        metrics, regimes, segments = _reference(s, ev.data, SimConfig(), ev.labels)
        m = dict(zip(KEYS, metrics))
        assert r.values == tuple(finite(m[k]) for k in r.metrics())
        assert r.regimes == tuple(finite(x) for x in regimes)
        assert r.segments == tuple(finite(x) for x in segments)
        assert ev.evaluate(s) == r


def test_codes_equal_the_codes_of_the_signals():
    cache = IndicatorCache(MARKET)
    rng = np.random.default_rng(9)
    from quant.program import ProgramBuilder, Registers, decide_nb

    for _ in range(30):
        s = random_strategy(rng, depth=5, max_window=60)
        prog = ProgramBuilder(cache)
        prog.add(s)
        regs = Registers()
        regs.fit(prog)
        ins, starts, ends, roots, kon, addr = prog.arrays()
        codes = np.empty(len(MARKET), np.uint8)
        decide_nb(ins, starts[0], ends[0], kon, roots[0], addr, len(MARKET), regs.fregs,
                  regs.bregs, codes)
        ref = evaluate_signals(s, cache)
        want = np.empty(len(MARKET), np.uint8)
        _action_codes_nb(ref.long_entry, ref.long_exit, ref.short_entry, ref.short_exit, want)
        np.testing.assert_array_equal(codes, want)
