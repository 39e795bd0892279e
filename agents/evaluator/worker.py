"""The pure part of a worker: load the batch's data once, check it is the same history the
requester sees, evaluate every genome in order."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

from marketdata.datasets import load_dataset
from quant.data import DataSpecError
from quant.dsl import DslError, parse_strategy
from quant.gp.fitness import GenomeResult, InSampleEvaluator, dataset_digest
from quant.gp.wire import sim_config_of, to_wire
from schemas import EvaluationBatch, GenomeEvaluation


class BatchWorker:
    """Keeps evaluators for the last `keep` datasets (their indicator caches stay warm)."""

    def __init__(self, data_dir: Path, cache_mb: float = 16.0, keep: int = 2):
        self.data_dir = Path(data_dir)
        self.cache_mb = cache_mb
        self.keep = keep
        self._evaluators: OrderedDict[tuple, InSampleEvaluator] = OrderedDict()

    def evaluator(self, b: EvaluationBatch) -> InSampleEvaluator:
        key = (b.data_spec, b.start_ms, b.end_ms, b.data_digest, b.in_sample, b.fee_bps,
               b.slippage_bps, b.funding_per_hour, b.max_leverage, b.init_cash)
        ev = self._evaluators.get(key)
        if ev is not None:
            self._evaluators.move_to_end(key)
            return ev
        full = load_dataset(b.data_spec, self.data_dir)
        t = full.time_ms
        lo = int(np.searchsorted(t, b.start_ms, side="left"))
        hi = int(np.searchsorted(t, b.end_ms, side="right"))
        ds = full.slice(lo, hi)
        digest = dataset_digest(ds) if len(ds) else "empty"
        if digest != b.data_digest and ds.funding is not None:
            # the evolution agent's history is candles alone (md.candle carries no funding),
            # while a store: load now adds the recorded funding: the same bars without it
            bare = replace(ds, funding=None)
            if dataset_digest(bare) == b.data_digest:
                ds, digest = bare, b.data_digest
        if digest != b.data_digest:
            raise DataSpecError(
                f"{b.data_spec} [{b.start_ms}, {b.end_ms}] here has digest {digest} "
                f"({len(ds)} bars), the requester's is {b.data_digest}: different history")
        ev = InSampleEvaluator(ds, sim_config_of(b), b.in_sample, self.cache_mb)
        self._evaluators[key] = ev
        while len(self._evaluators) > self.keep:
            self._evaluators.popitem(last=False)
        return ev

    def run(self, b: EvaluationBatch) -> tuple[list[GenomeEvaluation], str, float]:
        """(results in genome order, error, seconds). With an error, no results."""
        t0 = time.perf_counter()
        try:
            ev = self.evaluator(b)
        except (DataSpecError, OSError, ValueError) as exc:
            return [], str(exc), time.perf_counter() - t0
        strategies, readable = [], []
        for g in b.genomes:
            try:
                strategies.append(parse_strategy(g.dsl))
                readable.append(True)
            except DslError:
                readable.append(False)
        results = iter(ev.evaluate_many(strategies))  # the batch path, as evolution's own
        out = [to_wire(g.genome_hash, next(results) if ok else GenomeResult.failure())
               for g, ok in zip(b.genomes, readable)]
        return out, "", time.perf_counter() - t0
