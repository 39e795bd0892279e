"""`organism bench evolution --quick` runs end to end and reports the keys the issue names."""

from __future__ import annotations

import json

import pytest

from organism.bench.evolution import paired
from organism.cli.main import main

KEYS = {"gp_best_oos_sharpe", "random_best_oos_sharpe", "evals_per_s_1_worker",
        "evals_per_s_2_workers", "evals_per_s_2_nats_workers", "batch_evals_per_s_1_worker"}


@pytest.mark.benchmark
def test_quick_bench_reports_every_key(capsys):
    assert main(["bench", "evolution", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert KEYS <= set(result)
    assert all(result[k] > 0 for k in KEYS if "evals_per_s" in k)
    assert {"gp_best_fresh_sharpe", "random_best_fresh_sharpe", "oracle_oos_sharpe"} <= set(result)
    assert result["gp_vs_random"]["oos"]["seeds"] == len(result["seeds"])


@pytest.mark.benchmark
def test_long_run_memory_is_flat(capsys):
    """Hundreds of generations: resident memory after generation 50 grows by less than 10 %."""
    assert main(["bench", "evolution", "--quick", "--json", "--skip-nats",
                 "--long-generations", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rss_growth_after_gen50"] < 0.10


def test_paired_comparison_counts_wins_and_the_sign_test():
    r = paired([1.0, 2.0, 0.5, 3.0], [0.0, 1.0, 0.5, 1.0])
    assert (r["wins"], r["losses"], r["seeds"]) == (3, 0, 4)
    assert r["mean_diff"] == pytest.approx(1.0)
    assert r["se"] == pytest.approx(0.8164965809 / 2)
    assert r["t"] == pytest.approx(2.0 / 0.8164965809)
    assert r["sign_p"] == pytest.approx(1 / 8)  # the tie is left out: 3 of 3


def test_paired_sign_test_of_no_difference_is_not_significant():
    r = paired([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0])
    assert r["mean_diff"] == 0 and r["sign_p"] == pytest.approx(11 / 16)
    one = paired([1.0], [0.0])
    assert one["se"] is None and one["t"] is None and one["sign_p"] == 0.5
