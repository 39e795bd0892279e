"""The island search: reproducible, counts trials exactly, de-duplicates its hall of fame,
learns from deaths, and beats blind search with the same number of evaluations."""

from __future__ import annotations

import statistics

import pytest

from quant.dsl import format_strategy
from quant.genome import canonical, strategy_hash
from quant.gp.baseline import random_search
from quant.gp.death import structure_hashes
from quant.gp.fitness import InSampleEvaluator
from quant.gp.planted import oracle_strategy, planted_edge
from quant.gp.pool import LocalPool, run_generations
from quant.gp.regimes import REGIMES
from quant.gp.search import Search, SearchConfig
from quant.gp.seeding import template, template_strategies

SMALL = dict(population=16, islands=2, max_window=100, min_trades=5, migration_interval=2)


@pytest.fixture(scope="module")
def market():
    return planted_edge(seed=1, bars=2500)


@pytest.fixture(scope="module")
def pool(market):
    with LocalPool(market, workers=1) as p:
        yield p


def _run(pool, generations=4, seeds=(), **kw):
    search = Search(SearchConfig(**{**SMALL, **kw}), seeds=seeds)
    run_generations(search, pool.evaluate, generations)
    return search


def _fingerprint(search):
    return ([(m.key, m.score) for m in search.hof], search.trials.count,
            [[ind.key for ind in pop] for pop in search.islands], search.bandit.rates)


def test_same_seed_same_run_and_another_seed_differs(pool):
    a = _run(pool, seed=3)
    b = _run(pool, seed=3)
    c = _run(pool, seed=4)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_trials_count_every_distinct_genome_once(pool):
    asked: set[str] = set()
    search = Search(SearchConfig(**SMALL, seed=5))
    for _ in range(4):
        requests = search.ask()
        assert len({k for k, _ in requests}) == len(requests)
        assert not asked & {k for k, _ in requests}  # never asked twice
        asked |= {k for k, _ in requests}
        search.tell(pool.evaluate(requests))
    assert search.trials.count == len(asked)
    assert search.last_stats.trials == len(asked)
    assert search.trials.sharpe_variance > 0


def test_keys_are_canonical_hashes_and_hall_of_fame_is_deduplicated(pool):
    search = _run(pool, generations=5, seed=6)
    keys = [m.key for m in search.hof]
    assert len(keys) == len(set(keys))
    texts = {format_strategy(canonical(m.strategy), pretty=False) for m in search.hof}
    assert len(texts) == len(keys)
    for m in search.hof:
        assert m.key == strategy_hash(m.strategy)
    scores = [m.score for m in search.hof]
    assert scores == sorted(scores, reverse=True)
    assert m.strategy_id("gp").startswith(f"gp_{m.generation}_")


def test_seeds_enter_the_first_population(pool):
    search = Search(SearchConfig(**{**SMALL, "seed_fraction": 0.5}), seeds=template_strategies())
    search.ask()
    first = [ind for pop in search._pending for ind in pop]
    assert sum(ind.origin == "seed" for ind in first) == 2 * 8
    seeded = {strategy_hash(s) for s in template_strategies()}
    assert seeded <= {ind.key for ind in first}


def test_parameter_ga_tunes_numbers_of_one_template(pool):
    base = template("trend-filter")
    search = Search(SearchConfig(**{**SMALL, "mode": "ga"}), template=base)
    run_generations(search, pool.evaluate, 4)
    shape = [n.name for t in base.trees() for n in t.walk() if not n.name.startswith("#")]
    for m in search.hof:
        assert [n.name for t in m.strategy.trees() for n in t.walk()
                if not n.name.startswith("#")] == shape
    assert search.trials.count > 10
    assert set(search.bandit.rates) == {"cx_constants", "mut_ephemeral", "mut_window",
                                        "mut_constant", "mut_genes"}


def test_nsga2_selection_runs_and_keeps_the_population_size(pool):
    search = _run(pool, generations=4, selection="nsga2", seed=2)
    assert all(len(pop) == SMALL["population"] for pop in search.islands)
    assert search.best() is not None


def test_death_reports_penalise_shared_structure(pool):
    oracle = oracle_strategy(48)
    plain = Search(SearchConfig(**SMALL, seed=1), seeds=[oracle])
    run_generations(plain, pool.evaluate, 1)
    mourning = Search(SearchConfig(**SMALL, seed=1), seeds=[oracle])
    mourning.add_death(structure_hashes(oracle), "drawdown_breach", 1.0)
    run_generations(mourning, pool.evaluate, 1)
    key = strategy_hash(oracle)
    before = next(i.score for pop in plain.islands for i in pop if i.key == key)
    after = next(i.score for pop in mourning.islands for i in pop if i.key == key)
    assert after == pytest.approx(before - SMALL.get("death_penalty", 2.0) * 1.0, abs=1e-9) \
        or after < before - 1.0


def test_regime_segments_travel_with_results_and_specialist_islands_differ(pool, market):
    search = _run(pool, generations=3, islands=3, seed=8)
    m = search.best()
    assert len(m.result.regimes) == len(REGIMES)
    aff = m.regime_affinity()
    assert set(aff) <= set(REGIMES)
    assert not aff or sum(aff.values()) == pytest.approx(1.0, abs=1e-3)
    # an individual scored on a specialist island carries a regime-blended score
    spec = search.islands[1][0]
    assert spec.score != spec.general_score or spec.result["trades"] < SMALL["min_trades"]
    # progress reports each island's best in general fitness, comparable across islands
    st = search.last_stats
    assert len(st.island_best) == 3 and max(st.island_best) == st.best
    assert st.island_best == [max(i.general_score for i in pop) for pop in search.islands]


def test_local_pool_with_two_processes_gives_identical_results(market):
    search = Search(SearchConfig(**SMALL, seed=11))
    requests = search.ask()
    with LocalPool(market, workers=1) as one, LocalPool(market, workers=2) as two:
        assert one.evaluate(requests) == two.evaluate(requests)


def test_evolution_beats_blind_search_with_the_same_evaluations():
    """On planted-edge markets, the best in-sample score after G generations beats random
    search given the same number of distinct evaluations, on average over seeds. (Out-of-sample
    is measured by `organism bench evolution`, on longer histories.)"""
    gp_scores, rnd_scores = [], []
    for seed in range(3):
        data = planted_edge(seed=seed, bars=2500)
        with LocalPool(data, workers=1) as p:
            config = SearchConfig(population=24, islands=2, seed=seed, max_window=100,
                                  min_trades=10)
            search = Search(config)
            run_generations(search, p.evaluate, 8)
            _, rnd, n = random_search(p.evaluate, search.trials.count, config)
        assert n == search.trials.count
        gp_scores.append(search.best().score)
        rnd_scores.append(rnd)
    assert statistics.mean(gp_scores) > statistics.mean(rnd_scores)
    assert sum(g > r for g, r in zip(gp_scores, rnd_scores)) >= 2


def test_in_sample_evaluator_reads_only_the_first_sixty_percent(market):
    """Scrambling the last 40 % of history changes nothing evolution sees."""
    import numpy as np

    from quant.data import Dataset

    n_in = int(0.6 * len(market))
    rng = np.random.default_rng(0)

    def scrambled(col):
        out = col.copy()
        out[n_in:] = out[n_in:] * rng.uniform(0.5, 1.5, len(col) - n_in)
        return out

    funding = None if market.funding is None else scrambled(market.funding)
    other = Dataset(market.time_ms, scrambled(market.open), scrambled(market.high),
                    scrambled(market.low), scrambled(market.close), scrambled(market.volume),
                    market.interval, funding)
    ev, ev2 = InSampleEvaluator(market), InSampleEvaluator(other)
    assert len(ev.data) == n_in
    for s in template_strategies():
        assert ev.evaluate(s) == ev2.evaluate(s)


def test_rebase_re_evaluates_the_islands_on_new_data(market):
    search = Search(SearchConfig(**SMALL, seed=12))
    with LocalPool(market.slice(0, 2000), workers=1) as old:
        run_generations(search, old.evaluate, 2)
    keys = sorted(ind.key for pop in search.islands for ind in pop)
    trials = search.trials.count
    search.rebase()
    requests = search.ask()
    assert sorted({k for k, _ in requests}) == sorted(set(keys))  # same genomes, re-asked
    with LocalPool(market, workers=1) as new:
        stats = search.tell(new.evaluate(requests))
    assert stats.trials == trials  # a genome re-run on grown history is not a new trial
    assert search.best().result["bars"] == int(0.6 * len(market))


def test_a_tiny_result_cache_never_loses_an_asked_genome(pool):
    """Results the LRU drops while a generation is in flight stay on the individuals."""
    search = _run(pool, generations=6, eval_cache=8, seed=13)
    assert len(search._results) <= 8
    assert all(ind.result is not None for pop in search.islands for ind in pop)


def test_an_abandoned_generation_is_asked_again(pool):
    search = _run(pool, generations=2, seed=14)
    search.ask()
    search.abandon()  # e.g. every evaluator failed
    requests = search.ask()
    search.tell(pool.evaluate(requests))
    assert search.generation == 3
    search.rebase()
    search.ask()
    search.abandon()
    assert search.islands  # the population survives an abandoned re-evaluation
    search.tell(pool.evaluate(search.ask()))
    assert search.generation == 4


def test_one_evaluator_shared_by_threads_gives_the_serial_results(market):
    """Remote evaluation falls back to the local evaluator from several threads at once: the
    results must be exactly the serial ones (a shared simulation workspace once made them not)."""
    from concurrent.futures import ThreadPoolExecutor

    from quant.gp.fitness import InSampleEvaluator
    from quant.random_genome import random_strategy

    import numpy as np

    rng = np.random.default_rng(5)
    strategies = [random_strategy(rng) for _ in range(60)]
    serial = [InSampleEvaluator(market).evaluate(s) for s in strategies]
    shared = InSampleEvaluator(market)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(shared.evaluate, strategies)) == serial
