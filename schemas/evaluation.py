"""Distributed evaluation: batches of genomes for `organism agent evaluator` workers
(`eval.batch`, core NATS request/reply in a queue group) and their results.

A batch names its data instead of carrying it: the worker loads `data_spec`, keeps the bars whose
open time lies in [start_ms, end_ms], and checks `data_digest` before evaluating, so a worker
that sees different history answers with an error instead of a wrong result.
"""

from __future__ import annotations

import msgspec

from schemas.base import Ident, Message
from schemas.evolution import PerformanceMetrics


class GenomeText(msgspec.Struct, frozen=True, kw_only=True):
    genome_hash: str  # SHA-256 of the canonical DSL text
    dsl: str


class GenomeEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """In-sample results of one genome. Every float is finite (NaN is sent as 0)."""

    genome_hash: str
    metrics: PerformanceMetrics
    sharpe_per_bar: float = 0.0
    regime_sharpe: dict[str, float] = {}  # annualised, per regime segment
    segment_sharpe: list[float] = []  # annualised, per equal stretch of the in-sample bars
    failed: bool = False  # the genome could not be evaluated (scored worst)


class EvaluationBatch(Message, frozen=True, kw_only=True):
    """Evaluate these genomes on the in-sample part of this history (request on eval.batch)."""

    batch_id: Ident
    data_spec: str  # synthetic:..., csv:PATH, store:COIN/INTERVAL
    start_ms: int  # first bar's open time (ms, UTC)
    end_ms: int  # last bar's open time (ms, UTC)
    data_digest: str  # quant.gp.fitness.dataset_digest of those bars
    in_sample: float = 0.6  # evolution reads only this leading fraction
    fee_bps: float = 4.5
    slippage_bps: float = 1.0
    funding_per_hour: float = 0.0000125
    max_leverage: float = 3.0
    init_cash: float = 10_000.0
    genomes: list[GenomeText] = []


class EvaluationResult(Message, frozen=True, kw_only=True):
    """A worker's answer: one result per genome of the batch, in order, or an error."""

    batch_id: Ident
    worker: str  # host:pid
    results: list[GenomeEvaluation] = []
    error: str = ""  # non-empty: nothing was evaluated (e.g. the worker has other data)
    elapsed_s: float = 0.0
