"""`organism bench evolution --quick` runs end to end and reports the keys the issue names."""

from __future__ import annotations

import json

import pytest

from organism.cli.main import main

KEYS = {"gp_best_oos_sharpe", "random_best_oos_sharpe", "evals_per_s_1_worker",
        "evals_per_s_2_workers", "evals_per_s_2_nats_workers"}


@pytest.mark.benchmark
def test_quick_bench_reports_every_key(capsys):
    assert main(["bench", "evolution", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert KEYS <= set(result)
    assert all(result[k] > 0 for k in KEYS if k.startswith("evals_per_s"))


@pytest.mark.benchmark
def test_long_run_memory_is_flat(capsys):
    """Hundreds of generations: resident memory after generation 50 grows by less than 10 %."""
    assert main(["bench", "evolution", "--quick", "--json", "--skip-nats",
                 "--long-generations", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rss_growth_after_gen50"] < 0.10
