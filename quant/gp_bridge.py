"""Bridge to DEAP's typed GP: a `PrimitiveSetTyped` built from the primitive catalogue, and
conversions between DEAP trees and our immutable `Node` trees.

Evolution breeds DEAP trees (generation, crossover, mutation, `staticLimit`); everything else
(DSL, hashing, signals) works on Nodes, so each individual crosses this bridge once per
evaluation. Nothing here calls `deap.creator.create`.

Types: `SeriesT` and `BoolT` for the two series kinds; plain `int` for window lengths and
`float` for thresholds, because `PrimitiveTree.from_string` types a literal by `type(eval(x))`.
A window or threshold out of its primitive's bounds is clamped into them by `to_node`, so every
DEAP tree maps to a valid genome. DEAP's generators need a primitive for every type below the
maximum depth, hence the identity primitives `window_id` and `threshold_id`, which `to_node`
drops.
"""

from __future__ import annotations

import functools
import random

from quant.primitives import PRIMITIVES, Arg
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Kind, Node


class SeriesT:
    """DEAP type tag: a float series."""


class BoolT:
    """DEAP type tag: a boolean series."""


_TYPE = {Kind.SERIES: SeriesT, Kind.BOOL: BoolT, Kind.WINDOW: int, Kind.THRESHOLD: float}
_LEVELS = (-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 20.0, 30.0, 50.0, 70.0, 80.0)
_IDENTITY = {"window_id": int, "threshold_id": float}


def deap_name(key: str) -> str:
    """Primitive key as a Python identifier (DEAP's compile and str() want one)."""
    return key.replace("-", "_")


_FROM_DEAP = {deap_name(k): k for k in PRIMITIVES}


def random_window() -> int:
    """Log-uniform look-back in [2, 200] bars (clamped to each primitive's bounds later)."""
    return int(round(2 * 100 ** random.random()))


def random_threshold() -> float:
    if random.random() < 0.5:
        return random.choice(_LEVELS)
    return round(random.uniform(-3.0, 3.0), 2)


def _not_compiled(*_args):
    raise RuntimeError("organism trees are evaluated by quant.signals, not gp.compile")


def _identity(x):
    return x


@functools.lru_cache(maxsize=1)
def primitive_set():
    """The typed primitive set (built once per process: DEAP ephemerals are global)."""
    from deap import gp

    pset = gp.PrimitiveSetTyped("strategy", [], BoolT)
    for key, p in PRIMITIVES.items():
        if p.args:
            pset.addPrimitive(_not_compiled, [_TYPE[a.kind] for a in p.args], _TYPE[p.ret],
                              name=deap_name(key))
        else:
            pset.addTerminal(key, _TYPE[p.ret], name=deap_name(key))
    pset.addEphemeralConstant("organism_window", random_window, int)
    pset.addEphemeralConstant("organism_threshold", random_threshold, float)
    pset.addPrimitive(_identity, [int], int, name="window_id")
    pset.addPrimitive(_identity, [float], float, name="threshold_id")
    return pset


def _clamp(value, arg: Arg):
    if arg.kind is Kind.WINDOW:
        v = int(round(value))
    else:
        v = float(value)
    if arg.lo is not None and v < arg.lo:
        v = type(v)(arg.lo)
    if arg.hi is not None and v > arg.hi:
        v = type(v)(arg.hi)
    return v


def to_node(tree) -> Node:
    """A DEAP PrimitiveTree (or its prefix list) as a Node tree."""
    items = list(tree)
    pos = 0

    def build(arg: Arg | None) -> Node:
        nonlocal pos
        item = items[pos]
        pos += 1
        name = item.name
        if name in _IDENTITY:
            return build(arg)
        if item.arity == 0 and name not in _FROM_DEAP:  # a number: ephemeral or literal
            value = _clamp(item.value, arg) if arg is not None else item.value
            if arg is not None and arg.kind is Kind.WINDOW:
                return Node(WINDOW_CONST, (), int(value))
            return Node(THRESHOLD_CONST, (), float(value))
        key = _FROM_DEAP[name]
        kids = tuple(build(a) for a in PRIMITIVES[key].args)
        return Node(key, kids)

    node = build(None)
    if pos != len(items):
        raise ValueError(f"tree has {len(items) - pos} trailing items")
    return node


def from_node(node: Node):
    """A Node tree as a DEAP PrimitiveTree over `primitive_set()`."""
    from deap import gp

    pset = primitive_set()
    out: list = []

    def emit(n: Node) -> None:
        if n.name == WINDOW_CONST:
            out.append(gp.Terminal(int(n.value), False, int))
        elif n.name == THRESHOLD_CONST:
            out.append(gp.Terminal(float(n.value), False, float))
        else:
            out.append(pset.mapping[deap_name(n.name)])
            for c in n.children:
                emit(c)

    emit(node)
    return gp.PrimitiveTree(out)
