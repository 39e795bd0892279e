"""Variation operators on typed strategy trees, each guarded by DEAP's `staticLimit` on height and
size so trees cannot bloat: an over-limit child is replaced by a copy of a parent.

Crossover: subtree (`cxOnePoint`, typed: only same-type subtrees swap). Mutations: uniform
(a random subtree regrown), node replacement, shrink, ephemeral (a constant redrawn), window (a
look-back scaled by a log-normal step, clamped to its bounds), constant (a threshold nudged), and
genes (sizing and risk exits). Every operator works on copies and leaves its inputs untouched.
"""

from __future__ import annotations

import functools
import math
import operator
import random
from collections.abc import Callable
from dataclasses import replace

from deap import gp

from quant.genome import Sizing
from quant.gp.pset import (
    BoolT,
    Individual,
    SeriesT,
    clamp_threshold,
    gen_grow,
    window_bounds,
)
from quant.types import Kind

CROSSOVER = "cx_subtree"
MUTATIONS: tuple[str, ...] = (
    "mut_uniform", "mut_node", "mut_shrink", "mut_ephemeral", "mut_window", "mut_constant",
    "mut_genes",
)
GP_OPERATORS: tuple[str, ...] = (CROSSOVER, *MUTATIONS)
# The parameter-only GA never touches structure.
GA_CROSSOVER = "cx_constants"
GA_OPERATORS: tuple[str, ...] = (GA_CROSSOVER, "mut_ephemeral", "mut_window", "mut_constant",
                                 "mut_genes")


def _const_nodes(ind: Individual, kind: Kind) -> list[int]:
    return [i for i, n in enumerate(ind)
            if isinstance(n, gp.Terminal) and n.ret not in (SeriesT, BoolT)
            and getattr(n.ret, "kind", None) is kind]


def _with_value(node: gp.Terminal, value) -> gp.Terminal:
    twin = type(node).__new__(type(node))
    twin.value = value
    return twin


def mut_window(ind: Individual, pset: gp.PrimitiveSetTyped, sigma: float = 0.35):
    """Scale one window by exp(N(0, sigma)), at least ±1, clamped to its type's bounds."""
    idx = _const_nodes(ind, Kind.WINDOW)
    if not idx:
        return (ind,)
    i = random.choice(idx)
    node = ind[i]
    lo, hi = window_bounds(node.ret, pset.max_window)
    old = int(node.value)
    new = int(round(old * math.exp(random.gauss(0.0, sigma))))
    if new == old:
        new = old + random.choice((-1, 1))
    ind[i] = _with_value(node, int(min(max(new, lo), hi)))
    return (ind,)


def mut_constant(ind: Individual, sigma: float = 0.15):
    """Nudge one threshold by a Gaussian step scaled to its range (or to its size)."""
    idx = _const_nodes(ind, Kind.THRESHOLD)
    if not idx:
        return (ind,)
    i = random.choice(idx)
    node = ind[i]
    t = node.ret
    x = float(node.value)
    if t.lo is not None and t.hi is not None and t.hi - t.lo < 1e3:
        step = sigma * (float(t.hi) - float(t.lo))
    else:
        step = sigma * max(1.0, abs(x))
    ind[i] = _with_value(node, clamp_threshold(t, x + random.gauss(0.0, step)))
    return (ind,)


def _nudge(x: float | None, lo: float, hi: float, p_toggle: float = 0.25) -> float | None:
    if x is None:
        return round(random.uniform(lo, hi), 4) if random.random() < 0.5 else None
    if random.random() < p_toggle:
        return None
    return round(min(hi, max(lo, x * math.exp(random.gauss(0.0, 0.3)))), 4)


def mut_genes(ind: Individual):
    """Change one sizing or risk gene: stop-loss, take-profit, trailing stop, max hold, size."""
    g = ind.genes
    which = random.randrange(5)
    if which == 0:
        g = replace(g, stop_loss=_nudge(g.stop_loss, 0.005, 0.15))
    elif which == 1:
        g = replace(g, take_profit=_nudge(g.take_profit, 0.01, 0.3))
    elif which == 2:
        g = replace(g, trailing_stop=_nudge(g.trailing_stop, 0.005, 0.15))
    elif which == 3:
        mh = _nudge(None if g.max_hold is None else float(g.max_hold), 2, 500)
        g = replace(g, max_hold=None if mh is None else int(round(mh)))
    else:
        s = g.size
        if random.random() < 0.2:  # switch sizing kind
            s = (Sizing("vol-target", 1.0, round(random.uniform(0.2, 1.0), 2),
                        random.randint(10, 100)) if s.kind == "fixed"
                 else Sizing("fixed", round(random.uniform(0.2, 1.0), 2)))
        elif s.kind == "fixed":
            s = replace(s, fraction=round(min(3.0, max(0.05, s.fraction * math.exp(
                random.gauss(0.0, 0.3)))), 2))
        else:
            s = replace(s, target_vol=round(min(3.0, max(0.05, s.target_vol * math.exp(
                random.gauss(0.0, 0.3)))), 2), window=int(min(200, max(5, s.window + random.randint(-10, 10)))))
        g = replace(g, size=s)
    ind.genes = g
    return (ind,)


def cx_subtree(a: Individual, b: Individual):
    """Typed one-point subtree crossover (DEAP's `cxOnePoint`); each child keeps its
    tree-parent's genes. Unlike DEAP, the common types are sorted by name before the draw:
    DEAP draws from a set of classes, whose order changes from run to run, and a seeded run
    must be reproducible."""
    if len(a) < 2 or len(b) < 2:
        return a, b
    types_a: dict[type, list[int]] = {}
    types_b: dict[type, list[int]] = {}
    for i in range(1, len(a)):
        types_a.setdefault(a[i].ret, []).append(i)
    for i in range(1, len(b)):
        types_b.setdefault(b[i].ret, []).append(i)
    common = sorted(set(types_a) & set(types_b), key=lambda t: t.__name__)
    if not common:
        return a, b
    t = random.choice(common)
    i, j = random.choice(types_a[t]), random.choice(types_b[t])
    sa, sb = a.searchSubtree(i), b.searchSubtree(j)
    a[sa], b[sb] = b[sb], a[sa]
    return a, b


def cx_constants(a: Individual, b: Individual):
    """Parameter GA crossover: same structure, each constant (and each gene) taken from either
    parent with probability 1/2. Different structures are returned unchanged."""
    if len(a) != len(b) or any(x.name != y.name for x, y in zip(a, b)
                               if not isinstance(x, gp.Terminal) or x.ret in (SeriesT, BoolT)):
        return a, b
    for i, (x, y) in enumerate(zip(a, b)):
        if isinstance(x, gp.Terminal) and x.ret not in (SeriesT, BoolT) and random.random() < 0.5:
            a[i], b[i] = y, x
    if random.random() < 0.5:
        a.genes, b.genes = b.genes, a.genes
    return a, b


def _limited(fn: Callable, max_height: int, max_size: int) -> Callable:
    fn = gp.staticLimit(key=operator.attrgetter("height"), max_value=max_height)(fn)
    return gp.staticLimit(key=len, max_value=max_size)(fn)


def make_operators(pset: gp.PrimitiveSetTyped, max_height: int = 8, max_size: int = 60,
                   regrow_height: int = 3) -> dict[str, Callable]:
    """Every operator by name, bound to `pset` and wrapped in the static limits. Each takes
    one individual (two for crossovers), modifies it in place and returns a tuple of children;
    callers pass copies."""
    regrow = functools.partial(gen_grow, min_=0, max_=regrow_height)
    ops: dict[str, Callable] = {
        "cx_subtree": cx_subtree,
        "cx_constants": cx_constants,
        "mut_uniform": functools.partial(gp.mutUniform, expr=regrow, pset=pset),
        "mut_node": functools.partial(gp.mutNodeReplacement, pset=pset),
        "mut_shrink": gp.mutShrink,
        "mut_ephemeral": functools.partial(gp.mutEphemeral, mode="one"),
        "mut_window": functools.partial(mut_window, pset=pset),
        "mut_constant": mut_constant,
        "mut_genes": mut_genes,
    }
    return {name: _limited(_named(fn, name), max_height, max_size) for name, fn in ops.items()}


def _named(fn: Callable, name: str) -> Callable:
    @functools.wraps(fn)
    def call(*inds):
        return fn(*inds)

    call.__name__ = name
    return call


def is_binary(name: str) -> bool:
    return name.startswith("cx_")
