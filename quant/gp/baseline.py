"""Blind search, the yardstick evolution must beat: genomes drawn from the same ramped
half-and-half generator as the first population, scored the same way, the best one kept."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence

from quant.dsl import format_strategy
from quant.genome import Strategy, canonical
from quant.gp.fitness import GenomeResult
from quant.gp.pset import Individual, build_pset, gen_half_and_half, to_strategy
from quant.gp.search import Search, SearchConfig


def random_search(evaluate: Callable[[Sequence[tuple[str, str]]], dict[str, GenomeResult]],
                  evaluations: int, config: SearchConfig = SearchConfig(), batch: int = 256
                  ) -> tuple[Strategy, float, int]:
    """The best of `evaluations` distinct random genomes: (strategy, score, genomes tried)."""
    rng = random.Random(config.seed)
    pset = build_pset(config.max_window)
    scorer = Search(config)  # for its score function only
    seen: set[str] = set()
    best: tuple[float, str, Strategy] | None = None
    attempts = 0
    outside = random.getstate()
    try:
        while len(seen) < evaluations and attempts < evaluations * 20:
            random.setstate(rng.getstate())
            todo: dict[str, tuple[str, Strategy, int]] = {}
            while len(todo) < min(batch, evaluations - len(seen)) and attempts < evaluations * 20:
                attempts += 1
                ind = Individual(gen_half_and_half(pset, config.init_min_height,
                                                   config.init_max_height))
                s = canonical(to_strategy(ind))
                text = format_strategy(s, pretty=False)
                key = hashlib.sha256(text.encode()).hexdigest()
                if key not in seen and key not in todo:
                    todo[key] = (text, s, len(ind))
            rng.setstate(random.getstate())
            results = evaluate([(k, v[0]) for k, v in todo.items()])
            for key, (_, s, size) in todo.items():
                seen.add(key)
                score = scorer.base_score(results[key], size)
                if best is None or (score, key) > (best[0], best[1]):
                    best = (score, key, s)
    finally:
        random.setstate(outside)
    assert best is not None
    return best[2], best[0], len(seen)
