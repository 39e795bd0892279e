"""The DEAP bridge: a `PrimitiveSetTyped` built from `quant.primitives`, and lossless conversion
between DEAP trees and `quant.genome.Strategy`.

One DEAP tree holds a whole strategy: a `strategy` root with four boolean sections (long entry,
long exit, short entry, short exit). Every window or threshold argument gets its own constant
type carrying the catalogue's bounds (`sma`'s window 2..500 is a different type from `lag`'s
1..500), so subtree crossover and every mutation can only put a constant where it is legal.
Sizing and risk genes ride beside the tree on the individual (`Genes`).

Randomness: DEAP's operators draw from the global `random` module; `search.Search` seeds and
restores that state around every call, which is what makes a run reproducible.
"""

from __future__ import annotations

import functools
import math
import random
import re
from dataclasses import dataclass, field

from deap import base, gp

from quant.genome import Sizing, Strategy
from quant.primitives import PRIMITIVES, Arg
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Kind, Node


class SeriesT:
    """DEAP type of float series."""


class BoolT:
    """DEAP type of boolean series (every strategy section is one)."""


class StrategyT:
    """DEAP type of the root: (strategy long-entry long-exit short-entry short-exit)."""


ROOT = "strategy"
SECTIONS = ("long_entry", "long_exit", "short_entry", "short_exit")
# Comparison levels when the catalogue gives no bounds (RSI, z-scores, returns, ...).
LEVELS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 20.0, 30.0, 50.0, 70.0, 80.0)

_CONST_TYPES: dict[tuple, type] = {}


def _num(x: float | None) -> str:
    if x is None:
        return "any"
    return re.sub(r"[^0-9a-zA-Z]", "_", repr(x).replace("-", "m"))


def const_type(arg: Arg) -> type:
    """The DEAP type of a window/threshold argument: one class per (kind, lo, hi)."""
    key = (arg.kind, arg.lo, arg.hi)
    t = _CONST_TYPES.get(key)
    if t is None:
        stem = "Window" if arg.kind is Kind.WINDOW else "Threshold"
        name = f"{stem}_{_num(arg.lo)}_{_num(arg.hi)}"
        t = type(name, (), {"kind": arg.kind, "lo": arg.lo, "hi": arg.hi, "__module__": __name__,
                            "__doc__": f"{stem.lower()} constant in [{arg.lo}, {arg.hi}]"})
        globals()[name] = t  # importable by name, so trees pickle
        _CONST_TYPES[key] = t
    return t


def _arg_type(arg: Arg) -> type:
    if arg.kind is Kind.SERIES:
        return SeriesT
    if arg.kind is Kind.BOOL:
        return BoolT
    return const_type(arg)


for _p in PRIMITIVES.values():  # create every constant type at import: stable names
    for _a in _p.args:
        _arg_type(_a)


def window_bounds(t: type, max_window: int) -> tuple[int, int]:
    lo = int(t.lo)
    return lo, int(max(lo, min(int(t.hi), max_window)))


def threshold_bounded(t: type) -> bool:
    return t.lo is not None and t.hi is not None and t.hi - t.lo < 1e3


def draw_window(lo: int, hi: int) -> int:
    """Log-uniform in [lo, hi]: short and long look-backs equally likely per octave."""
    n = int(round(math.exp(random.uniform(math.log(lo), math.log(hi + 0.999))) - 0.499))
    return int(min(max(n, lo), hi))


def draw_threshold(t: type) -> float:
    if threshold_bounded(t):
        return round(random.uniform(float(t.lo), float(t.hi)), 2)
    return float(random.choice(LEVELS))


def clamp_threshold(t: type, x: float) -> float:
    x = round(float(x), 4)
    if t.lo is not None:
        x = max(float(t.lo), x)
    if t.hi is not None:
        x = min(float(t.hi), x)
    return float(x)


def _never(*_args):  # DEAP wants a callable per primitive; trees are compiled by quant.signals
    raise RuntimeError("strategy trees are evaluated by quant.signals, not by gp.compile")


@functools.lru_cache(maxsize=8)
def build_pset(max_window: int = 200) -> gp.PrimitiveSetTyped:
    """The typed primitive set; windows capped at `max_window` bars (keep it well under the
    in-sample length). Cached: one set per cap, shared by every search in the process."""
    pset = gp.PrimitiveSetTyped(f"strategy_w{max_window}", [], StrategyT)
    pset.addPrimitive(_never, [BoolT] * 4, StrategyT, name=ROOT)
    pset.max_window = int(max_window)
    for p in PRIMITIVES.values():
        ret = SeriesT if p.ret is Kind.SERIES else BoolT
        if p.args:
            pset.addPrimitive(_never, [_arg_type(a) for a in p.args], ret, name=p.key)
        else:
            pset.addTerminal(p.key, ret, name=p.key)
    for t in _CONST_TYPES.values():
        if t.kind is Kind.WINDOW:
            lo, hi = window_bounds(t, max_window)
            fn = functools.partial(draw_window, lo, hi)
        else:
            fn = functools.partial(draw_threshold, t)
        pset.addEphemeralConstant(f"{t.__name__}_w{max_window}", fn, t)
    return pset


def has_primitives(pset: gp.PrimitiveSetTyped, type_: type) -> bool:
    return bool(pset.primitives.get(type_))


# --- generation: DEAP's generate(), aware that constant types have terminals only ----------------
def generate(pset: gp.PrimitiveSetTyped, min_: int, max_: int, full: bool,
             type_: type | None = None) -> list:
    """DEAP's `gp.generate` with the full or grow condition, except that a type without
    primitives (window, threshold) always ends in a terminal and a type without terminals (the
    strategy root) always takes a primitive, so typed trees never dead-end."""
    if type_ is None:
        type_ = pset.ret
    expr = []
    height = random.randint(min_, max_)
    stack = [(0, type_)]
    while stack:
        depth, t = stack.pop()
        if full:
            stop = depth >= height
        else:
            stop = depth >= height or (depth >= min_ and random.random() < pset.terminalRatio)
        if (stop and pset.terminals.get(t)) or not has_primitives(pset, t):
            term = random.choice(pset.terminals[t])
            if type(term) is gp.MetaEphemeral:
                term = term()
            expr.append(term)
        else:
            prim = random.choice(pset.primitives[t])
            expr.append(prim)
            for arg in reversed(prim.args):
                stack.append((depth + 1, arg))
    return expr


def gen_full(pset, min_, max_, type_=None):
    return generate(pset, min_, max_, True, type_)


def gen_grow(pset, min_, max_, type_=None):
    return generate(pset, min_, max_, False, type_)


def gen_half_and_half(pset, min_, max_, type_=None):
    """Ramped half-and-half (the ramp is the random height in [min_, max_])."""
    return generate(pset, min_, max_, random.random() < 0.5, type_)


# --- individuals -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Genes:
    """The non-tree part of a genome: sizing and the risk exits."""

    size: Sizing = field(default_factory=Sizing)
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_hold: int | None = None


class StrategyFitness(base.Fitness):
    """Objectives: score (higher is better), max drawdown and tree size (lower is better)."""

    weights = (1.0, -1.0, -1.0)


class Individual(gp.PrimitiveTree):
    """A strategy tree with its genes, fitness and bookkeeping (origin operator, parent)."""

    def __init__(self, content, genes: Genes | None = None):
        super().__init__(content)
        self.genes = genes if genes is not None else Genes()
        self.fitness = StrategyFitness()
        self.score = -math.inf
        self.key = ""  # genome hash, set when evaluated
        self.origin = "init"
        self.parent_score = -math.inf
        self.general_score = -math.inf  # score without an island's regime specialty
        self.result = None  # the GenomeResult it was scored from

    def clone(self) -> Individual:
        twin = Individual(self, self.genes)
        if self.fitness.valid:
            twin.fitness.values = self.fitness.values
        twin.score, twin.key, twin.origin = self.score, self.key, self.origin
        twin.parent_score, twin.general_score = self.parent_score, self.general_score
        twin.result = self.result
        return twin

    def __deepcopy__(self, memo):  # nodes are immutable: a shallow node list is a true copy
        return self.clone()

    def __reduce__(self):
        return (_rebuild, (list(self), self.genes, self.fitness.values, self.score, self.key,
                           self.origin, self.parent_score))


def _rebuild(nodes, genes, values, score, key, origin, parent_score):
    ind = Individual(nodes, genes)
    if values:
        ind.fitness.values = values
    ind.score, ind.key, ind.origin, ind.parent_score = score, key, origin, parent_score
    return ind


# --- conversion ------------------------------------------------------------------------------
def to_node(tree: list, begin: int = 0) -> tuple[Node, int]:
    """The quant Node of the subtree at `begin`, and the index after it."""
    n = tree[begin]
    if isinstance(n, gp.Terminal):
        t = n.ret
        if t is SeriesT or t is BoolT:
            return Node(n.value), begin + 1
        if t.kind is Kind.WINDOW:
            return Node(WINDOW_CONST, (), int(n.value)), begin + 1
        return Node(THRESHOLD_CONST, (), float(n.value)), begin + 1
    kids = []
    i = begin + 1
    for _ in range(n.arity):
        kid, i = to_node(tree, i)
        kids.append(kid)
    return Node(n.name, tuple(kids)), i


def to_strategy(ind: Individual) -> Strategy:
    if ind[0].name != ROOT:
        raise ValueError(f"tree root is {ind[0].name!r}, expected {ROOT!r}")
    trees, i = [], 1
    for _ in SECTIONS:
        node, i = to_node(ind, i)
        trees.append(node)
    g = ind.genes
    return Strategy(*trees, size=g.size, stop_loss=g.stop_loss, take_profit=g.take_profit,
                    trailing_stop=g.trailing_stop, max_hold=g.max_hold)


def _const_terminal(pset: gp.PrimitiveSetTyped, t: type, value) -> gp.Terminal:
    eph = pset.terminals[t][0]
    term = eph.__new__(eph)  # an Ephemeral whose value we set (mutEphemeral can redraw it)
    term.value = int(value) if t.kind is Kind.WINDOW else float(value)
    return term


def from_node(pset: gp.PrimitiveSetTyped, node: Node, type_: type, out: list) -> None:
    p = PRIMITIVES[node.name]
    if not p.args:
        out.append(pset.mapping[node.name])
        return
    out.append(pset.mapping[node.name])
    for child, arg in zip(node.children, p.args):
        t = _arg_type(arg)
        if arg.kind in (Kind.WINDOW, Kind.THRESHOLD):
            out.append(_const_terminal(pset, t, child.value))
        else:
            from_node(pset, child, t, out)


def from_strategy(pset: gp.PrimitiveSetTyped, s: Strategy) -> Individual:
    """The DEAP individual of a strategy (seeds from templates and DSL files)."""
    out: list = [pset.mapping[ROOT]]
    for node in s.trees():
        from_node(pset, node, BoolT, out)
    genes = Genes(s.size, s.stop_loss, s.take_profit, s.trailing_stop, s.max_hold)
    return Individual(out, genes)


def max_window_of(s: Strategy) -> int:
    return max((int(n.value) for t in s.trees() for n in t.walk() if n.name == WINDOW_CONST),
               default=0)
