"""Compile a strategy genome into signal arrays over a dataset, without look-ahead.

A decision at bar t reads data up to bar t's close (every primitive is causal) and the simulator
fills it at bar t+1's open. Indicators are computed once per (primitive, arguments) per dataset
and kept in a bounded LRU cache, so a population of genomes shares them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from quant import nb_indicators as nb
from quant.data import Dataset
from quant.genome import Strategy
from quant.primitives import PRIMITIVES
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Node


_SEEN = 1 << 16  # atoms remembered as asked for once


class IndicatorCache:
    """Evaluates trees over one dataset, memoising cacheable subtrees (LRU, bounded in bytes).

    Safe to share between threads: the bookkeeping is locked, the computing is not (two
    threads may compute the same indicator once each; the second result is dropped).
    """

    def __init__(self, dataset: Dataset, max_bytes: int = 512 * 2**20):
        self.dataset = dataset
        self.max_bytes = int(max_bytes)
        self._store: OrderedDict[Node | tuple, np.ndarray] = OrderedDict()
        self._leaves: dict = {}  # node -> (array, address, node) for quant.program: leaf()
        self._seen: OrderedDict[int, None] = OrderedDict()  # hashes of atoms asked for once
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._store)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def evaluate(self, node: Node):
        """The value of `node`: an array of len(dataset) (float64 or bool), or a constant."""
        if node.name == WINDOW_CONST or node.name == THRESHOLD_CONST:
            return node.value
        prim = PRIMITIVES[node.name]
        if not prim.cached:
            return prim.fn(self.dataset, *[self.evaluate(c) for c in node.children])
        with self._lock:
            hit = self._store.get(node)
            if hit is not None:
                self._store.move_to_end(node)
                self.hits += 1
                return hit
            self.misses += 1
        out = prim.fn(self.dataset, *[self.evaluate(c) for c in node.children])
        out.flags.writeable = False  # shared between genomes: nobody may change it
        with self._lock:
            self._put(node, out)
        return out

    def leaf(self, node: Node, dtype) -> tuple[np.ndarray, int]:
        """`evaluate(node)` as a contiguous array of `dtype` (float64 or bool) with its
        address, for quant.program's kernels. A node asked for as a leaf is kept even when
        its primitive is not cached on its own (a comparison of indicators: quant.program's
        atoms). The address is remembered beside the stored array and forgotten with it
        (numpy takes microseconds to tell it, and a population asks thousands of times); the
        caller keeps the array alive while a kernel reads it."""
        hit = self._leaves.get(node)
        if hit is not None:
            return self._touch(hit)
        raw = self.evaluate(node)
        arr = raw
        if arr.dtype != dtype or not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr, dtype=dtype)
        addr = arr.ctypes.data
        with self._lock:
            # a stored indicator while it stays stored, or a data column (the dataset's own)
            if not node.children:
                self._leaves[node] = (arr, addr, node)
            else:
                if not PRIMITIVES[node.name].cached and node not in self._store:
                    raw.flags.writeable = False
                    self._put(node, raw)  # asked for as a leaf: worth keeping
                if self._store.get(node) is raw:
                    self._leaves[node] = (arr, addr, node)
        return arr, addr

    def _touch(self, hit: tuple) -> tuple[np.ndarray, int]:
        arr, addr, key = hit
        with self._lock:
            try:  # the very key object stored: the lookup needs no tree comparison
                self._store.move_to_end(key)
            except KeyError:
                pass  # a data column: not in the store
            self.hits += 1
        return arr, addr

    def atom(self, node: Node) -> tuple[np.ndarray, int] | None:
        """A comparison of indicators (quant.program's atom) as a cached boolean leaf, once it
        has been asked for twice; None the first time (the kernel computes it then). Caching
        every atom at first sight filled a small cache with one-offs and evicted the
        indicators fresh genomes needed: evolution's throughput fell by a quarter."""
        hit = self._leaves.get(node)
        if hit is not None:
            return self._touch(hit)
        key = hash(node)  # a collision only admits an atom early
        with self._lock:
            again = key in self._seen
            if again:
                del self._seen[key]
            else:
                self._seen[key] = None
                if len(self._seen) > _SEEN:
                    self._seen.popitem(last=False)
        return self.leaf(node, np.bool_) if again else None

    def derived(self, key: tuple, compute) -> np.ndarray:
        """A value derived from the dataset (not a tree), cached under `key` like a node."""
        with self._lock:
            hit = self._store.get(key)
            if hit is not None:
                self._store.move_to_end(key)
                return hit
        out = compute()
        out.flags.writeable = False
        with self._lock:
            self._put(key, out)
        return out

    def _put(self, node, arr: np.ndarray) -> None:
        if arr.nbytes > self.max_bytes or node in self._store:
            return
        self._store[node] = arr
        self._bytes += arr.nbytes
        while self._bytes > self.max_bytes:
            key, old = self._store.popitem(last=False)
            self._leaves.pop(key, None)
            self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self._leaves.clear()
            self._seen.clear()
            self._bytes = 0


@dataclass(frozen=True)
class Signals:
    """Decisions taken at each bar's close (filled at the next bar's open)."""

    long_entry: np.ndarray  # bool
    long_exit: np.ndarray
    short_entry: np.ndarray
    short_exit: np.ndarray
    size: np.ndarray  # float64, target notional / equity for an entry decided at each bar;
    # a single value when the sizing is fixed (it then holds for every bar)


def _as_bool(x, n: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != np.bool_:
        arr = arr.astype(np.bool_)
    if arr.shape != (n,):
        raise ValueError(f"signal has shape {arr.shape}, expected ({n},)")
    return np.ascontiguousarray(arr)


def position_size(strategy: Strategy, cache: IndicatorCache) -> np.ndarray:
    """Target size (multiple of equity) from the sizing gene: one value for fixed sizing,
    else one per bar (0 while the volatility estimate is undefined)."""
    ds = cache.dataset
    sz = strategy.size
    if sz.kind == "fixed":
        return np.full(1, float(sz.fraction))

    def compute() -> np.ndarray:
        key = Node("realized-vol", (Node("close"), Node(WINDOW_CONST, (), int(sz.window))))
        rv = cache.evaluate(key) * np.sqrt(ds.bars_per_year)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = sz.target_vol / rv
        return np.where(np.isfinite(size), size, 0.0)

    return cache.derived(("vol-target", float(sz.target_vol), int(sz.window)), compute)


def compile_signals(strategy: Strategy, cache: IndicatorCache) -> Signals:
    """The strategy's four signals over the cache's dataset, computed by the kernel the batch
    path runs (quant.program), so what the trader decides is what the backtest decided."""
    from quant.program import ProgramBuilder, Registers, signals_nb

    n = len(cache.dataset)
    prog = ProgramBuilder(cache)
    prog.add(strategy)
    regs = Registers()
    regs.fit(prog)
    ins, starts, ends, roots, kon, addr = prog.arrays()
    out = np.empty((4, n), dtype=np.bool_)
    b = out.view(np.uint8)
    signals_nb(ins, starts[0], ends[0], kon, roots[0], addr, n, regs.fregs, regs.bregs,
               b[0], b[1], b[2], b[3])
    return Signals(out[0], out[1], out[2], out[3], position_size(strategy, cache))


def evaluate_signals(strategy: Strategy, cache: IndicatorCache) -> Signals:
    """The four signals by evaluating each tree in numpy, node by node (`cache.evaluate`): the
    reference the program kernel is tested against."""
    n = len(cache.dataset)
    le, lx, se, sx = (_as_bool(cache.evaluate(t), n) for t in strategy.trees())
    return Signals(le, lx, se, sx, position_size(strategy, cache))


def signals_for(strategy: Strategy, dataset: Dataset) -> Signals:
    """One-off compile with a private cache (use an IndicatorCache to share work)."""
    return compile_signals(strategy, IndicatorCache(dataset))


__all__ = ["IndicatorCache", "Signals", "compile_signals", "evaluate_signals", "signals_for",
           "position_size", "nb"]
