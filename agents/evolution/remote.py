"""Evaluation over NATS: generations split into `eval.batch` requests for the evaluator queue
group, retried on silence, evaluated locally when no worker can answer.

Each reply answers exactly one request (its own inbox), results are checked genome by genome
against the batch, and a batch is accepted once: a dead worker costs a retry, never a lost or
doubled result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from loguru import logger

from bus import subjects
from quant.data import Dataset
from quant.gp.fitness import GenomeResult
from quant.gp.wire import from_wire, make_batch
from quant.sim import SimConfig
from schemas import EvaluationResult

LocalEvaluate = Callable[[Sequence[tuple[str, str]]], dict[str, GenomeResult]]


class RemoteEvaluation:
    def __init__(self, bus, local_evaluate: LocalEvaluate, *, batch_size: int = 32,
                 timeout_s: float = 30.0, retries: int = 3):
        self.bus = bus
        self.local_evaluate = local_evaluate
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.retries = retries
        self.remote_batches = 0
        self.local_batches = 0
        self.retried = 0

    async def evaluate(self, requests: Sequence[tuple[str, str]], *, tag: str, data_spec: str,
                       dataset: Dataset, digest: str, in_sample: float, config: SimConfig,
                       now_ns: int) -> dict[str, GenomeResult]:
        chunks = [list(requests[i:i + self.batch_size])
                  for i in range(0, len(requests), self.batch_size)]
        parts = await asyncio.gather(*(
            self._one(f"{tag}.{i}", chunk, data_spec, dataset, digest, in_sample, config, now_ns)
            for i, chunk in enumerate(chunks)))
        out: dict[str, GenomeResult] = {}
        for part in parts:
            out.update(part)
        return out

    async def _one(self, batch_id, chunk, data_spec, dataset, digest, in_sample, config, now_ns):
        batch = make_batch(batch_id, data_spec, dataset, chunk, in_sample, config, now_ns, digest)
        for attempt in range(1, self.retries + 1):
            try:
                reply: EvaluationResult = await self.bus.request(
                    subjects.eval_batch(), batch, reply_type=EvaluationResult,
                    timeout=self.timeout_s)
            except Exception as exc:  # timeout (a worker died or is stuck) or no responders
                self.retried += 1
                logger.debug("batch {} attempt {}/{}: {!r}", batch_id, attempt, self.retries, exc)
                continue
            if reply.error:
                logger.warning("batch {}: worker {} cannot evaluate it ({}); evaluating locally",
                               batch_id, reply.worker, reply.error)
                break
            if reply.batch_id != batch_id or [e.genome_hash for e in reply.results] != [
                    k for k, _ in chunk]:
                self.retried += 1
                logger.warning("batch {}: malformed reply from {}; retrying", batch_id,
                               reply.worker)
                continue
            self.remote_batches += 1
            return {e.genome_hash: from_wire(e) for e in reply.results}
        self.local_batches += 1
        return await asyncio.to_thread(self.local_evaluate, chunk)
