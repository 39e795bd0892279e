"""The validation agent: consumes `evo.candidate` through a durable pull consumer that every
validation agent shares (each candidate goes to one of them), runs the gauntlet off the event
loop, publishes the `ValidationReport` on `val.report.{strategy_id}` and only then acks.

A redelivered candidate is validated again and published with the same `Nats-Msg-Id` (the stream
sequence), so JetStream stores one report. The family book (PBO) lives in this process: agents
sharing the durable each see part of a family, and a restart starts the book empty.

A passing candidate (and only that) enters the strategy registry as `validated` with its
validation summary (agents/validation/entry.py), then the registry's minimal validated -> paper
rule runs (until the lifecycle agent lands; `[registry] promote_to_paper`, `paper_slots`). Both
happen before the ack, and both are idempotent, so a redelivery repeats nothing.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from agents.validation.entry import registry_entry
from agents.validation.validator import Outcome, Validator
from bus import subjects
from bus.connection import Delivery
from bus.registry import Registry, RegistryError, StrategyExists, paper_admissions
from bus.runtime import Agent, AgentContext
from schemas import StrategyCandidate


class ValidationAgent(Agent):
    name = "validation"

    def __init__(self) -> None:
        self.validator: Validator | None = None
        self.ctx: AgentContext | None = None
        self.registry: Registry | None = None

    async def start(self, ctx: AgentContext) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.validator = Validator(cfg.validation, ctx.data_dir, cfg.market.coins)
        self.registry = await Registry.open(ctx.bus, "validation")
        await ctx.bus.consume(
            "EVOLUTION", durable=cfg.validation.durable, handler=self.on_candidate,
            filter_subject=subjects.evo_candidate(), message_type=StrategyCandidate, batch=1,
            ack_wait_s=cfg.jetstream.ack_wait_s)
        logger.info("validating candidates (durable {}), strategies kept in {}",
                    cfg.validation.durable, self.validator.store.folder)

    async def on_candidate(self, d: Delivery) -> None:
        assert self.validator is not None and self.ctx is not None
        c: StrategyCandidate = d.message
        out = await asyncio.to_thread(self.validator.validate, c, self.ctx.now_ns(),
                                      require_searched=True)
        rep = out.report
        await self.ctx.bus.publish_durable(subjects.val_report(c.strategy_id), rep,
                                           msg_id=f"val:{c.strategy_id}:{d.stream_seq}")
        if rep.verdict == "pass" and out.result is not None:
            await self.enter(c, out)
        secs = out.result.seconds if out.result is not None else 0.0
        logger.info("{} {} score {:.1f} in {:.2f} s: {}", c.strategy_id, rep.verdict, rep.score,
                    secs, "; ".join(rep.reasons[:2]))

    async def enter(self, c: StrategyCandidate, out: Outcome) -> None:
        """Enter a passing candidate into the registry, then fill free paper slots."""
        assert self.registry is not None and self.ctx is not None
        now = self.ctx.now_ns()
        entry = registry_entry(c, out.report, out.result, out.dataset, now)
        try:
            await self.registry.create(
                entry, f"passed validation: score {out.report.score:.1f}, "
                       f"{'; '.join(out.report.reasons[:1])}")
        except StrategyExists:
            logger.info("{} is already in the registry", c.strategy_id)
        reg = self.ctx.config.registry
        if reg.promote_to_paper:
            trader = getattr(self.ctx.config, "trader", None)
            blocked = trader.blocked_coins if trader is not None else ()
            for sid, reason in paper_admissions(await self.registry.entries(), reg.paper_slots,
                                                blocked):
                try:
                    await self.registry.move(sid, "paper", reason, now)
                except RegistryError as exc:  # moved or retired meanwhile by someone else
                    logger.warning("{} not moved to paper: {}", sid, exc)
