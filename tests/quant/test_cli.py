"""`organism backtest` and `organism bench backtest --quick`, through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from organism.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.dsl")))
def test_backtest_json_for_every_example(name, capsys):
    rc = main(["backtest", "--strategy", str(EXAMPLES / name), "--data",
               "synthetic:seed=1,bars=1500", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("sharpe", "total_return", "max_drawdown", "trades", "win_rate"):
        assert key in out
    assert out["bars"] == 1500


def test_backtest_table_and_equity_csv(tmp_path, capsys):
    csv = tmp_path / "eq.csv"
    rc = main(["backtest", "--strategy", str(EXAMPLES / "sma_cross.dsl"), "--data",
               "synthetic:seed=2,bars=800", "--fees-bps", "1.5", "--equity-csv", str(csv)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Sharpe" in out and "buy and hold" in out
    lines = csv.read_text().splitlines()
    assert lines[0] == "time_ms,equity,return,position" and len(lines) == 801


def test_fees_change_the_result(capsys):
    args = ["backtest", "--strategy", str(EXAMPLES / "sma_cross.dsl"), "--data",
            "synthetic:seed=2,bars=800", "--json"]
    main(args + ["--fees-bps", "0"])
    free = json.loads(capsys.readouterr().out)["total_return"]
    main(args + ["--fees-bps", "20"])
    dear = json.loads(capsys.readouterr().out)["total_return"]
    assert dear < free


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.dsl"
    bad.write_text("(strategy\n  (long-entry (smaa close 10)))\n")
    assert main(["backtest", "--strategy", str(bad), "--data", "synthetic"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.dsl:2:16: unknown primitive 'smaa'" in err
    assert main(["backtest", "--strategy", str(tmp_path / "none.dsl"), "--data", "x"]) == 2
    assert "not found" in capsys.readouterr().err
    good = EXAMPLES / "sma_cross.dsl"
    assert main(["backtest", "--strategy", str(good), "--data", "csv:/missing.csv"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_backtest_reads_the_candle_store_under_the_configured_data_dir(tmp_path, capsys):
    import pandas as pd

    from quant.data import synthetic

    d = synthetic(seed=4, bars=600)
    folder = tmp_path / "store" / "candles" / "coin=ETH" / "interval=1h"
    folder.mkdir(parents=True)
    pd.DataFrame({"t": d.time_ms, "o": d.open, "h": d.high, "l": d.low, "c": d.close,
                  "v": d.volume}).to_parquet(folder / "part-0.parquet")
    cfg = tmp_path / "organism.toml"
    cfg.write_text(f'[organism]\ndata_dir = "{tmp_path / "store"}"\n')
    rc = main(["--config", str(cfg), "backtest", "--strategy", str(EXAMPLES / "sma_cross.dsl"),
               "--data", "store:ETH/1h", "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["bars"] == 600
