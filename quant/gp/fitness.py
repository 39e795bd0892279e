"""Fitness measurements: a genome's in-sample metrics and per-regime Sharpe.

Evolution sees only the in-sample part of history (the first `in_sample` fraction, 60 % by
default; `searched_range` names those bars); validation owns the bars after them. Every
evaluation path (in-process, the local process pool, NATS workers) calls
`InSampleEvaluator.evaluate_text` on the same bars, and results carry only finite floats, so the
three paths agree bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from quant.data import Dataset
from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.metrics import compute_metrics
from quant.gp.regimes import REGIMES, regime_labels, regime_sharpe
from quant.signals import IndicatorCache, compile_signals
from quant.sim import SimConfig, Workspace, simulate
from schemas.evolution import BarRange

IN_SAMPLE = 0.6

# Metric names in the order GenomeResult.values keeps them (PerformanceMetrics fields first).
METRIC_KEYS: tuple[str, ...] = (
    "sharpe", "total_return", "cagr", "volatility", "sortino", "calmar", "max_drawdown",
    "max_drawdown_bars", "win_rate", "profit_factor", "expectancy", "trades", "trades_per_day",
    "exposure", "turnover", "bars", "sharpe_per_bar",
)
_INDEX = {k: i for i, k in enumerate(METRIC_KEYS)}
SEGMENTS = 3  # consistency: the in-sample Sharpe of each third, so one lucky stretch shows
BIG = 1e6  # stands in for ±inf (a profit factor with no losing trade)


def finite(x: float) -> float:
    """NaN → 0, ±inf → ±BIG: results cross the wire as JSON and must compare equal."""
    x = float(x)
    if math.isnan(x):
        return 0.0
    if math.isinf(x):
        return math.copysign(BIG, x)
    return max(-BIG, min(BIG, x))


@dataclass(frozen=True)
class GenomeResult:
    """In-sample metrics of one genome (METRIC_KEYS order) and its Sharpe per regime
    (REGIMES order). `failed` marks a genome whose evaluation raised (scored worst)."""

    values: tuple[float, ...]
    regimes: tuple[float, ...]
    failed: bool = False
    segments: tuple[float, ...] = ()  # annualised Sharpe of each of SEGMENTS equal stretches

    def __getitem__(self, key: str) -> float:
        return self.values[_INDEX[key]]

    def metrics(self) -> dict[str, float]:
        return dict(zip(METRIC_KEYS, self.values))

    def regime_sharpe(self) -> dict[str, float]:
        return dict(zip(REGIMES, self.regimes))

    @classmethod
    def failure(cls) -> GenomeResult:
        return cls(tuple(0.0 for _ in METRIC_KEYS), tuple(0.0 for _ in REGIMES), True,
                   tuple(0.0 for _ in range(SEGMENTS)))


def in_sample_bars(n: int, fraction: float = IN_SAMPLE) -> int:
    return int(n * fraction)


def searched_range(dataset: Dataset, in_sample: float = IN_SAMPLE,
                   since: BarRange | None = None) -> BarRange:
    """The bars a search on `dataset` reads (what InSampleEvaluator keeps): open times in ns,
    both inclusive, and their count. `since`: what the search saw before it moved on to this
    data (its population still carries what those bars taught it): the range covers both and
    counts each bar once."""
    n = in_sample_bars(len(dataset), in_sample)
    if n < 1:
        raise ValueError(f"{len(dataset)} bars leave no in-sample bar to search")
    t = dataset.time_ms[:n].astype(np.int64) * 1_000_000
    start, end = int(t[0]), int(t[-1])
    if since is None:
        return BarRange(start=start, end=end, bars=n)
    new = int(np.count_nonzero((t < since.start) | (t > since.end)))
    return BarRange(start=min(start, since.start), end=max(end, since.end), bars=since.bars + new)


def dataset_digest(ds: Dataset) -> str:
    """SHA-256 (hex, 16 chars) of the bars: two processes agree they evaluate the same data."""
    h = hashlib.sha256()
    for col in (ds.time_ms, ds.open, ds.high, ds.low, ds.close, ds.volume):
        h.update(np.ascontiguousarray(col).tobytes())
    if ds.funding is not None:
        h.update(np.ascontiguousarray(ds.funding).tobytes())
    h.update(ds.interval.encode())
    return h.hexdigest()[:16]


def segment_sharpe(returns: np.ndarray, k: int, bars_per_year: float) -> tuple[float, ...]:
    """Annualised Sharpe of k equal consecutive stretches of per-bar returns (0 if flat)."""
    out = []
    for part in np.array_split(returns, k):
        sd = float(part.std(ddof=1)) if part.shape[0] > 1 else 0.0
        out.append(float(part.mean()) / sd * math.sqrt(bars_per_year) if sd > 0 else 0.0)
    return tuple(out)


class InSampleEvaluator:
    """Evaluates genomes on the in-sample bars of one dataset, sharing indicators between them.

    `dataset` is the full history; only its first `in_sample` fraction is ever read.
    """

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 in_sample: float = IN_SAMPLE, cache_mb: float = 16.0):
        self.full_bars = len(dataset)
        self.data = dataset.slice(0, in_sample_bars(len(dataset), in_sample))
        self.config = config
        self.cache = IndicatorCache(self.data, int(cache_mb * 2**20))
        self.workspace = Workspace(self.data, config)
        self.labels = regime_labels(self.data)
        # The workspace's buffers are reused by every simulation: one at a time. (Evolution's
        # remote evaluation falls back to this evaluator from several threads at once; without
        # the lock two simulations overwrote each other's returns and fitness came out wrong.)
        self._workspace_lock = threading.Lock()

    def evaluate(self, strategy: Strategy) -> GenomeResult:
        try:
            signals = compile_signals(strategy, self.cache)  # the cache is thread-safe
            with self._workspace_lock:
                res = simulate(strategy, signals, self.data, self.config, self.workspace)
                m = compute_metrics(res)
                regimes = regime_sharpe(res.returns, self.labels, self.data.bars_per_year)
                segments = segment_sharpe(res.returns, SEGMENTS, self.data.bars_per_year)
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
            return GenomeResult.failure()
        return GenomeResult(tuple(finite(m[k]) for k in METRIC_KEYS),
                            tuple(finite(x) for x in regimes), False,
                            tuple(finite(x) for x in segments))

    def evaluate_text(self, dsl: str) -> GenomeResult:
        return self.evaluate(parse_strategy(dsl))
