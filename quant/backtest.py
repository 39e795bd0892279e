"""One call from genome to metrics: tree → signals → simulation → metrics.

Evolution, validation and the CLI all go through `evaluate`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        self._buffers = None

    def metrics(self, strategy: Strategy) -> dict[str, float]:
        return self._metrics(strategy, self.workspace)

    def _metrics(self, strategy: Strategy, workspace: Workspace) -> dict[str, float]:
        signals = compile_signals(strategy, self.cache)
        result = simulate(strategy, signals, self.dataset, self.config, workspace)
        return compute_metrics(result)

    def metrics_many(self, strategies: Sequence[Strategy], workers: int = 1,
                     chunk: int = 64) -> list[dict[str, float]]:
        """Metrics of each strategy, in order (the same numbers as `metrics`). Signals are
        compiled chunk by chunk; simulation and metrics of a chunk run in one parallel numba
        call on `workers` threads (at most the machine's cores)."""
        from quant.batch import BatchBuffers, evaluate_batch
        from quant.metrics import metrics_dict

        workers = max(1, min(int(workers), chunk))
        if self._buffers is None or self._buffers.workers != workers:
            self._buffers = BatchBuffers(len(self.dataset), workers)
        out: list[dict[str, float]] = []
        for i in range(0, len(strategies), chunk):
            part = strategies[i:i + chunk]
            signals = [compile_signals(s, self.cache) for s in part]
            values = evaluate_batch(part, signals, self.dataset, self.config,
                                    self.workspace.funding, self._buffers)
            out.extend(metrics_dict(row) for row in values)
        return out
