"""One call from genome to metrics: tree → signals → simulation → metrics.

Evolution, validation and the CLI all go through `evaluate`, so they cannot disagree.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from quant.data import Dataset
from quant.genome import Strategy
from quant.metrics import compute_metrics
from quant.signals import IndicatorCache, Signals, compile_signals
from quant.sim import BacktestResult, SimConfig, Workspace, simulate


@dataclass(frozen=True)
class Evaluation:
    signals: Signals
    result: BacktestResult
    metrics: dict[str, float]


def evaluate(strategy: Strategy, dataset: Dataset, config: SimConfig = SimConfig(),
             cache: IndicatorCache | None = None) -> Evaluation:
    """Backtest `strategy` on `dataset`; pass one IndicatorCache for many strategies on the
    same dataset so each indicator is computed once."""
    if cache is None:
        cache = IndicatorCache(dataset)
    elif cache.dataset is not dataset:
        raise ValueError("the IndicatorCache belongs to another dataset")
    signals = compile_signals(strategy, cache)
    result = simulate(strategy, signals, dataset, config)
    return Evaluation(signals, result, compute_metrics(result))


class Evaluator:
    """Many strategies on one dataset: a shared indicator cache and reused simulation buffers.

    `metrics(strategy)` is evolution's fitness call; nothing it returns aliases the buffers.
    """

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 cache_bytes: int = 512 * 2**20):
        self.dataset = dataset
        self.config = config
        self.cache = IndicatorCache(dataset, cache_bytes)
        self.workspace = Workspace(dataset, config)
        self._workspace_lock = threading.Lock()  # one simulation at a time in the buffers
        self._buffers: list = []  # BatchBuffers not in use, for the next metrics_many
        self._buffers_lock = threading.Lock()

    def metrics(self, strategy: Strategy) -> dict[str, float]:
        signals = compile_signals(strategy, self.cache)  # the cache is thread-safe
        with self._workspace_lock:
            result = simulate(strategy, signals, self.dataset, self.config, self.workspace)
            return compute_metrics(result)

    def metrics_many(self, strategies: Sequence[Strategy], workers: int = 1,
                     chunk: int = 64) -> list[dict[str, float]]:
        """Metrics of each strategy, in order (the same numbers as `metrics`), chunk by
        chunk on `workers` threads (at most the machine's cores). Each thread compiles a
        chunk's signal programs, then runs them, simulates and computes the metrics in one
        numba call that releases the GIL, so one thread's Python overlaps the other's
        kernel."""
        from quant.batch import BatchBuffers, evaluate_batch

        chunk = max(1, int(chunk))
        workers = max(1, int(workers))
        n = len(self.dataset)
        parts = [strategies[i:i + chunk] for i in range(0, len(strategies), chunk)]
        workers = min(workers, max(1, len(parts)))
        with self._buffers_lock:
            free = [b for b in self._buffers if b.chunk >= chunk][:workers]
            for b in free:
                self._buffers.remove(b)
        free += [BatchBuffers(n, chunk) for _ in range(workers - len(free))]
        pool: queue.SimpleQueue = queue.SimpleQueue()
        for b in free:
            pool.put(b)

        def run(part):
            buffers = pool.get()
            try:
                return evaluate_batch(part, self.cache, self.config, self.workspace.funding,
                                      buffers).metrics
            finally:
                pool.put(buffers)

        try:
            if workers == 1:
                results = [run(part) for part in parts]
            else:
                with ThreadPoolExecutor(workers) as threads:
                    results = list(threads.map(run, parts))
        finally:
            with self._buffers_lock:  # kept for the next call (a population per generation)
                self._buffers = (self._buffers + free)[-4:]
        return [d for values in results for d in _dicts(values)]


def _dicts(values) -> list[dict[str, float]]:
    from quant.metrics import metrics_dict

    return [metrics_dict(row) for row in values]
