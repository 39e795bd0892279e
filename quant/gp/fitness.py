"""Fitness measurements: a genome's in-sample metrics and per-regime Sharpe.

Evolution sees only the in-sample part of history (the first `in_sample` fraction, 60 % by
default; `searched_range` names those bars); validation owns the bars after them. Every
evaluation path (in-process, the local process pool, NATS workers) evaluates through
`InSampleEvaluator.evaluate_many` on the same bars: the batch path (quant.batch: signal
programs over a shared indicator cache, simulation, metrics, regime and segment Sharpe in one
kernel call per chunk), and results carry only finite floats, so the three paths agree bit for
bit. A search's requests carry the Strategy beside its text (`GenomeRequest`), so an evaluator
in the same process never parses what the search just printed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from quant.batch import BatchBuffers, evaluate_batch
from quant.data import Dataset
from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.gp.regimes import REGIMES, regime_labels
from quant.metrics import KEYS
from quant.signals import IndicatorCache
from quant.sim import SimConfig, funding_per_bar
from schemas.evolution import BarRange

IN_SAMPLE = 0.6

# Metric names in the order GenomeResult.values keeps them (PerformanceMetrics fields first).
METRIC_KEYS: tuple[str, ...] = (
    "sharpe", "total_return", "cagr", "volatility", "sortino", "calmar", "max_drawdown",
    "max_drawdown_bars", "win_rate", "profit_factor", "expectancy", "trades", "trades_per_day",
    "exposure", "turnover", "bars", "sharpe_per_bar",
)
_INDEX = {k: i for i, k in enumerate(METRIC_KEYS)}
_COLUMNS = np.array([KEYS.index(k) for k in METRIC_KEYS])  # METRIC_KEYS in quant.metrics rows
SEGMENTS = 3  # consistency: the in-sample Sharpe of each third, so one lucky stretch shows
BIG = 1e6  # stands in for ±inf (a profit factor with no losing trade)
CHUNK = 64  # genomes per kernel call
_FAILURES = (ValueError, FloatingPointError, ZeroDivisionError, OverflowError)


def finite(x: float) -> float:
    """NaN → 0, ±inf → ±BIG: results cross the wire as JSON and must compare equal."""
    x = float(x)
    if math.isnan(x):
        return 0.0
    if math.isinf(x):
        return math.copysign(BIG, x)
    return max(-BIG, min(BIG, x))


def finite_array(a: np.ndarray) -> np.ndarray:
    """`finite` on every element."""
    a = np.where(np.isnan(a), 0.0, a)
    a = np.where(np.isinf(a), np.copysign(BIG, a), a)
    return np.clip(a, -BIG, BIG)


class GenomeRequest(tuple):
    """One genome to evaluate: a (genome hash, DSL text) pair, as every evaluator and the wire
    take it, that also carries the Strategy the text was printed from (`strategy`), so a local
    evaluator skips parsing it (parsing costs ~160 µs a genome; a pickled strategy crosses to
    a pool process in ~50)."""

    def __new__(cls, key: str, dsl: str, strategy: Strategy | None = None):
        self = super().__new__(cls, (key, dsl))
        self.strategy = strategy
        return self

    def __reduce__(self):
        return (GenomeRequest, (self[0], self[1], self.strategy))


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
    """Annualised Sharpe of k equal consecutive stretches of per-bar returns (0 if flat). The
    reference for quant.batch.segment_sharpe_nb, which evolution runs."""
    out = []
    for part in np.array_split(returns, k):
        sd = float(part.std(ddof=1)) if part.shape[0] > 1 else 0.0
        out.append(float(part.mean()) / sd * math.sqrt(bars_per_year) if sd > 0 else 0.0)
    return tuple(out)


class InSampleEvaluator:
    """Evaluates genomes on the in-sample bars of one dataset, sharing indicators between them.

    `dataset` is the full history; only its first `in_sample` fraction is ever read. Safe to
    share between threads (evolution's remote evaluation falls back to it from several at
    once): each call takes buffers of its own.
    """

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 in_sample: float = IN_SAMPLE, cache_mb: float = 16.0):
        self.full_bars = len(dataset)
        self.data = dataset.slice(0, in_sample_bars(len(dataset), in_sample))
        self.config = config
        self.cache = IndicatorCache(self.data, int(cache_mb * 2**20))
        funding = funding_per_bar(self.data, config)
        if len(funding) and np.all(funding == funding[0]):
            funding = funding[:1].copy()  # as quant.sim.Workspace: one value for every bar
        self.funding = funding
        self.labels = regime_labels(self.data)
        self._free: list[BatchBuffers] = []
        self._free_lock = threading.Lock()

    def evaluate(self, strategy: Strategy) -> GenomeResult:
        return self.evaluate_many([strategy])[0]

    def evaluate_text(self, dsl: str) -> GenomeResult:
        return self.evaluate(parse_strategy(dsl))

    def evaluate_requests(self, requests) -> dict[str, GenomeResult]:
        """{genome hash: result} for (hash, DSL text) pairs; a GenomeRequest's strategy is
        used as it is, any other text is parsed."""
        keys = [r[0] for r in requests]
        strategies = [getattr(r, "strategy", None) or parse_strategy(r[1]) for r in requests]
        return dict(zip(keys, self.evaluate_many(strategies)))

    def evaluate_many(self, strategies) -> list[GenomeResult]:
        """Results in order, CHUNK genomes per kernel call; a genome whose evaluation raises
        (a value error, an overflow) gets GenomeResult.failure()."""
        out: list[GenomeResult] = []
        for i in range(0, len(strategies), CHUNK):
            out += self._chunk(strategies[i:i + CHUNK])
        return out

    def _chunk(self, part) -> list[GenomeResult]:
        with self._free_lock:
            buffers = self._free.pop() if self._free else None
        if buffers is None:
            buffers = BatchBuffers(len(self.data), CHUNK)
        try:
            # lags=0: no autocorrelations, which only sharpe_lo reads, and no result here
            # carries sharpe_lo (METRIC_KEYS)
            res = evaluate_batch(part, self.cache, self.config, self.funding, buffers, lags=0,
                                 labels=self.labels, n_regimes=len(REGIMES),
                                 n_segments=SEGMENTS, catch=_FAILURES)
        finally:
            with self._free_lock:
                self._free.append(buffers)
        values = finite_array(res.metrics[:, _COLUMNS]).tolist()
        regimes = finite_array(res.regimes).tolist()
        segments = finite_array(res.segments).tolist()
        return [GenomeResult.failure() if bad else GenomeResult(tuple(v), tuple(r), False,
                                                                 tuple(g))
                for bad, v, r, g in zip(res.failed.tolist(), values, regimes, segments)]
