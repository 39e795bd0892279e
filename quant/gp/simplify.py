"""What a strategy really does on the bars it was bred on: the parts that never act, removed.

Evolution breeds trees with parts that cannot change a decision on the data: seen in real runs,
`(cross-above high low)` (a high never crosses above its own bar's low) and `(cross-below open
0.0)` (a price never falls below zero), or `(and X true)`. They cost nothing in fitness, so the
hall of fame showed them, and a trader reading `(or X (cross-above high low))` could not tell
that the rule is X alone.

`simplify_on(strategy, cache)` replaces every boolean subtree whose value is the same on every
bar of the cache's data with `true` or `false`, then folds the logic (`(and X false)` is false,
`(or X false)` is X, `(not (not X))` is X, `(and X X)` is X ...), and clears the exit of a side
that never enters. Each replacement keeps every section's signal identical on that data, so
the simplified strategy makes exactly the same trades there. `InSampleInspector` does this on
the in-sample bars a search evaluates and checks it by simulation (same trades, same returns;
otherwise the strategy is kept as it was), and gives each strategy's behaviour as a digest of
its in-sample trades, which the hall of fame de-duplicates on.

A part that never acted in-sample might act on later bars (`(> close 1e6)`); removing it means
validation tests the strategy the search actually selected, not behaviour no bar ever tried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from quant.data import Dataset
from quant.genome import Strategy, canonical_node
from quant.gp.fitness import IN_SAMPLE, in_sample_bars
from quant.primitives import PRIMITIVES
from quant.signals import IndicatorCache, compile_signals
from quant.sim import SimConfig, simulate
from quant.types import Kind, Node

TRUE = Node("true")
FALSE = Node("false")
# (strategy) -> (the strategy as it really acts, a digest of its trades): InSampleInspector
Inspect = Callable[[Strategy], tuple[Strategy, str]]


def tree_size(strategy: Strategy) -> int:
    """Nodes of the strategy's tree as evolution counts them (its root and every constant)."""
    return 1 + sum(t.size() for t in strategy.trees())


def _is_bool(node: Node) -> bool:
    p = PRIMITIVES.get(node.name)
    return p is not None and p.ret is Kind.BOOL


def fold(node: Node) -> Node:
    """Logical identities that hold on any data: constants through and/or/not, `(and X X)`,
    `(or X X)`, `(not (not X))`, `(and X (not X))`, `(or X (not X))`."""
    if not node.children or not _is_bool(node):
        return node
    kids = tuple(fold(c) if _is_bool(c) else c for c in node.children)
    name = node.name
    if name == "not":
        (p,) = kids
        if p == TRUE:
            return FALSE
        if p == FALSE:
            return TRUE
        if p.name == "not":
            return p.children[0]
        return Node(name, kids)
    if name in ("and", "or"):
        p, q = kids
        absorbing, neutral = (FALSE, TRUE) if name == "and" else (TRUE, FALSE)
        if absorbing in (p, q):
            return absorbing
        if p == neutral:
            return q
        if q == neutral:
            return p
        if canonical_node(p) == canonical_node(q):
            return p
        if Node("not", (p,)) == q or Node("not", (q,)) == p:
            return absorbing
        return Node(name, kids)
    return Node(name, kids, node.value)


def _constant_parts(node: Node, cache: IndicatorCache) -> Node:
    """`node` with every boolean subtree that is all-true or all-false on the cache's data
    replaced by `true` / `false` (largest such subtrees first)."""
    if not _is_bool(node) or not node.children:
        return node
    value = np.asarray(cache.evaluate(node)).astype(np.bool_, copy=False)
    if value.shape[0]:
        if not value.any():
            return FALSE
        if value.all():
            return TRUE
    kids = tuple(_constant_parts(c, cache) if _is_bool(c) else c for c in node.children)
    return Node(node.name, kids, node.value)


def simplify_on(strategy: Strategy, cache: IndicatorCache) -> Strategy:
    """The strategy without the parts that never act on `cache.dataset` (module docstring).
    Every section's signal is unchanged on that data; a side that never enters loses its exit."""
    le, lx, se, sx = (fold(_constant_parts(t, cache)) for t in strategy.trees())
    if le == FALSE:
        lx = FALSE
    if se == FALSE:
        sx = FALSE
    return replace(strategy, long_entry=le, long_exit=lx, short_entry=se, short_exit=sx)


def trades_digest(trades: np.ndarray) -> str:
    """SHA-256 (hex, 32 chars) of a trade list: equal for identical trades, bit for bit."""
    return hashlib.sha256(np.ascontiguousarray(trades, dtype=np.float64).tobytes()).hexdigest()[:32]


def result_digest(values, regimes=(), segments=()) -> str:
    """A behaviour digest from in-sample figures alone, for a search without an inspector:
    identical trades give identical figures; distinct trades that agree on every figure (17
    metrics, regime and segment Sharpes, all float64) are not a practical concern."""
    text = repr((tuple(values), tuple(regimes), tuple(segments)))
    return "m" + hashlib.sha256(text.encode()).hexdigest()[:31]


class InSampleInspector:
    """Simplifies strategies and digests their trades on the in-sample bars of `dataset` (the
    first `in_sample` fraction, what InSampleEvaluator reads), with the same costs."""

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 in_sample: float = IN_SAMPLE, cache_mb: float = 16.0):
        self.data = dataset.slice(0, in_sample_bars(len(dataset), in_sample))
        self.config = config
        self.cache = IndicatorCache(self.data, int(cache_mb * 2**20))

    def _run(self, strategy: Strategy):
        return simulate(strategy, compile_signals(strategy, self.cache), self.data, self.config)

    def inspect(self, strategy: Strategy) -> tuple[Strategy, str]:
        """(the simplest strategy that trades exactly as `strategy` does in-sample, the digest
        of those trades). A simplification that would change a trade is not made."""
        try:
            before = self._run(strategy)
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
            return strategy, "failed"
        digest = trades_digest(before.trades)
        try:
            simple = simplify_on(strategy, self.cache)
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
            return strategy, digest
        if simple == strategy:
            return strategy, digest
        after = self._run(simple)
        same = (np.array_equal(before.trades, after.trades, equal_nan=True)
                and np.array_equal(before.returns, after.returns, equal_nan=True))
        return (simple if same else strategy), digest

    def __call__(self, strategy: Strategy) -> tuple[Strategy, str]:
        return self.inspect(strategy)
