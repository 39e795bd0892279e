"""The validation agent: consumes `evo.candidate` through a durable pull consumer that every
validation agent shares (each candidate goes to one of them), runs the gauntlet off the event
loop, publishes the `ValidationReport` on `val.report.{strategy_id}` and only then acks.

A redelivered candidate is validated again and published with the same `Nats-Msg-Id` (the stream
sequence), so JetStream stores one report. The family book (PBO) lives in this process: agents
sharing the durable each see part of a family, and a restart starts the book empty.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from agents.validation.validator import Validator
from bus import subjects
from bus.connection import Delivery
from bus.runtime import Agent, AgentContext
from schemas import StrategyCandidate


class ValidationAgent(Agent):
    name = "validation"

    def __init__(self) -> None:
        self.validator: Validator | None = None
        self.ctx: AgentContext | None = None

    async def start(self, ctx: AgentContext) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.validator = Validator(cfg.validation, ctx.data_dir, cfg.market.coins)
        await ctx.bus.consume(
            "EVOLUTION", durable=cfg.validation.durable, handler=self.on_candidate,
            filter_subject=subjects.evo_candidate(), message_type=StrategyCandidate, batch=1,
            ack_wait_s=cfg.jetstream.ack_wait_s)
        logger.info("validating candidates (durable {}), strategies kept in {}",
                    cfg.validation.durable, self.validator.store.folder)

    async def on_candidate(self, d: Delivery) -> None:
        assert self.validator is not None and self.ctx is not None
        c: StrategyCandidate = d.message
        out = await asyncio.to_thread(self.validator.validate, c, self.ctx.now_ns())
        rep = out.report
        await self.ctx.bus.publish_durable(subjects.val_report(c.strategy_id), rep,
                                           msg_id=f"val:{c.strategy_id}:{d.stream_seq}")
        secs = out.result.seconds if out.result is not None else 0.0
        logger.info("{} {} score {:.1f} in {:.2f} s: {}", c.strategy_id, rep.verdict, rep.score,
                    secs, "; ".join(rep.reasons[:2]))
