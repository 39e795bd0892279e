"""The backtest benchmark runs end to end in its tiny mode (figures are not judged here)."""

from __future__ import annotations

import json

from organism.cli.main import main


def test_bench_backtest_quick_reports_every_key(capsys):
    assert main(["bench", "backtest", "--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["sizes"]
    for key in ("bars", "evals_per_s", "vectorbt_single_per_s", "vectorbt_batch_per_s",
                "peak_rss_mb"):
        assert row[key] > 0, key
