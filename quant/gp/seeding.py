"""Seeds for the first population: built-in templates and user DSL texts, and the population of
the parameter-only GA (one template's structure, its numbers varied)."""

from __future__ import annotations

import random

from deap import gp

from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.gp.operators import mut_constant, mut_genes, mut_window
from quant.gp.pset import Individual, from_strategy

# Classic rule families the user named; each a complete, parseable strategy.
TEMPLATES: dict[str, str] = {
    "sma-cross": """(strategy
      (long-entry (cross-above (sma close 10) (sma close 50)))
      (long-exit (cross-below (sma close 10) (sma close 50)))
      (short-entry (cross-below (sma close 10) (sma close 50)))
      (short-exit (cross-above (sma close 10) (sma close 50))))""",
    "trend-filter": """(strategy
      (long-entry (> close (sma close 50)))
      (long-exit (< close (sma close 50)))
      (short-entry (< close (sma close 50)))
      (short-exit (> close (sma close 50))))""",
    "rsi-reversion": """(strategy
      (long-entry (cross-above (rsi close 14) 30.0))
      (long-exit (> (rsi close 14) 55.0))
      (short-entry (cross-below (rsi close 14) 70.0))
      (short-exit (< (rsi close 14) 45.0))
      (stop-loss 0.04))""",
    "donchian-breakout": """(strategy
      (long-entry (> close (lag (donchian-upper 20) 1)))
      (long-exit (< close (lag (donchian-lower 10) 1)))
      (short-entry (< close (lag (donchian-lower 20) 1)))
      (short-exit (> close (lag (donchian-upper 10) 1))))""",
    "zscore-reversion": """(strategy
      (long-entry (< (zscore close 48) -2.0))
      (long-exit (> (zscore close 48) 0.0))
      (short-entry (> (zscore close 48) 2.0))
      (short-exit (< (zscore close 48) 0.0)))""",
    "squeeze-breakout": """(strategy
      (long-entry (and (squeeze-off 20 2.0 1.5) (> (squeeze-mom 20) 0.0)))
      (long-exit (< (squeeze-mom 20) 0.0))
      (short-entry (and (squeeze-off 20 2.0 1.5) (< (squeeze-mom 20) 0.0)))
      (short-exit (> (squeeze-mom 20) 0.0))
      (trailing-stop 0.03))""",
}


def template(name: str) -> Strategy:
    try:
        return parse_strategy(TEMPLATES[name], source=f"<template {name}>")
    except KeyError:
        raise KeyError(f"unknown template {name!r}; known: {', '.join(TEMPLATES)}") from None


def template_strategies() -> list[Strategy]:
    return [template(n) for n in TEMPLATES]


def parse_seed_texts(texts: dict[str, str]) -> list[Strategy]:
    """User seed files (name → DSL text); raises DslError naming the file on a bad one."""
    return [parse_strategy(text, source=name) for name, text in sorted(texts.items())]


def variant(ind: Individual, pset: gp.PrimitiveSetTyped, steps: int = 2) -> Individual:
    """Same structure, a few numbers changed (windows, thresholds, genes)."""
    child = ind.clone()
    for _ in range(steps):
        op = random.randrange(3)
        if op == 0:
            mut_window(child, pset)
        elif op == 1:
            mut_constant(child)
        else:
            mut_genes(child)
    return child


def seed_individuals(pset: gp.PrimitiveSetTyped, seeds: list[Strategy], count: int
                     ) -> list[Individual]:
    """`count` individuals from the seeds: each seed once, then numeric variants of them."""
    if not seeds or count <= 0:
        return []
    base = [from_strategy(pset, s) for s in seeds]
    out = [b.clone() for b in base[:count]]
    i = 0
    while len(out) < count:
        child = variant(base[i % len(base)], pset)
        child.origin = "seed"
        out.append(child)
        i += 1
    for ind in out:
        ind.origin = "seed"
    return out
