"""The strategy genome: four boolean trees, a sizing gene and optional risk genes.

The canonical form sorts the arguments of commutative primitives, so `(and a b)` and
`(and b a)` hash alike; the hash is SHA-256 of the canonical one-line text. The text form is
written here (`format_strategy`) and read by quant.dsl, which sits above the genome.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from quant.primitives import PRIMITIVES
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Node

FALSE = Node("false")


@dataclass(frozen=True)
class Sizing:
    """Position size as a multiple of equity (notional / equity).

    kind "fixed": `fraction` of equity. kind "vol-target": target annualised volatility
    `target_vol` (fraction, 0.5 = 50 %/yr) divided by the realised volatility of close over
    `window` bars (annualised), capped by the simulator's leverage limit.
    """

    kind: str = "fixed"
    fraction: float = 1.0
    target_vol: float = 0.0
    window: int = 0


@dataclass(frozen=True)
class Strategy:
    long_entry: Node = FALSE
    long_exit: Node = FALSE
    short_entry: Node = FALSE
    short_exit: Node = FALSE
    size: Sizing = field(default_factory=Sizing)
    stop_loss: float | None = None  # fraction of entry price, e.g. 0.05
    take_profit: float | None = None  # fraction of entry price
    trailing_stop: float | None = None  # fraction below the best price since entry
    max_hold: int | None = None  # bars

    def trees(self) -> tuple[Node, Node, Node, Node]:
        return (self.long_entry, self.long_exit, self.short_entry, self.short_exit)


def format_node(node: Node) -> str:
    if node.name == WINDOW_CONST:
        return str(int(node.value))
    if node.name == THRESHOLD_CONST:
        return repr(float(node.value))
    p = PRIMITIVES[node.name]
    if not node.children:
        return p.symbol
    return "(" + " ".join([p.symbol] + [format_node(c) for c in node.children]) + ")"


def _opt(x) -> str:
    return "none" if x is None else repr(x)


def format_strategy(s: Strategy, pretty: bool = True) -> str:
    """The text form; pretty = one section per line, else one line (used for hashing)."""
    if s.size.kind == "fixed":
        size = f"(fixed {s.size.fraction!r})"
    else:
        size = f"(vol-target {s.size.target_vol!r} {s.size.window})"
    sections = [
        f"(long-entry {format_node(s.long_entry)})",
        f"(long-exit {format_node(s.long_exit)})",
        f"(short-entry {format_node(s.short_entry)})",
        f"(short-exit {format_node(s.short_exit)})",
        f"(size {size})",
        f"(stop-loss {_opt(s.stop_loss)})",
        f"(take-profit {_opt(s.take_profit)})",
        f"(trailing-stop {_opt(s.trailing_stop)})",
        f"(max-hold {'none' if s.max_hold is None else int(s.max_hold)})",
    ]
    sep = "\n  " if pretty else " "
    return "(strategy" + sep + sep.join(sections) + ")" + ("\n" if pretty else "")


def canonical_node(node: Node) -> Node:
    """Same meaning, one spelling: commutative arguments sorted by their canonical text."""
    if not node.children:
        return node
    kids = tuple(canonical_node(c) for c in node.children)
    if PRIMITIVES[node.name].commutative:
        kids = tuple(sorted(kids, key=format_node))
    return Node(node.name, kids, node.value)


def canonical(strategy: Strategy) -> Strategy:
    return replace(
        strategy,
        long_entry=canonical_node(strategy.long_entry),
        long_exit=canonical_node(strategy.long_exit),
        short_entry=canonical_node(strategy.short_entry),
        short_exit=canonical_node(strategy.short_exit),
    )


def canonical_text(strategy: Strategy) -> str:
    return format_strategy(canonical(strategy), pretty=False)


def strategy_hash(strategy: Strategy) -> str:
    """SHA-256 hex digest of the canonical text."""
    return hashlib.sha256(canonical_text(strategy).encode()).hexdigest()


def strategy_id(strategy: Strategy, algorithm_type: str, generation: int) -> str:
    """`{algorithm_type}_{generation}_{hash[:8]}`, e.g. `gp_12_3fa9c2d1`."""
    if not algorithm_type or "_" in algorithm_type:
        raise ValueError(f"algorithm_type {algorithm_type!r} must be non-empty without '_'")
    if generation < 0:
        raise ValueError(f"generation {generation} must be >= 0")
    return f"{algorithm_type}_{int(generation)}_{strategy_hash(strategy)[:8]}"
