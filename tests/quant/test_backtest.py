"""The fast population path (shared cache, reused buffers, threads) agrees with the plain one."""

from __future__ import annotations

import math

import numpy as np

from quant.backtest import Evaluator, evaluate
from quant.data import synthetic
from quant.random_genome import random_strategy

MARKET = synthetic(seed=21, bars=900)


def _same(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_evaluator_matches_a_fresh_evaluation_and_threads_change_nothing():
    rng = np.random.default_rng(3)
    pop = [random_strategy(rng, depth=4, max_window=100) for _ in range(40)]
    ev = Evaluator(MARKET)
    fresh = [evaluate(s, MARKET).metrics for s in pop]
    seq = ev.metrics_many(pop)
    par = ev.metrics_many(pop, workers=2, chunk=8)  # several chunks: pipelined
    assert all(_same(a, b) for a, b in zip(fresh, seq))
    assert all(_same(a, b) for a, b in zip(seq, par))
    assert any(m["trades"] > 0 for m in seq)
