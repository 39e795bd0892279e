"""The gauntlet end to end: stages, every gate, the verdict and the wire report."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from bus.codec import decode, encode
from quant.gauntlet.config import ValidationConfig
from quant.gauntlet.family import FamilyBook
from quant.gauntlet.gauntlet import gate, join_results, monthly_returns, run_gauntlet
from quant.gauntlet.report import to_report
from quant.gauntlet.stats import expected_max_normal
from quant.sim import BacktestResult


@pytest.fixture(scope="module")
def oracle_result(planted):
    ds, oracle = planted
    return run_gauntlet(oracle, ds, strategy_id="gp_3_0badc0de", trial_count=20)


def test_planted_edge_oracle_passes_every_gate(oracle_result):
    r = oracle_result
    assert r.verdict == "pass", r.reasons
    assert r.reasons == (f"all {sum(g.gated for g in r.gates)} gates passed",)
    assert all(g.passed for g in r.gates if g.gated)
    assert r.score > 50
    assert r.dsr > 0.95 and r.pbo.pbo <= 0.2 and r.lookahead.mismatched_bars == 0


def test_stages_follow_the_splits_and_trade_from_flat(oracle_result):
    r = oracle_result
    sp = r.splits
    assert sp.purge == r.lookback + r.holding >= 48
    for name, span in sp.stages().items():
        assert r.stages[name].span == span
        assert r.stages[name].metrics["bars"] == len(span)
        if len(r.stages[name].trades):
            assert r.stages[name].trades[:, 0].min() >= span.start  # no trade carried in
    assert sum(len(w.span) for w in r.windows) == len(sp.walk_forward)


def test_noise_fails_with_the_deciding_reasons(noise, planted):
    _, oracle = planted
    r = run_gauntlet(oracle, noise, trial_count=20)
    assert r.verdict == "fail"
    failed = [g.gate for g in r.gates if g.gated and not g.passed]
    assert "deflated_sharpe" in failed and "sharpe.out_of_sample" in failed
    assert r.reasons[0].startswith("deflated_sharpe")  # statistics first, then stages
    assert len(r.reasons) == len(failed)


@pytest.mark.parametrize("override, gates", [
    ({"min_sharpe": 50.0}, {"sharpe.in_sample", "sharpe.out_of_sample", "sharpe.walk_forward"}),
    ({"max_drawdown": 0.001}, {"max_drawdown.in_sample", "max_drawdown.out_of_sample",
                               "max_drawdown.walk_forward"}),
    ({"min_trades": 10**6}, {"trades.in_sample", "trades.out_of_sample", "trades.walk_forward"}),
    ({"min_btl_target_sharpe": 0.5}, {"min_backtest_length"}),
])
def test_each_gate_follows_its_threshold(planted, override, gates):
    ds, oracle = planted
    r = run_gauntlet(oracle, ds, trial_count=20, config=ValidationConfig(**override))
    assert {g.gate for g in r.gates if not g.passed} == gates
    assert r.verdict == "fail"


def test_true_trial_count_deflates_the_sharpe(planted):
    ds, oracle = planted
    few = run_gauntlet(oracle, ds, trial_count=20, sharpe_variance=0.001)
    many = run_gauntlet(oracle, ds, trial_count=10**15, sharpe_variance=0.001)
    assert many.dsr < few.dsr and many.sr0_per_bar > few.sr0_per_bar
    by = {g.gate: g for g in many.gates}
    assert not by["deflated_sharpe"].passed and "N=1000000000000000" in by["deflated_sharpe"].detail
    assert not by["min_backtest_length"].passed


def test_sharpe_variance_is_the_trials_or_the_null_whichever_is_smaller(planted):
    ds, oracle = planted
    n_is = int(len(ds) * 0.6)
    v_null = 1.0 / (n_is - 1)
    emax = expected_max_normal(1000)
    wide = run_gauntlet(oracle, ds, trial_count=1000, sharpe_variance=100 * v_null)
    assert wide.sr0_per_bar == pytest.approx(math.sqrt(v_null) * emax)
    narrow = run_gauntlet(oracle, ds, trial_count=1000, sharpe_variance=v_null / 4)
    assert narrow.sr0_per_bar == pytest.approx(math.sqrt(v_null / 4) * emax)
    unknown = run_gauntlet(oracle, ds, trial_count=1000)
    assert unknown.sr0_per_bar == wide.sr0_per_bar


def test_pbo_gate_uses_the_family_and_pads_a_small_one(noise, planted):
    _, oracle = planted
    alone = run_gauntlet(oracle, noise, config=ValidationConfig(max_pbo=0.99))
    assert "7 random-genome control(s)" in alone.pbo_detail
    rng = np.random.default_rng(1)
    fam = [rng.standard_normal(len(noise)) * 0.002 for _ in range(9)]
    with_family = run_gauntlet(oracle, noise, family="sma", family_returns=fam,
                               config=ValidationConfig(max_pbo=0.01))
    assert "family sma: 9 other member(s), 12870 CSCV splits" in with_family.pbo_detail
    by = {g.gate: g for g in with_family.gates}
    assert by["pbo"].value == with_family.pbo.pbo and not by["pbo"].passed


def test_cross_market_robustness_is_reported_and_gated_only_on_request(planted, noise):
    ds, oracle = planted
    plain = run_gauntlet(oracle, ds, trial_count=20, other_markets=[noise],
                         config=ValidationConfig(robustness_min_sharpe=50.0))
    g = {x.gate: x for x in plain.gates}["robustness.cross_market"]
    assert not g.passed and not g.gated and plain.verdict == "pass"
    gated = run_gauntlet(oracle, ds, trial_count=20, other_markets=[noise],
                         config=ValidationConfig(robustness_min_sharpe=50.0,
                                                 robustness_gated=True))
    assert gated.verdict == "fail" and gated.reasons[0].startswith("robustness.cross_market")


def test_gate_comparators_and_nan():
    assert gate("x", 2.0, ">", 2.0).passed is False
    assert gate("x", 2.0, ">=", 2.0).passed is True
    assert gate("x", 0.1, "<", 0.1).passed is False
    assert gate("x", 0.0, "==", 0.0).passed is True
    assert gate("x", math.nan, "<=", 1.0).passed is False
    assert gate("pbo", 0.4, "<=", 0.2, "family f").sentence() == "pbo 0.4 > 0.2 (family f)"


def test_join_results_compounds_by_hand():
    def res(rets):
        r = np.array(rets)
        return BacktestResult(100 * np.cumprod(1 + r), r, None, 1.0, 1, np.zeros((0, 9)), 8760, 100.0)

    j = join_results([res([0.1, -0.1]), res([0.5])])
    np.testing.assert_allclose(j.equity, [110.0, 99.0, 148.5])
    assert j.turnover == 2.0 and j.exposed_bars == 2


def test_monthly_returns_by_hand():
    day = 86_400_000
    jan1 = 1_704_067_200_000  # 2024-01-01
    t = np.array([jan1, jan1 + day, jan1 + 31 * day, jan1 + 32 * day])  # Jan, Jan, Feb, Feb
    months, rets = monthly_returns(t, np.array([0.1, 0.1, -0.5, 0.2]))
    assert [str(m) for m in months] == ["2024-01", "2024-02"]
    np.testing.assert_allclose(rets, [1.1 * 1.1 - 1, 0.5 * 1.2 - 1])


def test_family_book_is_bounded_per_family_and_dataset():
    book = FamilyBook(max_members=3)
    for i in range(5):
        book.add("f", "d1", f"s{i}", np.full(4, i))
    book.add("f", "d2", "x", np.zeros(4))
    assert [m[0] for m in book.members("f", "d1")] == [2, 3, 4]
    assert [m[0] for m in book.members("f", "d1", exclude="s3")] == [2, 4]
    assert len(book) == 4


def test_wire_report_round_trips_with_every_stage_and_gate(oracle_result, planted):
    ds, _ = planted
    rep = to_report(oracle_result, ds, ts_event=1_763_712_000_000_000_000)
    assert decode(encode(rep)) == rep
    assert [s.stage for s in rep.stages] == ["in_sample", "out_of_sample", "walk_forward"]
    assert rep.stages[0].end < rep.stages[1].start < rep.stages[1].end < rep.stages[2].start
    assert len(rep.gates) == len(oracle_result.gates) and rep.verdict == "pass"
    assert rep.score_breakdown["performance.sharpe"] <= 15
    raw = msgspec.json.decode(encode(rep))
    assert "NaN" not in str(raw) and raw["strategy_id"] == "gp_3_0badc0de"
