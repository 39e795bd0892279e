"""`organism evolve` offline: reproducible under a seed whatever the worker count, a hall of fame
with DSL text and in-sample metrics, the trial count in the JSON, one-line errors."""

from __future__ import annotations

import json

from marketdata.datasets import load_dataset
from organism.cli.main import main
from quant.dsl import parse_strategy
from quant.genome import strategy_hash

ARGS = ["evolve", "--data", "planted:seed=2,bars=2000", "--generations", "3", "--population",
        "12", "--islands", "2", "--seed", "5", "--quiet", "--hall-of-fame", "4"]


def test_same_seed_same_json_with_one_or_two_workers(tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    shown = capsys.readouterr().out
    assert main([*ARGS, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    a = (tmp_path / "a" / "evolution.json").read_text()
    assert a == (tmp_path / "b" / "evolution.json").read_text()
    report = json.loads(a)
    assert report["trial_count"] >= 12 and report["sharpe_variance"] > 0
    assert report["in_sample_bars"] == 1200
    t = load_dataset("planted:seed=2,bars=2000").time_ms  # the bars searched: validation's
    assert report["searched"] == {"start": int(t[0]) * 10**6, "end": int(t[1199]) * 10**6,
                                  "bars": 1200}
    hof = report["hall_of_fame"]
    assert 1 <= len(hof) <= 4
    for m in hof:
        s = parse_strategy(m["dsl"])
        assert strategy_hash(s) == m["genome_hash"]
        assert m["strategy_id"].startswith("gp_")
        assert {"sharpe", "max_drawdown", "trades", "win_rate"} <= set(m["in_sample"])
        assert m["in_sample"]["bars"] == 1200
    assert "hall of fame" in shown and hof[0]["strategy_id"] in shown and "(strategy" in shown


def test_seed_files_and_parameter_ga(tmp_path, capsys):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "mine.dsl").write_text(
        "(strategy (long-entry (> close (sma close 30))) (long-exit (< close (sma close 30))))")
    assert main([*ARGS, "--out", str(tmp_path / "s"), "--workers", "1",
                 "--seed-strategies", str(seeds)]) == 0
    assert main([*ARGS, "--out", str(tmp_path / "g"), "--workers", "1", "--mode", "ga",
                 "--template", str(seeds / "mine.dsl")]) == 0
    report = json.loads((tmp_path / "g" / "evolution.json").read_text())
    assert report["algorithm_type"] == "ga"
    for m in report["hall_of_fame"]:
        assert m["strategy_id"].startswith("ga_")
        assert "(> close (sma close" in m["dsl"]


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["evolve", "--data", "nonsense", "--out", str(tmp_path)]) == 2
    assert main(["evolve", "--data", "synthetic:bars=100", "--out", str(tmp_path)]) == 2
    assert main([*ARGS, "--population", "2", "--out", str(tmp_path)]) == 2
    assert main([*ARGS, "--seed-strategies", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert all(line.startswith("organism evolve: ") for line in err.strip().splitlines())
