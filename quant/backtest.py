"""One call from genome to metrics: tree → signals → simulation → metrics.

Evolution, validation and the CLI all go through `evaluate`, so they cannot disagree.
"""

from __future__ import annotations

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
        self._spare: list[Workspace] = []

    def metrics(self, strategy: Strategy) -> dict[str, float]:
        return self._metrics(strategy, self.workspace)

    def _metrics(self, strategy: Strategy, workspace: Workspace) -> dict[str, float]:
        signals = compile_signals(strategy, self.cache)
        result = simulate(strategy, signals, self.dataset, self.config, workspace)
        return compute_metrics(result)

    def metrics_many(self, strategies: Sequence[Strategy], workers: int = 1
                     ) -> list[dict[str, float]]:
        """Metrics of each strategy, in order. With workers > 1, threads share the indicator
        cache; the numba kernels release the GIL, so the simulations and metrics run in
        parallel while tree evaluation interleaves."""
        if workers <= 1 or len(strategies) < 2:
            return [self.metrics(s) for s in strategies]
        while len(self._spare) < workers - 1:
            self._spare.append(Workspace(self.dataset, self.config))
        spaces = [self.workspace, *self._spare[: workers - 1]]
        chunks = [list(range(i, len(strategies), workers)) for i in range(workers)]
        out: list = [None] * len(strategies)

        def work(w: int) -> None:
            for i in chunks[w]:
                out[i] = self._metrics(strategies[i], spaces[w])

        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(work, w) for w in range(workers)]:
                f.result()
        return out
