"""The truncation check: a decision at bar t may read nothing after bar t's close.

Signals compiled on the full history must equal, bar for bar, the signals compiled on the
history cut at t (freqtrade's look-ahead analysis, done exactly rather than by sampling trades).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant.data import Dataset
from quant.genome import Strategy
from quant.signals import Signals, signals_for


@dataclass(frozen=True)
class LookaheadResult:
    mismatched_bars: int  # bars whose decision changed when later data was removed
    cuts: tuple[int, ...]  # the truncation points checked (bars kept)
    first_mismatch: int  # bar index of the first difference, -1 if none


def cut_points(n_bars: int, k: int, start: int = 0) -> tuple[int, ...]:
    """k truncation points spread over (start, n_bars), never the full length."""
    lo = max(start + 2, 2)
    if n_bars - 1 <= lo:
        return ()
    pts = np.linspace(lo, n_bars - 1, k + 1, endpoint=False)[1:] if k > 0 else []
    return tuple(sorted({int(p) for p in pts}))


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        return a == b
    return (a == b) | (np.isnan(a) & np.isnan(b))


def check_lookahead(strategy: Strategy, dataset: Dataset, full: Signals,
                    cuts: tuple[int, ...]) -> LookaheadResult:
    """Compare `full` (compiled on all of `dataset`) with signals compiled on each prefix."""
    bad = np.zeros(len(dataset), dtype=np.bool_)
    for t in cuts:
        part = signals_for(strategy, dataset.slice(0, t))
        for name in ("long_entry", "long_exit", "short_entry", "short_exit", "size"):
            a = getattr(full, name)[:t]
            b = getattr(part, name)
            if a.shape[0] == 1 or b.shape[0] == 1:  # one value for every bar
                a, b = np.broadcast_to(a, (t,)), np.broadcast_to(b, (t,))
            bad[:t] |= ~_same(a, b)
    idx = np.flatnonzero(bad)
    return LookaheadResult(int(idx.size), cuts, int(idx[0]) if idx.size else -1)
