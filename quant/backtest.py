"""One call from genome to metrics: tree → signals → simulation → metrics.

Evolution, validation and the CLI all go through `evaluate`, so they cannot disagree.
"""

from __future__ import annotations

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
        self._buffers = None

    def metrics(self, strategy: Strategy) -> dict[str, float]:
        signals = compile_signals(strategy, self.cache)  # the cache is thread-safe
        with self._workspace_lock:
            result = simulate(strategy, signals, self.dataset, self.config, self.workspace)
            return compute_metrics(result)

    def metrics_many(self, strategies: Sequence[Strategy], workers: int = 1,
                     chunk: int = 64) -> list[dict[str, float]]:
        """Metrics of each strategy, in order (the same numbers as `metrics`). Signals are
        compiled chunk by chunk; simulation and metrics of a chunk run in one parallel numba
        call on `workers` threads (at most the machine's cores). With workers > 1 the next
        chunk's signals are compiled while the kernel runs (it releases the GIL)."""
        from quant.batch import BatchBuffers, evaluate_batch

        workers = max(1, min(int(workers), chunk))
        if self._buffers is None or self._buffers.workers != workers:
            self._buffers = BatchBuffers(len(self.dataset), workers)
        parts = [strategies[i:i + chunk] for i in range(0, len(strategies), chunk)]
        out: list[dict[str, float]] = []

        def run(part, signals):
            return evaluate_batch(part, signals, self.dataset, self.config,
                                  self.workspace.funding, self._buffers)

        if workers == 1:
            for part in parts:
                out.extend(_dicts(run(part, [compile_signals(s, self.cache) for s in part])))
            return out
        with ThreadPoolExecutor(1) as kernel:
            pending = None
            for part in parts:
                signals = [compile_signals(s, self.cache) for s in part]
                if pending is not None:
                    out.extend(_dicts(pending.result()))
                pending = kernel.submit(run, part, signals)
            if pending is not None:
                out.extend(_dicts(pending.result()))
        return out


def _dicts(values) -> list[dict[str, float]]:
    from quant.metrics import metrics_dict

    return [metrics_dict(row) for row in values]
