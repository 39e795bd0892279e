"""One evolution run per history (a coin/interval, or a configured data spec): its search, its
evaluator, its candidates. Pure apart from the local process pool it owns."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from pathlib import Path

from agents.evolution.config import EvolutionConfig
from quant.data import Dataset
from quant.dsl import format_node
from quant.genome import Strategy
from quant.gp.fitness import IN_SAMPLE, dataset_digest, in_sample_bars, searched_range
from quant.gp.pool import LocalPool
from quant.gauntlet.support import HistorySupport, history_support
from quant.gp.search import HallMember, Search, SearchConfig
from quant.gp.simplify import InSampleInspector
from quant.gp.trials import TrialCounter
from quant.gp.wire import performance
from quant.sim import SimConfig
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Node
from schemas import EvolutionProgress, StrategyCandidate


def family_of(strategy: Strategy) -> str:
    """Structural family for PBO: the trees with every constant blanked out, hashed."""

    def blank(n: Node) -> Node:
        if n.name in (WINDOW_CONST, THRESHOLD_CONST):
            return Node(n.name, (), 0 if n.name == WINDOW_CONST else 0.0)
        return Node(n.name, tuple(blank(c) for c in n.children))

    text = " ".join(format_node(blank(t)) for t in strategy.trees())
    return "f" + hashlib.sha256(text.encode()).hexdigest()[:10]


def passes_limits(m: HallMember, cfg: EvolutionConfig) -> bool:
    """The user's pre-production limits (in-sample)."""
    r = m.result
    return (not r.failed and r["bars"] >= cfg.candidate_min_bars
            and r["sharpe"] >= cfg.candidate_min_sharpe
            and r["max_drawdown"] <= cfg.candidate_max_drawdown
            and r["win_rate"] >= cfg.candidate_min_win_rate)


def run_id_for(coin: str, interval: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "-", f"{coin}-{interval}")


class MarketRun:
    def __init__(self, run_id: str, coin: str, interval: str, data_spec: str, dataset: Dataset,
                 cfg: EvolutionConfig, seeds: list[Strategy], trials: TrialCounter | None = None,
                 sim: SimConfig = SimConfig(), target_sharpe: float = 2.0):
        self.run_id, self.coin, self.interval, self.data_spec = run_id, coin, interval, data_spec
        self.cfg = cfg
        self.sim = sim
        self.target_sharpe = target_sharpe  # validation's min_btl_target_sharpe
        n_in = in_sample_bars(len(dataset))
        self.search = Search(SearchConfig(
            population=cfg.population, islands=cfg.islands, seed=cfg.seed,
            selection=cfg.selection, min_trades=cfg.min_trades, hof_size=cfg.hof_size,
            max_window=int(max(10, min(200, n_in // 5)))), seeds=seeds,
            inspect=InSampleInspector(dataset, sim, IN_SAMPLE, cfg.cache_mb))
        if trials is not None:
            self.search.trials = trials
        self.published: OrderedDict[str, None] = OrderedDict()  # genome hashes, bounded
        self.pool: LocalPool | None = None
        self.dataset = dataset
        self.digest = dataset_digest(dataset)
        self.searched = searched_range(dataset)  # every bar the search has seen so far

    def open_pool(self) -> LocalPool:
        """The local evaluator for the current data (created lazily, in a worker thread)."""
        if self.pool is None:
            self.pool = LocalPool(self.dataset, self.sim, IN_SAMPLE,
                                  workers=self.cfg.workers or None, cache_mb=self.cfg.cache_mb)
        return self.pool

    def set_data(self, dataset: Dataset) -> None:
        """Grown history: new evaluator, results forgotten, islands re-evaluated next."""
        self.close()
        self.dataset = dataset
        self.digest = dataset_digest(dataset)
        self.searched = searched_range(dataset, since=self.searched)
        self.search.rebase()
        self.search.inspect = InSampleInspector(dataset, self.sim, IN_SAMPLE, self.cfg.cache_mb)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def support(self) -> HistorySupport:
        """What this run's history supports: its trials on the in-sample years searched."""
        return history_support(self.search.trials.count, self.searched.bars,
                               self.dataset.bars_per_year, self.target_sharpe)

    def progress(self, now_ns: int, evals_per_s: float) -> EvolutionProgress:
        st = self.search.last_stats
        assert st is not None
        support = self.support()
        return EvolutionProgress(
            ts_event=now_ns, ts_init=now_ns, run_id=self.run_id, generation=st.generation,
            best_fitness=st.best, median_fitness=st.median, diversity=st.diversity,
            trials=st.trials, evals_per_s=evals_per_s, operator_rates=dict(st.operator_rates),
            island_best=list(st.island_best), history_years=support.years,
            min_btl_years=support.min_btl_years, supported_trials=support.supported_trials)

    def new_candidates(self, now_ns: int) -> list[StrategyCandidate]:
        """Hall-of-fame members that pass the limits and were not published yet by this run
        (`mark_published` once the store acknowledged one)."""
        out = []
        for m in self.search.hof:
            if m.key in self.published or not passes_limits(m, self.cfg):
                continue
            algo = self.search.algorithm_type
            out.append(StrategyCandidate(
                ts_event=now_ns, ts_init=now_ns, strategy_id=m.strategy_id(algo),
                algorithm_type=algo, generation=m.generation, genome_hash=m.key, dsl=m.dsl,
                coin=self.coin, interval=self.interval, data_spec=self.data_spec,
                in_sample=performance(m.result), trial_count=self.search.trials.count,
                sharpe_variance=self.search.trials.sharpe_variance,
                family=family_of(m.strategy), regime_affinity=m.regime_affinity(),
                searched=self.searched))
        return out

    def mark_published(self, genome_hash: str) -> None:
        self.published[genome_hash] = None
        while len(self.published) > 10_000:
            self.published.popitem(last=False)

    def save_trials(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{self.run_id}.npz.tmp"
        tmp.write_bytes(self.search.trials.to_bytes())
        tmp.replace(folder / f"{self.run_id}.npz")


def load_trials(folder: Path, run_id: str) -> TrialCounter | None:
    path = folder / f"{run_id}.npz"
    return TrialCounter.from_bytes(path.read_bytes()) if path.is_file() else None
