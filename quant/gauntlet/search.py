"""A fixed-budget random search: the benchmark's strategy generator until evolution plugs in.

`random_search(in_sample, budget, rng)` draws `budget` distinct genomes, backtests each on the
in-sample history only and returns them ranked by in-sample Sharpe, with what validation needs:
the trial count, the variance of the per-bar Sharpe across trials, and the family (here: the
whole search is one family; its best members are the PBO matrix).

Genomes are "stop-and-reverse" templates over one random boolean tree A (long while A, short
while not A): a search space small enough that a fixed budget can find a planted edge, and
every genome is a valid DSL strategy. Any callable with the `Search` signature can replace it
(evolution's run, for instance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from quant.backtest import Evaluator
from quant.data import Dataset
from quant.genome import Sizing, Strategy, canonical_text
from quant.random_genome import random_tree
from quant.sim import SimConfig
from quant.types import Kind, Node


@dataclass(frozen=True)
class Trial:
    strategy: Strategy
    sharpe: float  # annualised, in-sample
    sharpe_per_bar: float


@dataclass(frozen=True)
class SearchResult:
    ranked: tuple[Trial, ...]  # best in-sample Sharpe first
    trial_count: int  # distinct genomes evaluated
    sharpe_variance: float  # variance of per-bar Sharpe across the trials
    family: str


Search = Callable[[Dataset, int, np.random.Generator], SearchResult]


def reversal_template(rng: np.random.Generator, depth: int = 3, max_window: int = 100) -> Strategy:
    a = random_tree(rng, Kind.BOOL, depth, max_window)
    not_a = Node("not", (a,))
    frac = float(rng.choice([0.5, 0.75, 1.0]))
    return Strategy(long_entry=a, long_exit=not_a, short_entry=not_a, short_exit=a,
                    size=Sizing("fixed", frac))


def random_search(in_sample: Dataset, budget: int, rng: np.random.Generator,
                  sim: SimConfig = SimConfig(), family: str = "random-search") -> SearchResult:
    ev = Evaluator(in_sample, sim, cache_bytes=128 * 2**20)
    seen: set[str] = set()
    trials: list[Trial] = []
    attempts = 0
    while len(trials) < budget and attempts < budget * 20:
        attempts += 1
        s = reversal_template(rng)
        key = canonical_text(s)
        if key in seen:
            continue
        seen.add(key)
        m = ev.metrics(s)
        sr, srb = m["sharpe"], m["sharpe_per_bar"]
        trials.append(Trial(s, sr if math.isfinite(sr) else -math.inf,
                            srb if math.isfinite(srb) else 0.0))
    per_bar = np.array([t.sharpe_per_bar for t in trials])
    ranked = tuple(sorted(trials, key=lambda t: -t.sharpe))
    var = float(np.var(per_bar, ddof=1)) if len(per_bar) > 1 else 0.0
    return SearchResult(ranked, len(trials), var, family)
