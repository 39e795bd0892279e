"""Death reports steer evolution away from structures that died in validation, paper or live.

A genome's structure is the set of hashes of its canonical subtrees with at least
`MIN_SUBTREE_SIZE` nodes (a bare `close` or a constant says nothing). A candidate that shares
structure with a dead strategy is penalised by the dead one's weight (severity × how bad the
cause of death is) times the share of the dead strategy's structure it repeats; the worst match
counts. The memory keeps the most recent `max_reports` deaths, so it stays bounded.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable

from quant.dsl import format_node
from quant.genome import Strategy, canonical_node
from quant.types import Node

MIN_SUBTREE_SIZE = 3

# How much each cause of death says about the structure itself (0 = nothing, 1 = everything).
CAUSE_WEIGHT: dict[str, float] = {
    "failed_validation": 0.6,  # overfit in-sample: the structure fooled us once
    "paper_divergence": 0.7,
    "sharpe_decay": 1.0,
    "drawdown_breach": 1.0,
    "regime_mismatch": 0.4,  # may be fine in another regime
    "correlated_with_better": 0.2,  # not bad, just redundant
    "operator": 0.0,  # a human decision, not evidence
}


def subtree_hash(node: Node) -> str:
    return hashlib.sha256(format_node(canonical_node(node)).encode()).hexdigest()[:16]


def structure_hashes(strategy: Strategy, min_size: int = MIN_SUBTREE_SIZE) -> list[str]:
    """Sorted unique hashes of the canonical subtrees of every section (DeathReport.structure)."""
    out: set[str] = set()
    for tree in strategy.trees():
        for node in tree.walk():
            if node.size() >= min_size:
                out.add(subtree_hash(node))
    return sorted(out)


class DeathMemory:
    """Recent deaths and the penalty (0..1) they imply for a new genome's structure."""

    def __init__(self, max_reports: int = 500) -> None:
        self._reports: deque[tuple[frozenset[str], float]] = deque(maxlen=max_reports)

    def __len__(self) -> int:
        return len(self._reports)

    def add(self, structure: Iterable[str], cause: str, severity: float = 1.0) -> float:
        """Remember one death; returns its weight (0 when it carries no structural evidence)."""
        weight = max(0.0, min(1.0, float(severity))) * CAUSE_WEIGHT.get(cause, 0.5)
        s = frozenset(structure)
        if s and weight > 0:
            self._reports.append((s, weight))
        return weight if s else 0.0

    def penalty(self, structure: Iterable[str]) -> float:
        """max over remembered deaths of weight × |shared| / |dead structure|."""
        mine = set(structure)
        if not mine:
            return 0.0
        worst = 0.0
        for dead, weight in self._reports:
            shared = len(dead & mine)
            if shared:
                worst = max(worst, weight * shared / len(dead))
        return worst
