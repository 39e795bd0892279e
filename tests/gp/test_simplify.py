"""What a strategy really does: parts that never act on the in-sample bars are removed (and the
trades stay the same), and the hall of fame keeps one strategy per behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant.dsl import format_strategy, parse_strategy
from quant.genome import canonical, strategy_hash
from quant.gp.fitness import GenomeResult, InSampleEvaluator
from quant.gp.planted import planted_edge
from quant.gp.pool import LocalPool, run_generations
from quant.gp.search import HallMember, HallOfFame, Search, SearchConfig
from quant.gp.simplify import (
    InSampleInspector,
    fold,
    result_digest,
    simplify_on,
    trades_digest,
    tree_size,
)
from quant.random_genome import random_strategy
from quant.signals import IndicatorCache, compile_signals
from quant.sim import simulate

SMALL = dict(population=16, islands=2, max_window=100, min_trades=5, migration_interval=2)
X = "(cross-above (sma close 5) (sma close 20))"


@pytest.fixture(scope="module")
def market():
    return planted_edge(seed=3, bars=2500)


@pytest.fixture(scope="module")
def inspector(market):
    return InSampleInspector(market)


def _simplified(inspector, body: str) -> str:
    simple, _ = inspector.inspect(parse_strategy(f"(strategy {body})"))
    return format_strategy(canonical(simple), pretty=False)


@pytest.mark.parametrize("body, expected", [
    # seen evolved: a high never crosses above its own bar's low, a price never below 0
    ("(long-entry (cross-above high low))", "(long-entry false)"),
    ("(long-entry (cross-below open 0.0)) (long-exit (> close 1.0))",
     "(long-entry false) (long-exit false)"),
    (f"(long-entry (or {X} (cross-above high low)))", f"(long-entry {X})"),
    (f"(long-entry (and {X} (> close 0.0)))", f"(long-entry {X})"),
    (f"(long-entry (and {X} true))", f"(long-entry {X})"),
    (f"(long-entry {X}) (long-exit (or (cross-below open 0.0) (< close (sma close 20))))",
     f"(long-entry {X}) (long-exit (< close (sma close 20)))"),
    (f"(short-entry (not (not {X})))", f"(short-entry {X})"),
])
def test_parts_that_never_act_are_removed(inspector, body, expected):
    want = format_strategy(canonical(parse_strategy(f"(strategy {expected})")), pretty=False)
    assert _simplified(inspector, body) == want


def test_a_strategy_with_no_dead_part_is_left_alone(inspector):
    text = f"(strategy (long-entry {X}) (long-exit (< close (sma close 20))))"
    s = canonical(parse_strategy(text))
    assert inspector.inspect(s)[0] == s


def test_logic_folds_on_any_data():
    from quant.types import Node

    p = parse_strategy(f"(strategy (long-entry {X}))").long_entry
    assert fold(Node("and", (p, p))) == p
    assert fold(Node("or", (p, Node("not", (p,))))) == Node("true")
    assert fold(Node("and", (Node("not", (p,)), p))) == Node("false")
    assert fold(Node("not", (Node("true"),))) == Node("false")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_simplified_strategy_trades_exactly_as_bred_and_is_no_bigger(market, inspector, seed):
    s = canonical(random_strategy(np.random.default_rng(seed), depth=4))
    simple, digest = inspector.inspect(s)
    data = inspector.data
    cache = IndicatorCache(data)
    before = simulate(s, compile_signals(s, cache), data)
    after = simulate(simple, compile_signals(simple, cache), data)
    assert np.array_equal(before.trades, after.trades, equal_nan=True)
    assert np.array_equal(before.returns, after.returns, equal_nan=True)
    assert digest == trades_digest(before.trades)
    assert tree_size(simple) <= tree_size(s)
    # a fixed point: nothing left that never acts
    assert canonical(simplify_on(canonical(simple), cache)) == canonical(simple)


def _member(key: str, score: float, size: int, behaviour: str) -> HallMember:
    s = parse_strategy(f"(strategy (long-entry {X}))")
    return HallMember(key, s, score, GenomeResult.failure(), 0, size, behaviour)


def test_hall_of_fame_keeps_one_member_per_behaviour():
    hof = HallOfFame(3)
    assert hof.offer(_member("a", 2.0, 20, "same"))
    assert not hof.offer(_member("b", 2.0, 24, "same"))  # same trades, bigger: not kept
    assert hof.offer(_member("c", 2.0, 12, "same"))  # same trades, simpler: replaces a
    assert [m.key for m in hof] == ["c"]
    assert hof.offer(_member("d", 2.5, 30, "same"))  # same trades, better score: replaces c
    assert hof.offer(_member("e", 1.0, 10, "other"))
    assert [m.key for m in hof] == ["d", "e"] and "a" not in hof and "c" not in hof


def test_search_hall_of_fame_is_distinct_by_behaviour_and_shows_what_acts(market):
    with LocalPool(market, workers=1) as pool:
        plain = Search(SearchConfig(**SMALL, seed=21))
        run_generations(plain, pool.evaluate, 4)
        inspected = Search(SearchConfig(**SMALL, seed=21), inspect=InSampleInspector(market))
        run_generations(inspected, pool.evaluate, 4)
    # the inspector changes the hall of fame only, never the search
    assert inspected.trials.count == plain.trials.count
    assert [[i.key for i in pop] for pop in inspected.islands] == \
        [[i.key for i in pop] for pop in plain.islands]

    digests = [result_digest(m.result.values, m.result.regimes, m.result.segments)
               for m in plain.hof]
    assert len(set(digests)) == len(digests)

    ev = InSampleEvaluator(market)
    inspector = InSampleInspector(market)
    cache = IndicatorCache(inspector.data)
    trades = set()
    for m in inspected.hof:
        assert m.key == strategy_hash(m.strategy) and m.structure_size == tree_size(m.strategy)
        assert canonical(simplify_on(m.strategy, cache)) == m.strategy  # nothing dead left
        # the member's figures are its own: evaluating its shown text gives the same result
        assert ev.evaluate(m.strategy).values == m.result.values
        trades.add(trades_digest(simulate(m.strategy, compile_signals(m.strategy, cache),
                                          inspector.data).trades))
    assert len(trades) == len(inspected.hof)  # no two members trade alike
