"""Random, always-valid genomes: for property tests, benchmarks and evolution's first population."""

from __future__ import annotations

import numpy as np

from quant.genome import FALSE, Sizing, Strategy
from quant.primitives import PRIMITIVES, Arg, Primitive
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Kind, Node

_LEVELS = (-2.0, -1.0, 0.0, 1.0, 2.0, 20.0, 30.0, 50.0, 70.0, 80.0)


def _const(rng: np.random.Generator, arg: Arg, max_window: int) -> Node:
    if arg.kind is Kind.WINDOW:
        hi = int(min(arg.hi, max(arg.lo, max_window)))
        # log-uniform: short and long look-backs equally likely per octave
        n = int(round(np.exp(rng.uniform(np.log(arg.lo), np.log(hi + 0.999))) - 0.499))
        return Node(WINDOW_CONST, (), int(min(max(n, arg.lo), hi)))
    if arg.lo is not None and arg.hi is not None and arg.hi - arg.lo < 1e3:
        x = round(float(rng.uniform(arg.lo, arg.hi)), 2)
    else:
        x = float(rng.choice(_LEVELS))
    return Node(THRESHOLD_CONST, (), x)


def _leafy(p: Primitive) -> bool:
    return all(a.kind in (Kind.WINDOW, Kind.THRESHOLD) for a in p.args)


_BY_RET = {
    kind: tuple(p for p in PRIMITIVES.values() if p.ret is kind and p.key not in ("true", "false"))
    for kind in (Kind.SERIES, Kind.BOOL)
}


def random_tree(rng: np.random.Generator, kind: Kind = Kind.BOOL, depth: int = 3,
                max_window: int = 200) -> Node:
    """A random tree of `kind` with height at most `depth` (constants count as a level)."""
    pool = [p for p in _BY_RET[kind] if depth > 2 or _leafy(p)]
    p = pool[int(rng.integers(len(pool)))]
    kids = tuple(
        _const(rng, a, max_window) if a.kind in (Kind.WINDOW, Kind.THRESHOLD)
        else random_tree(rng, a.kind, depth - 1, max_window)
        for a in p.args
    )
    return Node(p.key, kids)


def random_strategy(rng: np.random.Generator, depth: int = 4, shorts: bool = True,
                    max_window: int = 200) -> Strategy:
    def tree() -> Node:
        return random_tree(rng, Kind.BOOL, depth, max_window)

    def maybe(p: float, lo: float, hi: float) -> float | None:
        return round(float(rng.uniform(lo, hi)), 4) if rng.random() < p else None

    size = Sizing("fixed", fraction=round(float(rng.uniform(0.2, 1.0)), 2))
    if rng.random() < 0.3:
        size = Sizing("vol-target", 1.0, round(float(rng.uniform(0.2, 1.0)), 2),
                      int(rng.integers(10, 100)))
    return Strategy(
        long_entry=tree(), long_exit=tree(),
        short_entry=tree() if shorts else FALSE, short_exit=tree() if shorts else FALSE,
        size=size, stop_loss=maybe(0.4, 0.005, 0.1), take_profit=maybe(0.3, 0.01, 0.2),
        trailing_stop=maybe(0.2, 0.005, 0.1),
        max_hold=int(rng.integers(2, 200)) if rng.random() < 0.3 else None,
    )
