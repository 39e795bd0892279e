"""An evaluation worker: one queue-group member on `eval.batch`, one batch at a time.

Stateless as far as anyone else is concerned: a batch names its data, the worker evaluates and
replies. Requesters retry a batch that gets no reply (a worker that died mid-batch), and a reply
is matched to its own request, so a slow or dead worker costs a retry, never a lost or doubled
result. The CPU work runs in a thread so heartbeats and drain keep going.
"""

from __future__ import annotations

import asyncio
import os
import socket

from loguru import logger

from agents.evaluator.worker import BatchWorker
from bus import subjects
from bus.connection import Delivery
from bus.runtime import Agent, AgentContext
from schemas import EvaluationBatch, EvaluationResult

QUEUE = "evaluators"


class EvaluatorAgent(Agent):
    name = "evaluator"

    def __init__(self) -> None:
        self.worker: BatchWorker | None = None
        self.ctx: AgentContext | None = None
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.batches = 0

    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        worker = BatchWorker(ctx.data_dir, ctx.config.evolution.cache_mb)
        await ctx.bus.subscribe(subjects.eval_batch(), self._on_batch,
                                message_type=EvaluationBatch, queue=QUEUE)
        self.worker = worker
        logger.info("evaluator {} serving {} (queue {})", self.instance, subjects.eval_batch(),
                    QUEUE)

    async def _on_batch(self, d: Delivery) -> EvaluationResult:
        assert self.ctx is not None
        if self.worker is None:  # a batch raced start(): answer what we can
            self.worker = BatchWorker(self.ctx.data_dir, self.ctx.config.evolution.cache_mb)
        batch: EvaluationBatch = d.message
        results, error, elapsed = await asyncio.to_thread(self.worker.run, batch)
        if error:
            logger.warning("batch {} not evaluated: {}", batch.batch_id, error)
        self.batches += 1
        now = self.ctx.now_ns()
        return EvaluationResult(ts_event=now, ts_init=now, batch_id=batch.batch_id,
                                worker=self.instance, results=results, error=error,
                                elapsed_s=elapsed)
