"""The strategy store keeps every strategy that passed and only the newest failed ones."""

from __future__ import annotations

import os

from agents.validation.store import StoredStrategy, StrategyStore
from schemas import ValidationReport


def _record(sid: str, verdict: str) -> StoredStrategy:
    report = ValidationReport(ts_event=1, ts_init=1, strategy_id=sid, verdict=verdict,
                              reasons=[], stages=[], gates=[], score=0.0, trial_count=1)
    return StoredStrategy(strategy_id=sid, dsl="(strategy)", data_spec="synthetic",
                          report=report)


def test_failed_strategies_are_pruned_to_the_newest_and_passed_ones_stay(tmp_path):
    store = StrategyStore(tmp_path, keep_failed=3)
    for i in range(8):
        path = store.put(_record(f"gp_{i}_fail", "fail"))
        os.utime(path, ns=(i * 10**9, i * 10**9))  # distinct ages, whatever the clock
        store.put(_record(f"gp_{i}_pass", "pass"))
    store.prune_failed()
    assert sorted(p.stem for p in (tmp_path / "failed").glob("*.json")) == [
        "gp_5_fail", "gp_6_fail", "gp_7_fail"]
    assert len(list(tmp_path.glob("*.json"))) == 8  # every pass is kept
    assert store.get("gp_7_fail").report.verdict == "fail"
    assert store.get("gp_0_fail") is None
    assert "gp_6_fail" in store.ids() and "gp_0_pass" in store.ids()


def test_a_revalidated_strategy_lives_in_one_place(tmp_path):
    store = StrategyStore(tmp_path, keep_failed=10)
    store.put(_record("gp_1_abc", "fail"))
    store.put(_record("gp_1_abc", "pass"))
    assert store.get("gp_1_abc").report.verdict == "pass"
    assert not (tmp_path / "failed" / "gp_1_abc.json").exists()
    store.put(_record("gp_1_abc", "fail"))
    assert not (tmp_path / "gp_1_abc.json").exists()
    assert store.ids() == ["gp_1_abc"]


def test_pruning_happens_as_failures_arrive(tmp_path):
    store = StrategyStore(tmp_path, keep_failed=20)
    for i in range(100):
        store.put(_record(f"gp_{i}_x", "fail"))
    assert len(list((tmp_path / "failed").glob("*.json"))) <= 20 + 2  # pruned every 2 puts
