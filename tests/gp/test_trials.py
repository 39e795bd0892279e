"""The trial counter counts distinct genomes exactly in 8 bytes each, and keeps the variance of
their per-bar Sharpe for the deflated Sharpe."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.genome import strategy_hash
from quant.gp.seeding import template
from quant.gp.trials import TrialCounter, digest_of_hash, genome_digest


@given(st.lists(st.integers(0, 2**64 - 1), max_size=300), st.integers(1, 64))
def test_count_is_exact_across_buffer_merges(digests, merge_at):
    tc = TrialCounter()
    tc._MERGE_AT = merge_at
    new = [tc.add(d) for d in digests]
    assert tc.count == len(set(digests))
    assert sum(new) == len(set(digests))
    for d in digests:
        assert d in tc


def test_sharpe_variance_counts_each_distinct_trial_once():
    tc = TrialCounter()
    rng = np.random.default_rng(0)
    sharpes = rng.normal(0.0, 0.02, 500)
    for i, s in enumerate(sharpes):
        tc.add(i, float(s))
        tc.add(i, 99.0)  # a re-evaluation of the same genome changes nothing
    assert tc.count == 500
    assert tc.sharpe_variance == pytest.approx(float(np.var(sharpes, ddof=1)), rel=1e-9)


def test_memory_is_eight_bytes_per_genome_and_state_round_trips():
    tc = TrialCounter()
    for i in range(20_000):
        tc.add(i * 7919, 0.001 * (i % 13))
    tc.to_bytes()  # merges the buffer
    assert tc.nbytes == 8 * 20_000
    back = TrialCounter.from_bytes(tc.to_bytes())
    assert back.count == tc.count
    assert back.sharpe_variance == pytest.approx(tc.sharpe_variance)
    assert (7919 * 5) in back and 3 not in back


def test_digest_is_the_canonical_hash_prefix():
    s = template("sma-cross")
    assert genome_digest(s) == digest_of_hash(strategy_hash(s)) < 2**64
