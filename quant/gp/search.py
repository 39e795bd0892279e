"""The island search: ask for genomes to evaluate, tell their results, one generation per round.

    search = Search(SearchConfig(population=64, islands=2, seed=7))
    while search.generation < 30:
        requests = search.ask()                       # [(genome hash, DSL text)], unseen only
        search.tell(evaluate(requests))               # {genome hash: GenomeResult}

The ask/tell split lets one search run on any evaluator (in-process, a local process pool, NATS
workers) with identical results. Everything random draws from the global `random` module (as
DEAP's operators do) with the search's own state swapped in around each call, so the same seed
gives the same run whatever else the process does.

Scoring: `score = sharpe − drawdown_weight · max_drawdown − complexity_weight · size −
death_penalty · penalty` on the in-sample bars, Sharpe floored at −2; a genome with fewer than
`min_trades` trades scores −3 + trades / min_trades (a gradient toward trading at all).
Selection rewards score and punishes drawdown and complexity: NSGA-II on (score, max drawdown,
size), the default, or double tournament (score, then parsimony by size); on planted-edge
markets NSGA-II's picks held up better out of sample (organism bench evolution). With several islands and
`specialist_islands`, island k ≥ 1 blends in the Sharpe of regime k−1 (regime-aware fitness);
migration around the ring spreads what each island found.

The hall of fame keeps distinct strategies: by canonical text and by behaviour (identical
in-sample trades are one strategy). Given an `inspect` (quant.gp.simplify.InSampleInspector),
each hopeful enters as it really acts on the in-sample bars, parts that never act removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import statistics
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from deap import tools

from quant.dsl import format_strategy
from quant.genome import Strategy, canonical, strategy_hash, strategy_id
from quant.gp.bandit import OperatorBandit
from quant.gp.death import DeathMemory, structure_hashes
from quant.gp.fitness import GenomeRequest, GenomeResult
from quant.gp.operators import (
    GA_OPERATORS,
    GP_OPERATORS,
    is_binary,
    make_operators,
)
from quant.gp.pset import Individual, build_pset, gen_half_and_half, to_strategy
from quant.gp.regimes import REGIMES, affinity
from quant.gp.seeding import seed_individuals, variant
from quant.gp.simplify import Inspect, result_digest, tree_size
from quant.gp.trials import TrialCounter, digest_of_hash


@dataclass(frozen=True)
class SearchConfig:
    population: int = 64  # per island
    islands: int = 1
    seed: int = 0
    mode: str = "gp"  # "gp" (trees evolve) | "ga" (one template's numbers only)
    selection: str = "nsga2"  # | "double-tournament" (measured: organism bench evolution)
    tournament_size: int = 5
    parsimony_size: float = 1.4  # DEAP's double tournament: 1..2, size pressure
    elite: int = 2  # per island, double tournament only
    init_min_height: int = 2
    init_max_height: int = 4
    max_height: int = 8  # staticLimit on every operator
    max_size: int = 60
    max_window: int = 200  # bars; keep well under the in-sample length
    migration_interval: int = 5  # generations
    migrants: int = 2
    hof_size: int = 20
    min_trades: int = 30
    drawdown_weight: float = 1.0  # Sharpe units per unit of max drawdown
    death_penalty: float = 2.0  # Sharpe units at full structural match with a bad death
    specialist_islands: bool = True
    regime_weight: float = 0.5
    seed_fraction: float = 0.25  # share of the first population from seeds/templates
    eval_cache: int = 5_000  # remembered results (LRU), so re-born genomes are not re-run
    bandit_p_min: float = 0.04
    complexity_weight: float = 0.05  # Sharpe units per tree node: parsimony inside the score
    consistency: float = 0.0  # > 0: score the worse of Sharpe and the median third, minus
    #                           this times the spread of the thirds' Sharpe

    def __post_init__(self) -> None:
        if self.mode not in ("gp", "ga"):
            raise ValueError(f"mode {self.mode!r}: use 'gp' or 'ga'")
        if self.selection not in ("double-tournament", "nsga2"):
            raise ValueError(f"selection {self.selection!r}: use 'double-tournament' or 'nsga2'")
        if self.population < 4 or self.islands < 1:
            raise ValueError("population must be >= 4 and islands >= 1")


@dataclass
class GenerationStats:
    generation: int
    best: float
    median: float
    diversity: float  # distinct genomes / individuals, over all islands
    trials: int
    evaluated: int  # genomes sent for evaluation this generation
    operator_rates: dict[str, float]
    island_best: list[float] = field(default_factory=list)  # general score, not specialist


@dataclass(frozen=True)
class HallMember:
    key: str  # genome hash (SHA-256 of the canonical text)
    strategy: Strategy
    score: float
    result: GenomeResult
    generation: int  # when first found
    structure_size: int
    behaviour: str = ""  # digest of its in-sample trades: equal digests, the same strategy

    @property
    def dsl(self) -> str:
        return format_strategy(self.strategy)

    def strategy_id(self, algorithm_type: str) -> str:
        return strategy_id(self.strategy, algorithm_type, self.generation)

    def regime_affinity(self) -> dict[str, float]:
        return affinity(self.result.regimes)


class HallOfFame:
    """The best distinct strategies ever seen, at most `size` of them: distinct by canonical
    form and by behaviour (members with the same `behaviour` digest, identical in-sample
    trades, are one strategy: the higher score stays, then the smaller tree)."""

    def __init__(self, size: int):
        self.size = size
        self.members: list[HallMember] = []
        self._keys: set[str] = set()

    def offer(self, member: HallMember) -> bool:
        if member.key in self._keys:
            return False
        twin = next((m for m in self.members
                     if member.behaviour and m.behaviour == member.behaviour), None)
        if twin is not None:
            if (-member.score, member.structure_size, member.key) >= \
                    (-twin.score, twin.structure_size, twin.key):
                return False
            self.members.remove(twin)
            self._keys.discard(twin.key)
        elif len(self.members) >= self.size and member.score <= self.members[-1].score:
            return False
        self.members.append(member)
        self._keys.add(member.key)
        self.members.sort(key=lambda m: (-m.score, m.key))
        while len(self.members) > self.size:
            self._keys.discard(self.members.pop().key)
        return True

    def __iter__(self):
        return iter(self.members)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self.members)


class Search:
    def __init__(self, config: SearchConfig = SearchConfig(), seeds: Sequence[Strategy] = (),
                 template: Strategy | None = None, inspect: Inspect | None = None):
        if config.mode == "ga" and template is None:
            raise ValueError("the parameter-only GA needs a template strategy")
        self.config = config
        self.algorithm_type = config.mode
        self.pset = build_pset(config.max_window)
        self.ops = make_operators(self.pset, config.max_height, config.max_size)
        arms = GA_OPERATORS if config.mode == "ga" else GP_OPERATORS
        self.bandit = OperatorBandit(arms, p_min=config.bandit_p_min)
        self.seeds = list(seeds)
        self.template = template
        self.islands: list[list[Individual]] = []
        self.generation = 0
        self.trials = TrialCounter()
        self.hof = HallOfFame(config.hof_size)
        self.death = DeathMemory()
        self._results: OrderedDict[str, GenomeResult] = OrderedDict()
        self._pending: list[list[Individual]] = []
        self._asked: list[str] = []
        self._rebased = False
        self._before_rebase: list[list[Individual]] = []
        self._rng = random.Random(config.seed)
        self.last_stats: GenerationStats | None = None
        # hall-of-fame hopefuls as they really act (quant.gp.simplify); None: as bred, and
        # behaviour judged by the in-sample figures. Never changes the population.
        self.inspect = inspect
        self._inspected: OrderedDict[str, tuple[Strategy, str, str, int]] = OrderedDict()

    # --- randomness ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _random(self):
        outside = random.getstate()
        random.setstate(self._rng.getstate())
        try:
            yield
        finally:
            self._rng.setstate(random.getstate())
            random.setstate(outside)

    # --- ask ----------------------------------------------------------------------------------
    def ask(self) -> list[tuple[str, str]]:
        """Breed the next generation (the first population at generation 0) and return the
        genomes whose results are not known yet: unique (genome hash, DSL text) pairs
        (GenomeRequests: each also carries its Strategy, for an evaluator in this process)."""
        if self._pending:
            raise RuntimeError("tell() the results of the previous ask() first")
        with self._random():
            if self._rebased:
                self._pending = [[ind.clone() for ind in pop] for pop in self.islands]
                for pop in self._pending:
                    for ind in pop:
                        ind.fitness.delValues()
                        ind.origin = "init"
                self._before_rebase = self.islands
                self.islands = []
                self._rebased = False
            elif not self.islands:
                self._pending = [self._initial(k) for k in range(self.config.islands)]
            else:
                self._pending = [self._offspring(k, pop) for k, pop in enumerate(self.islands)]
        requests: dict[str, GenomeRequest] = {}
        for pop in self._pending:
            for ind in pop:
                strategy = canonical(to_strategy(ind))
                text = format_strategy(strategy, pretty=False)
                ind.key = hashlib.sha256(text.encode()).hexdigest()  # = strategy_hash
                known = self._results.get(ind.key)
                if known is not None:  # held on the individual: the LRU may drop it meanwhile
                    ind.result = known
                    self._results.move_to_end(ind.key)
                elif ind.key not in requests:
                    ind.result = None
                    requests[ind.key] = GenomeRequest(ind.key, text, strategy)
        self._asked = list(requests)
        return list(requests.values())

    def _initial(self, island: int) -> list[Individual]:
        cfg = self.config
        if cfg.mode == "ga":
            base = seed_individuals(self.pset, [self.template], 1)[0]
            pop = [base] + [variant(base, self.pset, steps=3) for _ in range(cfg.population - 1)]
        else:
            n_seed = int(round(cfg.seed_fraction * cfg.population)) if self.seeds else 0
            pop = seed_individuals(self.pset, self.seeds, n_seed)
            while len(pop) < cfg.population:
                pop.append(Individual(gen_half_and_half(
                    self.pset, cfg.init_min_height, cfg.init_max_height)))
        for ind in pop:
            ind.origin = ind.origin if ind.origin == "seed" else "init"
        return pop

    def _mating_pool(self, pop: list[Individual], k: int) -> list[Individual]:
        cfg = self.config
        if cfg.selection == "nsga2" and len(pop) % 4 == 0 and k % 4 == 0:
            ranked = tools.selNSGA2(pop, len(pop))  # (re)assigns crowding distances
            return tools.selTournamentDCD(ranked, k)
        if cfg.selection == "nsga2":
            return tools.selTournament(pop, k, cfg.tournament_size)
        return tools.selDoubleTournament(pop, k, fitness_size=cfg.tournament_size,
                                         parsimony_size=cfg.parsimony_size, fitness_first=True)

    def _offspring(self, island: int, pop: list[Individual]) -> list[Individual]:
        n = self.config.population
        pool = self._mating_pool(pop, n)
        out: list[Individual] = []
        i = 0
        while len(out) < n:
            op = self.bandit.choose()
            if is_binary(op):
                a, b = pool[i % len(pool)], pool[(i + 1) % len(pool)]
                i += 2
                kids = self.ops[op](a.clone(), b.clone())
                parent_score = max(a.score, b.score)
            else:
                a = pool[i % len(pool)]
                i += 1
                kids = self.ops[op](a.clone())
                parent_score = a.score
            for kid in kids[: n - len(out)]:
                kid.fitness.delValues()
                kid.origin, kid.parent_score = op, parent_score
                out.append(kid)
        return out

    # --- tell ---------------------------------------------------------------------------------
    def tell(self, results: Mapping[str, GenomeResult]) -> GenerationStats:
        """Take the results of the last ask() (missing keys are an error) and finish the
        generation: scores, trial count, bandit, survival, hall of fame, migration."""
        if not self._pending:
            raise RuntimeError("ask() first")
        # in the order asked, not the order answered: the Sharpe variance sums in one order
        asked = set(self._asked)
        for key in [*self._asked, *(k for k in results if k not in asked)]:
            res = results.get(key)
            if res is None:
                continue
            if key not in self._results:
                self.trials.add(digest_of_hash(key), res["sharpe_per_bar"])
            self._remember(key, res)
        rewards: dict[str, list[float]] = {}
        for k, pop in enumerate(self._pending):
            for ind in pop:
                res = results.get(ind.key) or self._results.get(ind.key) or ind.result
                if res is None:
                    raise KeyError(f"no result for genome {ind.key[:12]} (generation "
                                   f"{self.generation}); every asked genome must be told")
                self._score(ind, res, k)
                if ind.origin not in ("init", "seed"):
                    rewards.setdefault(ind.origin, []).append(
                        1.0 if ind.score > ind.parent_score else 0.0)
        offspring, self._pending = self._pending, []
        self._before_rebase = []
        if not self.islands:
            self.islands = offspring
        else:
            self.islands = [self._survive(pop, kids) for pop, kids in zip(self.islands, offspring)]
        if rewards:
            self.bandit.update(rewards)
        for pop in offspring:
            for ind in pop:
                self._offer(ind)
        self.generation += 1
        cfg = self.config
        if cfg.islands > 1 and self.generation % cfg.migration_interval == 0:
            self._migrate()
        self.last_stats = self._stats(sum(1 for _ in results))
        return self.last_stats

    def _remember(self, key: str, res: GenomeResult) -> None:
        self._results[key] = res
        self._results.move_to_end(key)
        while len(self._results) > self.config.eval_cache:
            self._results.popitem(last=False)

    def base_score(self, res: GenomeResult, size: int = 0) -> float:
        cfg = self.config
        if res.failed:
            return -4.0
        trades = res["trades"]
        if trades < cfg.min_trades:
            return -3.0 + trades / cfg.min_trades
        sharpe = res["sharpe"]
        if cfg.consistency and res.segments:
            sharpe = min(sharpe, statistics.median(res.segments))
            sharpe = sharpe - cfg.consistency * statistics.pstdev(res.segments)
        return (max(-2.0, sharpe) - cfg.drawdown_weight * res["max_drawdown"]
                - cfg.complexity_weight * size)

    def _score(self, ind: Individual, res: GenomeResult, island: int) -> None:
        cfg = self.config
        score = self.base_score(res, len(ind))
        if len(self.death):
            score -= cfg.death_penalty * self.death.penalty(structure_hashes(to_strategy(ind)))
        ind.general_score = score
        r = self._specialty(island)
        if r is not None and not res.failed and res["trades"] >= cfg.min_trades:
            score = (1 - cfg.regime_weight) * score + cfg.regime_weight * res.regimes[r]
        ind.score = score
        ind.result = res
        ind.fitness.values = (score, res["max_drawdown"], float(len(ind)))

    def _specialty(self, island: int) -> int | None:
        cfg = self.config
        if not cfg.specialist_islands or cfg.islands < 2 or island == 0:
            return None
        return (island - 1) % len(REGIMES)

    def _survive(self, parents: list[Individual], kids: list[Individual]) -> list[Individual]:
        cfg = self.config
        if cfg.selection == "nsga2":
            return tools.selNSGA2(parents + kids, cfg.population)
        elite = sorted(parents, key=lambda x: -x.score)[: cfg.elite]
        ranked = sorted(kids, key=lambda x: -x.score)
        return elite + ranked[: cfg.population - len(elite)]

    def _offer(self, ind: Individual) -> None:
        score = getattr(ind, "general_score", ind.score)
        # a simplified tree scores up to its whole complexity term higher
        slack = self.config.complexity_weight * len(ind) if self.inspect is not None else 0.0
        if len(self.hof) >= self.hof.size and score + slack < self.hof.members[-1].score:
            return
        if ind.key in self.hof:
            return
        strategy, key, size = canonical(to_strategy(ind)), ind.key, len(ind)
        behaviour = result_digest(ind.result.values, ind.result.regimes, ind.result.segments)
        if self.inspect is not None:
            strategy, behaviour, key, size = self._inspect(ind.key, strategy)
            if key != ind.key:  # what it really does scores as that strategy would
                score = self.base_score(ind.result, size)
                if len(self.death):
                    score -= self.config.death_penalty * self.death.penalty(
                        structure_hashes(strategy))
        self.hof.offer(HallMember(key, strategy, score, ind.result, self.generation, size,
                                  behaviour))

    def _inspect(self, key: str, strategy: Strategy) -> tuple[Strategy, str, str, int]:
        """(simplified strategy, behaviour digest, its hash, its size), remembered per genome."""
        known = self._inspected.get(key)
        if known is None:
            simple, behaviour = self.inspect(strategy)
            simple = canonical(simple)
            if simple == strategy:
                known = (strategy, behaviour, key, tree_size(strategy))
            else:
                known = (simple, behaviour, strategy_hash(simple), tree_size(simple))
            self._inspected[key] = known
            while len(self._inspected) > self.config.eval_cache:
                self._inspected.popitem(last=False)
        return known

    def _migrate(self) -> None:
        cfg = self.config
        k = len(self.islands)
        movers = [sorted(pop, key=lambda x: -x.score)[: cfg.migrants] for pop in self.islands]
        for i in range(k):
            dest = self.islands[(i + 1) % k]
            dest.sort(key=lambda x: -x.score)
            for j, m in enumerate(movers[i]):
                twin = m.clone()
                self._score(twin, m.result, (i + 1) % k)
                dest[len(dest) - 1 - j] = twin

    def _stats(self, evaluated: int) -> GenerationStats:
        everyone = [ind for pop in self.islands for ind in pop]
        general = [getattr(ind, "general_score", ind.score) for ind in everyone]
        keys = {ind.key for ind in everyone}
        return GenerationStats(
            generation=self.generation,
            best=max(general),
            median=statistics.median(general),
            diversity=len(keys) / len(everyone),
            trials=self.trials.count,
            evaluated=evaluated,
            operator_rates={k: round(v, 4) for k, v in self.bandit.rates.items()},
            island_best=[max(getattr(ind, "general_score", ind.score) for ind in pop)
                         for pop in self.islands],
        )

    def abandon(self) -> None:
        """Forget the generation in flight (its evaluation failed); the next ask() starts it
        again. The random state has moved on, so a run with an abandoned generation is not
        bit-identical to one without."""
        if self._pending and not self.islands and self._before_rebase:
            self.islands, self._rebased = self._before_rebase, True
        self._pending, self._asked = [], []

    def rebase(self) -> None:
        """The history changed (new candles): forget every result and the hall of fame; the
        next ask() re-evaluates the current islands instead of breeding. Trials keep counting."""
        if self._pending:
            raise RuntimeError("rebase between generations, not inside one")
        self._results.clear()
        self._inspected.clear()
        self.hof = HallOfFame(self.config.hof_size)
        self._rebased = bool(self.islands)

    # --- feedback -----------------------------------------------------------------------------
    def add_death(self, structure: Sequence[str], cause: str, severity: float) -> float:
        """A death report: later genomes sharing its structure are penalised."""
        return self.death.add(structure, cause, severity)

    def best(self) -> HallMember | None:
        return self.hof.members[0] if len(self.hof) else None

