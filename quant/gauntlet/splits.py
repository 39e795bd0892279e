"""Stages of history and the purge gaps between them.

In-sample is exactly the bars the search saw: the candidate's `searched` range when it names
one, else the first `in_sample_fraction` of the bars (what a search on this data reads). The
bars after it are split out-of-sample then walk-forward in the proportion
`out_of_sample_fraction` : the rest (cut into rolling windows), so no bar the search saw is ever
tested on; bars before a searched range belong to no stage. Each later stage starts after a
purge gap carved from its own beginning, so in-sample keeps its bars and no indicator window
or open trade reaches across a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.genome import Strategy
from quant.primitives import PRIMITIVES
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Kind, Node
from schemas.evolution import BarRange


class SplitError(ValueError):
    """History too short for the stages and purge gaps asked for."""


def node_lookback(node: Node) -> int:
    """Bars of history a tree reads before its value at bar t is defined: each primitive's own
    window arguments (summed when it has several, e.g. MACD's slow + signal) plus the longest
    look-back among its series arguments. Event primitives (crosses) read one extra bar."""
    if node.name in (WINDOW_CONST, THRESHOLD_CONST) or not node.children:
        return 1 if node.name == "returns" else 0
    prim = PRIMITIVES[node.name]
    own = 0
    inner = 0
    for arg, child in zip(prim.args, node.children):
        if arg.kind is Kind.WINDOW:
            own += int(child.value)
        elif arg.kind in (Kind.SERIES, Kind.BOOL):
            inner = max(inner, node_lookback(child))
    if node.name.startswith("cross-"):
        own += 1
    return own + inner


def strategy_lookback(strategy: Strategy) -> int:
    """The longest look-back of the four trees and the volatility-target sizing window."""
    lb = max(node_lookback(t) for t in strategy.trees())
    if strategy.size.kind == "vol-target":
        lb = max(lb, int(strategy.size.window) + 1)
    return lb


@dataclass(frozen=True)
class Span:
    """Bars [start, stop) of the dataset."""

    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


@dataclass(frozen=True)
class Splits:
    in_sample: Span
    out_of_sample: Span
    walk_forward: Span
    windows: tuple[Span, ...]  # walk_forward cut into consecutive windows
    purge: int  # bars dropped before out_of_sample and before walk_forward

    def stages(self) -> dict[str, Span]:
        return {"in_sample": self.in_sample, "out_of_sample": self.out_of_sample,
                "walk_forward": self.walk_forward}


def searched_span(time_ms: np.ndarray, searched: BarRange) -> Span:
    """The bars of a history (open times in ms, sorted) inside a searched range (ns, both
    inclusive). SplitError when the history holds none of them."""
    lo = int(np.searchsorted(time_ms, searched.start // 1_000_000, side="left"))
    hi = int(np.searchsorted(time_ms, searched.end // 1_000_000, side="right"))
    if hi <= lo:
        raise SplitError(
            f"the history holds none of the {searched.bars} bars the search saw (open times "
            f"{searched.start} to {searched.end} ns); validate on the data the search ran on")
    return Span(lo, hi)


def make_splits(n_bars: int, purge: int, in_sample_fraction: float = 0.6,
                out_of_sample_fraction: float = 0.2, windows: int = 4,
                min_stage_bars: int = 20, in_sample: Span | None = None) -> Splits:
    """Stage boundaries for `n_bars` with a purge gap of `purge` bars before each later stage.
    `in_sample`: the bars the search saw (see searched_span); None: the first
    `in_sample_fraction` of the bars."""
    if purge < 0:
        raise ValueError(f"purge gap must be >= 0 bars, got {purge}")
    if in_sample_fraction <= 0 or in_sample_fraction + out_of_sample_fraction >= 1:
        raise ValueError("in-sample + out-of-sample fractions must leave room for walk-forward")
    if in_sample is None:
        is_end = int(n_bars * in_sample_fraction)
        oos_end = int(n_bars * (in_sample_fraction + out_of_sample_fraction))
        ins = Span(0, is_end)
    else:
        ins = in_sample
        is_end = ins.stop
        share = out_of_sample_fraction / (1 - in_sample_fraction)
        oos_end = is_end + int(max(0, n_bars - is_end) * share)
    oos = Span(is_end + purge, oos_end)
    wf = Span(oos_end + purge, n_bars)
    after = (f" ({n_bars - is_end} bars after the {len(ins)} the search saw)"
             if in_sample is not None else f" ({n_bars} bars in all)")
    for name, span in (("in-sample", ins), ("out-of-sample", oos), ("walk-forward", wf)):
        if len(span) < min_stage_bars:
            raise SplitError(
                f"{name} stage has {max(len(span), 0)} bars after a purge gap of {purge} bars"
                f"{after}; it needs at least {min_stage_bars}: give more history or a strategy "
                f"with shorter look-backs and holding periods")
    k = max(1, min(windows, len(wf) // min_stage_bars))
    edges = [wf.start + (len(wf) * i) // k for i in range(k + 1)]
    wins = tuple(Span(a, b) for a, b in zip(edges[:-1], edges[1:]))
    return Splits(ins, oos, wf, wins, purge)
