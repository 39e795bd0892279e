"""What a history supports: MinBTL's inverse, and the sentence a trader reads when a search
tried more strategies than its history can tell apart from luck."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.gauntlet.config import ValidationConfig
from quant.gauntlet.gauntlet import run_gauntlet
from quant.gauntlet.stats import min_backtest_length, supported_trials
from quant.gauntlet.support import HistorySupport, history_support, span


@given(years=st.floats(0.05, 12.0), target=st.floats(0.5, 4.0))
def test_supported_trials_is_the_largest_count_minbtl_allows(years, target):
    n = supported_trials(years, target)
    assert n >= 1
    assert n == 1 or min_backtest_length(n, target) <= years
    assert n == 10**15 or min_backtest_length(n + 1, target) > years  # the cap


def test_the_figures_of_validation_md():
    # at target Sharpe 2, 10^4 trials need ~3.7 in-sample years, 10^5 about 4.8
    assert min_backtest_length(10_000, 2.0) == pytest.approx(3.7, abs=0.05)
    assert min_backtest_length(100_000, 2.0) == pytest.approx(4.8, abs=0.05)
    assert 100 <= supported_trials(1.8, 2.0) <= 250
    assert supported_trials(0.0, 2.0) == 1


def test_the_sentence_says_what_was_tried_on_what_and_what_it_needs():
    s = HistorySupport(48_000, 1.7, 2.0)
    assert not s.enough
    assert s.sentence() == (
        "this search tried 48,000 strategies on 1.7 years of history; telling a Sharpe-2 edge "
        f"from luck needs {s.min_btl_years:.1f} years (1.7 years support about "
        f"{s.supported_trials:,} strategies)")
    assert HistorySupport(100, 3.0).sentence().endswith(": enough")
    assert "no search to correct for" in HistorySupport(1, 3.0).sentence()
    assert history_support(10, 8760 * 2, 8760.0).years == pytest.approx(2.0)


@pytest.mark.parametrize("years, said", [(1.74, "1.7 years"), (1.0, "1 year"),
                                         (0.5, "6 months"), (10 / 365, "10 days")])
def test_spans_read_as_people_say_them(years, said):
    assert span(years) == said


def test_validation_gives_the_reason_in_a_traders_words():
    from quant.gp.planted import oracle_strategy, planted_edge

    ds = planted_edge(seed=1, bars=3000)
    r = run_gauntlet(oracle_strategy(), ds, trial_count=48_000,
                     config=ValidationConfig(min_sharpe=-100.0, max_drawdown=0.99, min_trades=0))
    reason = next(x for x in r.reasons if x.startswith("min_backtest_length"))
    years = int(len(ds) * 0.6) / ds.bars_per_year
    assert reason == "min_backtest_length: " + HistorySupport(48_000, years, 2.0).sentence()
    assert "this search tried 48,000 strategies on 2 months of history" in reason
    by = {g.gate: g for g in r.gates}
    assert "support about" in by["min_backtest_length"].detail
