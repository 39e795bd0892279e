"""The risk agent: every order intent gets exactly one decision, and only an approved one
reaches execution.

Inputs: intents (durable `risk` on ORDERS, `order.intent.>`), execution's events that fill or end
an order, positions and account reports (durable `risk` on EXEC_EVENTS), the operator's kill and
resume (durable `risk` on CONTROL), execution's status and every heartbeat, market data, the
registry, allocation weights.
All of it goes through the pure engine (engine.py) under one lock, so a kill switch is never
overtaken by an approval decided before it.

Decide once: the decision is created in KV `risk_decisions` under the intent id before anything
is published; a redelivered intent (a restart, a lost ack) finds it and republishes it with the
same Nats-Msg-Ids, or nothing if it went out already. The account books (breakers, equity,
positions, open orders, strategies) are written to KV `risk` after every change, so the state
and its cause survive restarts of risk and of the organism.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import msgspec
from loguru import logger

from agents.risk import engine
from agents.risk.book import AccountBook, DecisionRecord, Now, Out, RiskState
from agents.risk.breakers import state_message
from agents.risk.checks import denied
from bus import subjects
from bus.connection import Delivery
from bus.log import log_failure
from bus.registry import Registry
from bus.runtime import Agent, AgentContext
from bus.state import TypedKV, kv_key, last_message, pending
from schemas import (
    ACCOUNTS,
    AllocationTarget,
    Candle,
    DeactivationRequested,
    DenyReason,
    ExecutionStatus,
    Heartbeat,
    FlattenRequested,
    OrderIntent,
    SubmitOrder,
    TradingStateChanged,
)

RETRY_FOREVER = 1_000_000  # an intent is never dropped for an infrastructure failure


def feed_of(config) -> str:
    """Where market data comes from, for the per-source checks: `replay` or venue.market_data."""
    md = getattr(config, "market_data", None)
    if md is not None and getattr(md, "mode", "") == "replay":
        return "replay"
    venue = getattr(config, "venue", None)
    return getattr(venue, "market_data", "sim")


def default_weight(config) -> float:
    """`trader.default_weight` (the trader's table), 0.1 while the trader is not installed."""
    return float(getattr(getattr(config, "trader", None), "default_weight", 0.1))


class RiskAgent(Agent):
    name = "risk"

    def __init__(self) -> None:
        self.ctx: AgentContext | None = None
        self.state: RiskState | None = None
        self.lock = asyncio.Lock()
        self.books: TypedKV | None = None
        self.decisions: TypedKV | None = None
        self.view = None
        self.saved: dict[str, AccountBook] = {}
        self.warm = False  # trading states are published only once warmed up

    # --- start -------------------------------------------------------------------------------
    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        cfg = ctx.config.risk  # type: ignore[attr-defined]
        bus = ctx.bus
        self.books = await TypedKV.open(bus, "risk")
        self.decisions = await TypedKV.open(bus, "risk_decisions")
        books = {}
        for account in ACCOUNTS:
            book = await self.books.get(f"book.{account}", AccountBook)
            if book is not None:
                books[account] = book
        self.saved = dict(books)
        self.state = RiskState(config=cfg, feed=feed_of(ctx.config),  # type: ignore[arg-type]
                               default_weight=default_weight(ctx.config), books=books,
                               started_wall=time.time_ns())
        for account, book in books.items():
            if book.state != "ACTIVE":
                logger.warning("{} was {} when risk stopped: {}", account, book.state, book.cause)

        self.view = await (await Registry.open(bus, "risk")).view(self._on_registry)
        self.state = dataclasses.replace(self.state, registry=self.view.entries)
        alloc = await last_message(bus, "ALLOCATION", subjects.alloc_target(), AllocationTarget)
        if alloc is not None:
            self.state = engine.on_allocation(self.state, alloc)

        await bus.subscribe(subjects.exec_status(subjects.ANY), self._on_status,
                            message_type=ExecutionStatus)
        await bus.subscribe(subjects.sys_heartbeat(subjects.ANY), self._on_heartbeat,
                            message_type=Heartbeat)
        for subject in (subjects.md_ctx(subjects.ANY), subjects.md_book(subjects.ANY),
                        subjects.md_candle(subjects.ANY, subjects.ANY), subjects.md_status()):
            await bus.subscribe(subject, self._on_market)
        await bus.subscribe(subjects.alloc_target(), self._on_allocation,
                            message_type=AllocationTarget)
        ack_wait = ctx.config.jetstream.ack_wait_s
        await bus.consume("EXEC_EVENTS", cfg.durable, batch_handler=self._on_exec, batch=64,
                          filter_subjects=subjects.exec_outcomes(), ack_wait_s=ack_wait,
                          max_deliver=RETRY_FOREVER)
        await bus.consume("CONTROL", cfg.durable, handler=self._on_control,
                          filter_subject=subjects.ctl_all(), batch=16, ack_wait_s=ack_wait,
                          max_deliver=RETRY_FOREVER)
        await self._seed_prices()
        await self._warm_up(cfg.warmup_s)
        async with self.lock:
            self.warm = True
            await self._settle()
            now = self._now()
            for account in ACCOUNTS:  # what `organism resume` and the dashboard read
                await self.books.put(f"state.{account}",
                                     state_message(self.state.book(account), now))
        await bus.consume("ORDERS", cfg.durable, batch_handler=self._on_intents,
                          filter_subject=subjects.order_intent(subjects.ANY, subjects.ANY),
                          message_type=OrderIntent, batch=64, ack_wait_s=ack_wait,
                          max_deliver=RETRY_FOREVER)
        ctx.spawn(self._ticker(cfg.tick_s), "tick")
        logger.info("risk deciding intents (durable {}, market data from {}, {} strategies "
                    "in the registry)", cfg.durable, self.state.feed, len(self.view.entries))

    async def _seed_prices(self) -> None:
        """The last stored candle of each configured coin, so a restart has prices at once (a
        replayed market may not speak again for an hour); its age counts from its close."""
        assert self.ctx is not None and self.state is not None
        market = self.ctx.config.market
        for coin in market.coins:
            for interval in market.intervals:
                candle = await last_message(self.ctx.bus, "CANDLES",
                                            subjects.md_candle(coin, interval), Candle)
                known = self.state.market.quotes.get(coin)
                if candle is not None and candle.close > 0 and (
                        known is None or known.at < candle.close_time):
                    self.state = engine.on_price(self.state, coin, candle.close, candle.close_time)

    async def _warm_up(self, seconds: float) -> None:
        """Before the first decision: hear each account's execution status, a price of every
        configured coin, and catch up with the stored execution events, for at most `seconds`
        (then decide with what is known: an account not heard from is HALTED, failing closed;
        a coin without a price is refused with no_price)."""
        assert self.ctx is not None and self.state is not None
        coins = self.ctx.config.market.coins
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.ctx.stopping.is_set():
            heard = all(self.state.live_of(a).status is not None for a in ACCOUNTS)
            priced = all(c in self.state.market.quotes for c in coins)
            left = await pending(self.ctx.bus, "EXEC_EVENTS", self.ctx.config.risk.durable)  # type: ignore[attr-defined]
            if heard and priced and not left:
                return
            await asyncio.sleep(0.05)

    def _now(self) -> Now:
        assert self.ctx is not None
        return Now(clock=self.ctx.now_ns(), wall=time.time_ns())

    # --- intents -----------------------------------------------------------------------------
    async def _on_intents(self, batch: list[Delivery]) -> None:
        async with self.lock:
            for d in batch:
                await self._decide_once(d)
            await self._settle()

    async def _decide_once(self, d: Delivery) -> None:
        assert self.state is not None and self.decisions is not None
        intent: OrderIntent = d.message
        key = kv_key(intent.intent_id)
        before = self.state
        now = self._now()
        try:
            state, decision, command = engine.on_intent(before, intent, d.subject, now)
        except Exception as exc:  # a bug must not let an intent through, nor lose it
            logger.exception("deciding {} failed", intent.intent_id)
            state, command = before, None
            decision = denied(intent, DenyReason.INVALID_ORDER,
                              f"risk could not judge this intent ({type(exc).__name__}: {exc})",
                              {}, now)
        record = DecisionRecord(decision=decision, command=command)
        if await self.decisions.create(key, record):
            self.state = state
            self._log(decision)
        else:  # decided before (a redelivery, a restart): the stored decision stands
            stored = await self.decisions.get(key, DecisionRecord)
            if stored is None:
                raise RuntimeError(f"decision of {intent.intent_id} neither new nor stored")
            record = stored
            if record.published:
                logger.info("{} redelivered: already decided ({}), nothing to send",
                            intent.intent_id, type(record.decision).__name__)
                return
        outs = [Out(subjects.risk_decision(intent.account, intent.strategy_id), record.decision,
                    f"dec:{intent.intent_id}")]
        if record.command is not None:  # first: the broker stores it first, execution starts
            outs.insert(0, Out(subjects.exec_cmd(record.command.account, record.command.coin),
                               record.command, f"cmd:{intent.intent_id}"))
        await asyncio.gather(*(self._send(o) for o in outs), self._persist())
        await self.decisions.put(key, msgspec.structs.replace(record, published=True))

    def _log(self, decision) -> None:
        if hasattr(decision, "reason"):
            logger.info("denied {} of {} ({}): {}", decision.intent_id, decision.strategy_id,
                        decision.reason.value, decision.detail)
        else:
            logger.debug("approved {} of {}", decision.intent_id, decision.strategy_id)

    # --- everything else -----------------------------------------------------------------------
    async def _on_exec(self, batch: list[Delivery]) -> None:
        async with self.lock:
            outs: list[Out] = []
            for d in batch:
                self.state, more = engine.on_exec(self.state, d.message, d.stream_seq, self._now())
                outs += more
            await self._send_all(outs)
            await self._settle()

    async def _on_control(self, d: Delivery) -> None:
        async with self.lock:
            msg = d.message
            if type(msg).__name__ in ("KillSwitch", "ResumeTrading"):
                logger.warning("{} from {} for {}: {}", type(msg).__name__, msg.operator,
                               msg.account, msg.reason)
            self.state, outs = engine.on_control(self.state, msg, self._now())
            await self._send_all(outs)
            await self._settle()

    async def _on_status(self, d: Delivery) -> None:
        async with self.lock:
            self.state = engine.on_status(self.state, d.message, self._now())

    async def _on_heartbeat(self, d: Delivery) -> None:
        async with self.lock:
            self.state = engine.on_heartbeat(self.state, d.message, self._now())

    async def _on_market(self, d: Delivery) -> None:
        async with self.lock:
            self.state = engine.on_market(self.state, d.message, self._now())

    async def _on_allocation(self, d: Delivery) -> None:
        async with self.lock:
            self.state = engine.on_allocation(self.state, d.message)

    async def _on_registry(self, entry) -> None:
        if self.state is None:
            return
        async with self.lock:
            self.state = engine.on_registry(self.state, entry, self._now())
            await self._persist()

    async def _ticker(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                async with self.lock:
                    self.state, outs = engine.on_tick(self.state, self._now())
                    await self._send_all(outs)
                    await self._settle()
            except Exception as exc:  # the next tick tries again; a crash would end the breakers
                assert self.ctx is not None
                self.ctx.bus.metrics.error("tick")
                log_failure(exc, "risk tick failed; retrying next tick")

    # --- output --------------------------------------------------------------------------------
    async def _settle(self) -> None:
        """Publish changed trading states (and keep each in KV `risk`, key `state.{account}`),
        then write the books that changed."""
        if not self.warm:  # a state from before the first status would be noise
            await self._persist()
            return
        now = self._now()
        self.state, outs = engine.settle(self.state, now)
        for o in outs:
            msg: TradingStateChanged = o.message
            log = logger.warning if msg.state != "ACTIVE" else logger.info
            log("{} {} -> {}: {}", msg.account, msg.previous, msg.state, msg.reason)
        await self._send_all(outs)
        await self._persist()
        assert self.books is not None
        for o in outs:
            account = o.message.account
            await self.books.put(f"state.{account}",
                                 state_message(self.state.book(account), now))

    async def _persist(self) -> None:
        assert self.state is not None and self.books is not None
        for account, book in self.state.books.items():
            if self.saved.get(account) is not book:
                await self.books.put(f"book.{account}", book)
                self.saved[account] = book

    async def _send(self, out: Out) -> None:
        assert self.ctx is not None
        await self.ctx.bus.publish_durable(out.subject, out.message, msg_id=out.msg_id)

    async def _send_all(self, outs: list[Out]) -> None:
        for o in outs:  # in order: a flatten's commands before its FlattenRequested
            m = o.message
            if isinstance(m, FlattenRequested):
                logger.warning("{} flatten by {}: {}", m.account, m.by, m.reason)
            elif isinstance(m, SubmitOrder):
                logger.warning("{} closing {}: {} {} (reduce-only, {})", m.account, m.coin,
                               m.side, m.size, m.intent_id)
            elif isinstance(m, DeactivationRequested):
                logger.warning("{} deactivated on {}: {}", m.strategy_id, m.account, m.reason)
            await self._send(o)

    async def stop(self) -> None:
        if self.view is not None:
            await self.view.stop()
        if self.state is not None and self.books is not None:
            try:
                await self._persist()
            except Exception as exc:
                logger.warning("books not written at stop: {}", exc)
