"""Evolution says, with every progress report, what its history supports: the in-sample years it
searched, the minimum backtest length its trials need, and how many trials those years take."""

from __future__ import annotations

import time

import pytest

from agents.evolution.config import EvolutionConfig
from agents.evolution.runs import MarketRun
from quant.data import synthetic
from quant.gauntlet.stats import min_backtest_length, supported_trials
from quant.genome import canonical
from quant.gp.simplify import InSampleInspector
from schemas import EvolutionProgress

CFG = EvolutionConfig(min_bars=200, population=8, islands=1, workers=1, min_trades=1, hof_size=5)


def test_progress_states_what_the_history_supports():
    ds = synthetic(seed=3, bars=3000)
    run = MarketRun("SYN-1h", "SYN", "1h", "synthetic:seed=3,bars=3000", ds, CFG, [],
                    target_sharpe=1.5)
    try:
        run.search.tell(run.open_pool().evaluate(run.search.ask()))
        p = run.progress(time.time_ns(), 100.0)
    finally:
        run.close()
    assert isinstance(p, EvolutionProgress)
    years = 1800 / 8760  # the first 60 % of 3000 hourly bars
    assert p.history_years == pytest.approx(years)
    assert p.min_btl_years == pytest.approx(min_backtest_length(p.trials, 1.5))
    assert p.supported_trials == supported_trials(years, 1.5)
    assert p.trials > p.supported_trials  # 8 strategies on 2.5 months: too many already
    assert "telling a Sharpe-1.5 edge from luck needs" in run.support().sentence()


def test_hall_of_fame_of_the_agent_shows_what_its_members_really_do():
    ds = synthetic(seed=4, bars=3000)
    run = MarketRun("SYN-1h", "SYN", "1h", "synthetic:seed=4,bars=3000", ds, CFG, [])
    try:
        for _ in range(2):
            run.search.tell(run.open_pool().evaluate(run.search.ask()))
    finally:
        run.close()
    inspector = InSampleInspector(ds)
    assert len(run.search.hof)
    for m in run.search.hof:  # inspected already: nothing left to remove
        assert canonical(inspector.inspect(m.strategy)[0]) == m.strategy
