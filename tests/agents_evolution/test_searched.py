"""Evolution's in-sample is validation's in-sample: a candidate carries the bars its search saw,
and validation tests it only on bars after them, however much longer the store has grown."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from agents.evolution.config import EvolutionConfig
from agents.evolution.history import CandleHistory
from agents.evolution.runs import MarketRun
from agents.validation.validator import Validator
from marketdata.datasets import load_dataset
from quant.data import synthetic
from quant.gauntlet.config import ValidationConfig
from quant.gp.fitness import InSampleEvaluator, searched_range
from quant.gp.seeding import template_strategies
from schemas import PerformanceMetrics, StrategyCandidate

MAX_BARS = 2000  # the agent keeps 20,000; the store here holds three times this
STORE_BARS = 3 * MAX_BARS
# every hall-of-fame member becomes a candidate: the limits are not what is tested
LOOSE = EvolutionConfig(max_bars=MAX_BARS, min_bars=200, population=8, islands=1, workers=1,
                        min_trades=1, hof_size=5, candidate_min_bars=1,
                        candidate_min_sharpe=-1e9, candidate_max_drawdown=1.0,
                        candidate_min_win_rate=0.0)


def _store(tmp_path, bars: int = STORE_BARS) -> None:
    d = synthetic(seed=8, bars=bars)
    folder = tmp_path / "candles" / "coin=BTC" / "interval=1h"
    folder.mkdir(parents=True)
    pd.DataFrame({"t": d.time_ms, "o": d.open, "h": d.high, "l": d.low, "c": d.close,
                  "v": d.volume}).to_parquet(folder / "a.parquet")


def _evolve_once(run: MarketRun) -> list[StrategyCandidate]:
    pool = run.open_pool()
    run.search.tell(pool.evaluate(run.search.ask()))
    return run.new_candidates(time.time_ns())


def _stage_times(out, name: str) -> np.ndarray:
    span = out.result.stages[name].span
    return out.dataset.time_ms[span.start:span.stop]


def test_validation_tests_only_bars_after_those_the_search_saw_in_a_store_longer_than_max_bars(
        tmp_path):
    _store(tmp_path)
    history = CandleHistory("BTC", "1h", MAX_BARS)  # as the agent follows a coin
    history.load(load_dataset("store:BTC/1h", tmp_path))
    run = MarketRun("BTC-1h", "BTC", "1h", "store:BTC/1h", history.dataset(), LOOSE,
                    template_strategies())
    try:
        candidates = _evolve_once(run)
    finally:
        run.close()
    assert candidates
    seen = InSampleEvaluator(run.dataset).data.time_ms  # every bar the search read
    assert seen[0] == load_dataset("store:BTC/1h", tmp_path).time_ms[STORE_BARS - MAX_BARS]

    validator = Validator(ValidationConfig(), tmp_path)
    validated = 0
    for c in candidates:
        out = validator.validate(c, time.time_ns())
        if out.result is None:  # a look-back too long for the 800 bars after the search's
            assert "after a purge gap" in out.report.reasons[0]
            continue
        validated += 1
        np.testing.assert_array_equal(_stage_times(out, "in_sample"), seen)
        splits = out.result.splits
        assert splits.out_of_sample.start >= splits.in_sample.stop + splits.purge
        assert splits.walk_forward.start >= splits.out_of_sample.stop + splits.purge
        for name in ("out_of_sample", "walk_forward"):
            times = _stage_times(out, name)
            assert len(times) and times.min() > seen.max()
            assert not np.isin(times, seen).any()
    assert validated


def test_a_search_that_moves_on_to_newer_bars_has_seen_both():
    d = synthetic(seed=9, bars=700)
    run = MarketRun("X", "BTC", "1h", "synthetic", d.slice(0, 500), LOOSE, [])
    first = run.searched
    assert (first.bars, first.start, first.end) == (300, d.time_ms[0] * 10**6,
                                                    d.time_ms[299] * 10**6)
    run.set_data(d.slice(200, 700))  # the history slid on by 200 bars
    both = run.searched
    assert both.start == first.start and both.end == d.time_ms[499] * 10**6
    assert both.bars == 500  # bars 0..499, each counted once
    assert searched_range(d.slice(200, 700), since=both) == both


def _bred(data: str, searched=None, kind: str = "gp") -> StrategyCandidate:
    now = time.time_ns()
    return StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=f"{kind}_1_00000001", algorithm_type=kind,
        generation=1, genome_hash="1" * 64, coin="BTC", interval="1h", data_spec=data,
        dsl="(strategy (long-entry (> close (sma close 20))) (long-exit (< close (sma close 20))))",
        in_sample=PerformanceMetrics(), trial_count=10, searched=searched)


@pytest.mark.parametrize("kind, refused", [("gp", True), ("template", True), ("user", False)])
def test_a_bred_candidate_without_its_searched_bars_is_refused_where_required(tmp_path, kind,
                                                                             refused):
    v = Validator(ValidationConfig(), tmp_path)
    out = v.validate(_bred("synthetic:seed=3,bars=3000", kind=kind), 1, require_searched=True)
    assert (out.result is None) == refused
    if refused:
        assert "names no searched bar range" in out.report.reasons[0]
    # without the requirement (organism validate): the first in_sample_fraction, as before
    plain = v.validate(_bred("synthetic:seed=3,bars=3000", kind=kind), 1)
    assert plain.result.splits.in_sample.start == 0
    assert plain.result.splits.in_sample.stop == 1800


def test_validation_names_a_searched_range_the_history_does_not_hold(tmp_path):
    far = searched_range(synthetic(seed=1, bars=100, start_ms=2_000_000_000_000))
    out = Validator(ValidationConfig(), tmp_path).validate(
        _bred("synthetic:seed=3,bars=3000", searched=far), 1)
    assert out.result is None and "holds none of the 60 bars the search saw" in \
        out.report.reasons[0]
