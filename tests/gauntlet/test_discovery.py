"""Pieces of the honest-discovery benchmark (the benchmark itself is `organism bench discovery`)."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from organism.bench.discovery import add_arguments, family_sample, run
from quant.data import synthetic
from quant.gauntlet.search import random_search


def test_family_sample_spans_the_search_best_first():
    pool = [(f"s{i}", float(i)) for i in range(100)] + [("s99", 99.0), ("bad", -math.inf)]
    fam = family_sample(pool, 5)
    assert fam == ["s99", "s74", "s49", "s24", "bad"]  # ranks 0, 25, 50, 75, 100 of 101
    assert family_sample(pool[:3], 5) == ["s2", "s1", "s0"]


def test_random_search_counts_distinct_trials_and_their_sharpe_variance():
    ds = synthetic(seed=1, bars=3000)
    res = random_search(ds, 40, np.random.default_rng(0))
    assert res.trial_count == 40 == len(res.ranked)
    sharpes = [t.sharpe for t in res.ranked]
    assert sharpes == sorted(sharpes, reverse=True)
    per_bar = np.array([t.sharpe_per_bar for t in res.ranked])
    assert res.sharpe_variance == pytest.approx(np.var(per_bar, ddof=1))


@pytest.mark.benchmark
def test_discovery_benchmark_quick_run_reports_every_key():
    p = argparse.ArgumentParser()
    add_arguments(p)
    out = run(p.parse_args(["--quick", "--workers", "1", "--search", "random"]))
    for key in ("false_discovery_rate", "power", "naive_false_discovery_rate", "naive_power",
                "seeds", "validation_median_s"):
        assert key in out
