"""The trader agent: every strategy in `paper` and `live` on closed candles, its virtual position,
and an intent for the difference, through risk like any other.

Inputs: the registry (a KV view), closed candles (durable `trader` on CANDLES), fills and the
venue's positions and equity (durable on EXEC_EVENTS), risk's decisions and flattens (durable on
ORDERS), the operator's strategy commands (durable on CONTROL), allocation weights (durable on
ALLOCATION), mid prices (md.ctx, md.book: core). Output: `OrderIntent` on
order.intent.{account}.{strategy_id} (durable, Nats-Msg-Id = the intent id).

Restart-safe: each strategy's book (decision model, target, virtual position, intents in flight,
the last bar decided, tracking figures) is written to KV `trader` before its intents are
published, and messages are acked only after that. A restart reloads the books, so a bar already
decided is skipped, and re-publishes the intents still in flight under their own ids (stored
once by JetStream, decided once by risk), never a second intent for a bar.

The thinking is in decide.py, book.py and model.py; this file moves messages.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import msgspec
from loguru import logger

from agents.trader.book import ZERO, Book
from agents.trader.config import TraderConfig
from agents.trader.decide import (
    Sizing,
    exits_of,
    on_bar,
    on_denied,
    on_fill,
    on_flatten,
    on_price,
    position_difference,
    wind_down,
)
from agents.trader.history import MarketHistory, last_signals, stored
from agents.trader.model import Bar
from bus import subjects
from bus.connection import Delivery
from bus.registry import Registry, RegistryView, is_trading
from bus.runtime import Agent, AgentContext
from bus.state import kv_entries, last_message
from marketdata.store import INTERVAL_MS
from quant.dsl import DslError, parse_strategy
from quant.genome import Strategy
from schemas import (
    ACCOUNTS,
    OPERATOR,
    AccountReport,
    AllocationTarget,
    AssetContext,
    BookSnapshot,
    Candle,
    FlattenRequested,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    PositionReport,
    RegistryEntry,
    StrategyControl,
)

BUCKET = "trader"
MS = 1_000_000


def book_key(strategy_id: str) -> str:
    return f"s.{strategy_id}"


class TraderAgent(Agent):
    name = "trader"

    def __init__(self) -> None:
        self.ctx: AgentContext | None = None
        self.cfg = TraderConfig()
        self.kv = None
        self.view: RegistryView | None = None
        self.books: dict[str, Book] = {}
        self.markets: dict[tuple[str, str], MarketHistory] = {}
        self.parsed: dict[str, tuple[str, Strategy | None]] = {}
        self.equity: dict[str, Decimal] = {}
        self.weights: dict[str, float] = {}
        self.operator: dict[str, dict[str, Decimal]] = {}  # account -> coin -> position
        self.mismatch: dict[tuple[str, str], int] = {}  # (account, coin) -> since (wall ns)
        self.served: set[tuple[str, str]] = set()
        self.warned: set[str] = set()
        self.lock = asyncio.Lock()
        self.min_notional = Decimal(10)
        # closed candle -> intents published, wall seconds (read by `organism bench trader`)
        self.decide_s: list[float] = []

    # --- start -----------------------------------------------------------------------------
    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.trader
        self.min_notional = Decimal(self.cfg.min_notional_usd)
        m = ctx.config.market
        self.served = {(c, i) for c in m.coins for i in m.intervals}
        self.kv = await ctx.bus.kv(BUCKET)
        await self._load()
        await self._seed_equity()
        registry = await Registry.open(ctx.bus, "trader")
        self.view = await registry.view(on_change=self.on_registry)
        await self._resend_in_flight()
        durable = self.cfg.durable
        ack = ctx.config.jetstream.ack_wait_s
        await ctx.bus.consume("CANDLES", durable, self.on_candle,
                              filter_subject=subjects.md_candle(subjects.ANY, subjects.ANY),
                              message_type=Candle, batch=64, ack_wait_s=ack)
        await ctx.bus.consume("EXEC_EVENTS", durable, self.on_exec, ack_wait_s=ack,
                              filter_subjects=subjects.exec_outcomes(), deliver_new=True)
        await ctx.bus.consume("ORDERS", durable, self.on_orders, ack_wait_s=ack,
                              deliver_new=True)
        await ctx.bus.consume("CONTROL", durable, self.on_control,
                              filter_subject=subjects.ctl_strategy(subjects.ANY),
                              message_type=StrategyControl, ack_wait_s=ack, deliver_new=True)
        await ctx.bus.consume("ALLOCATION", durable, self.on_allocation,
                              message_type=AllocationTarget, ack_wait_s=ack)
        await ctx.bus.subscribe(subjects.md_ctx(subjects.ANY), self.on_ctx,
                                message_type=AssetContext)
        await ctx.bus.subscribe(subjects.md_book(subjects.ANY), self.on_book,
                                message_type=BookSnapshot)
        logger.info("trading {} strategies ({} books restored), markets {}",
                    len(self._running()), len(self.books), sorted(self.served))

    async def stop(self) -> None:
        if self.view is not None:
            await self.view.stop()

    async def _load(self) -> None:
        """Books, equity and weights from KV, all of them or an error: a bucket read short
        would make this run decide again a bar it has handled."""
        for key, value in (await kv_entries(self.kv)).items():
            try:
                self._restore(key, value)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                logger.error("trader KV {} does not decode ({}); left out", key, exc)

    async def _seed_equity(self) -> None:
        """Each account's equity from the last AccountReport stored, when KV has none (a first
        start): the EXEC_EVENTS consumer hears only new reports, and until one comes (execution
        sends one a minute) every entry would be refused for want of equity and disarmed."""
        for account in ACCOUNTS:
            if account in self.equity:
                continue
            report = await last_message(self.ctx.bus, "EXEC_EVENTS",  # type: ignore[union-attr]
                                        subjects.exec_account(account), AccountReport)
            if report is not None:
                self.equity[account] = report.equity
                await self._put(f"eq.{account}", report.equity)

    def _restore(self, key: str, value: bytes) -> None:
        kind, _, rest = key.partition(".")
        if kind == "s":
            b = msgspec.json.decode(value, type=Book)
            self.books[b.strategy_id] = b
        elif kind == "eq":
            self.equity[rest] = msgspec.json.decode(value, type=Decimal)
        elif kind == "op":
            self.operator[rest] = msgspec.json.decode(value, type=dict[str, Decimal])
        elif kind == "alloc":
            self.weights = msgspec.json.decode(value, type=dict[str, float])

    async def _put(self, key: str, value) -> None:
        await self.kv.put(key, msgspec.json.encode(value))

    async def _save(self, books: list[Book]) -> None:
        for b in books:
            self.books[b.strategy_id] = b
        await asyncio.gather(*(self._put(book_key(b.strategy_id), b) for b in books))

    async def _send(self, intents: list[OrderIntent]) -> None:
        bus = self.ctx.bus  # type: ignore[union-attr]
        await asyncio.gather(*(
            bus.publish_durable(subjects.order_intent(i.account, i.strategy_id), i,
                                msg_id=i.intent_id) for i in intents))
        for i in intents:
            logger.info("intent {} {} {} {} {} ({})", i.intent_id, i.account, i.side, i.size,
                        i.coin, i.reason)

    async def _resend_in_flight(self) -> None:
        """Intents written to KV before a crash may never have been published: publish them
        again under their own ids (JetStream stores one; risk decides each id once)."""
        intents = []
        for b in self.books.values():
            for w in b.working:
                if w.ended:
                    continue
                intents.append(OrderIntent(
                    ts_event=w.sent_ns, ts_init=w.sent_ns, correlation_id=w.intent_id,
                    intent_id=w.intent_id, strategy_id=b.strategy_id, coin=b.coin,
                    side="buy" if w.delta > 0 else "sell", size=abs(w.outstanding or w.delta),
                    kind="market", target_position=b.target, reason=f"{w.kind} (re-sent at start)",
                    account=b.account, reference_price=w.reference,  # type: ignore[arg-type]
                    bar_time=w.bar_ms * MS))
        if intents:
            await self._send(intents)

    # --- which strategies run ----------------------------------------------------------------
    def _strategy(self, e: RegistryEntry) -> Strategy | None:
        held = self.parsed.get(e.strategy_id)
        if held is not None and held[0] == e.dsl:
            return held[1]
        try:
            s = parse_strategy(e.dsl, source=e.strategy_id)
        except DslError as exc:
            logger.error("{}: its DSL does not parse ({}); it is not traded", e.strategy_id, exc)
            s = None
        self.parsed[e.strategy_id] = (e.dsl, s)
        return s

    def _refusal(self, e: RegistryEntry) -> str:
        """Why a paper or live strategy cannot trade here, or ""."""
        if e.coin in self.cfg.blocked_coins:
            return f"{e.coin} is in trader.blocked_coins"
        if (e.coin, e.interval) not in self.served:
            return (f"the market-data agent does not serve {e.coin} {e.interval}: add the coin "
                    f"to market.coins and the interval to market.intervals")
        return ""

    def _runs(self, e: RegistryEntry) -> bool:
        if e.stage not in ("paper", "live"):
            return False
        why = self._refusal(e)
        if why:
            if e.strategy_id not in self.warned:
                self.warned.add(e.strategy_id)
                logger.error("{} is in {} but is not traded: {}", e.strategy_id, e.stage, why)
            return False
        return self._strategy(e) is not None

    def _running(self) -> list[RegistryEntry]:
        return [e for e in (self.view.entries.values() if self.view else ()) if self._runs(e)]

    def _sizing(self, e: RegistryEntry) -> Sizing:
        return Sizing(equity=self.equity.get(e.account),
                      weight=self.weights.get(e.strategy_id, self.cfg.default_weight),
                      min_notional=self.min_notional, slippage=self.cfg.slippage_bps * 1e-4,
                      max_leverage=self.cfg.max_leverage, post_only_s=e.limits.post_only_s)

    def _new_book(self, e: RegistryEntry) -> Book:
        return Book(strategy_id=e.strategy_id, coin=e.coin, interval=e.interval,
                    account=e.account)

    def _price(self, coin: str, interval: str) -> Decimal | None:
        m = self.markets.get((coin, interval))
        if m is None or not len(m):
            return None
        return Decimal(repr(m.bar().close))

    # --- registry changes ------------------------------------------------------------------
    async def on_registry(self, e: RegistryEntry) -> None:
        """A strategy that stops trading here (retired, demoted, blocked) or moves to the
        other account closes its virtual position on the account it held it in."""
        b = self.books.get(e.strategy_id)
        if b is None or self.ctx is None:
            return
        leaving = not self._runs(e)
        moved = b.account != e.account
        if not (leaving or moved):
            return
        async with self.lock:
            b = self.books[e.strategy_id]
            if b.position == 0 and b.outstanding == 0 and b.target == 0:
                if moved and not leaving:  # flat: start afresh on the new account
                    await self._save([msgspec.structs.replace(
                        self._new_book(e), tracking=b.tracking,
                        trade_returns=b.trade_returns)])
                return
            price = self._price(b.coin, b.interval)
            if price is None:
                return
            why = (f"moved to {e.stage} ({e.account}): closing the {b.account} position"
                   if moved and not leaving else f"no longer traded ({e.stage}"
                   + (f", {self._refusal(e)}" if self._refusal(e) else "") + ")")
            b, intents = wind_down(b, price, why, INTERVAL_MS.get(b.interval, 0),
                                   self._sizing(e), now_ns=self.ctx.now_ns())
            await self._save([b])
            await self._send(intents)

    # --- candles ---------------------------------------------------------------------------
    async def on_candle(self, d: Delivery) -> None:
        c: Candle = d.message
        if not c.closed:
            return
        key = (c.coin, c.interval)
        runs = [e for e in self._running() if (e.coin, e.interval) == key]
        leaving = self._leaving(key)
        market = self.markets.get(key)
        if market is None:
            if not runs and not leaving:
                return  # no strategy trades this market (yet): nothing to keep
            market = await self._open_market(c)
        step = INTERVAL_MS.get(c.interval)
        bar = Bar(c.open_time // MS, c.open, c.high, c.low, c.close)
        if step is None:
            return
        last = market.last_open_ms
        if last is not None and bar.open_ms > last + step:
            # bars missing before this one (candles missed while down): the store has them
            market = await self._open_market(c)
        if not market.append(bar, c.volume):
            return
        now = self.ctx.now_ns()  # type: ignore[union-attr]
        if now - c.close_time > self.cfg.max_candle_lag_bars * step * MS:
            return  # a backlog (after a restart): history only, an intent would be stale
        if leaving:
            await self._close_leaving(leaving, bar, step)
        todo = [e for e in runs if (self.books.get(e.strategy_id) is None
                or self.books[e.strategy_id].last_bar < bar.open_ms)
                and self.books.get(e.strategy_id, self._new_book(e)).account == e.account]
        if not todo:
            return
        started = time.perf_counter()
        strategies = {e.strategy_id: self._strategy(e) for e in todo}
        sigs = await asyncio.to_thread(last_signals, market.dataset(), strategies)
        async with self.lock:
            now = self.ctx.now_ns()  # type: ignore[union-attr]
            changed, intents = [], []
            for e in todo:
                b = self.books.get(e.strategy_id) or self._new_book(e)
                b2, out = on_bar(b, bar, sigs[e.strategy_id], exits_of(strategies[e.strategy_id]),
                                 step, self._sizing(e), trading=is_trading(e), now_ns=now)
                if b2 is not b:
                    changed.append(b2)
                intents.extend(out)
            await self._save(changed)
            await self._send(intents)
        self.decide_s.append(time.perf_counter() - started)
        del self.decide_s[:-1000]

    def _leaving(self, key: tuple[str, str]) -> list[tuple[Book, RegistryEntry | None]]:
        """Books of this market that hold something but no longer trade where they hold it
        (retired, demoted, blocked, gone from the registry, moved to the other account)."""
        out = []
        for b in self.books.values():
            if (b.coin, b.interval) != key:
                continue
            e = self.view.get(b.strategy_id) if self.view else None
            if e is not None and self._runs(e) and b.account == e.account:
                continue
            if b.position != 0 or b.outstanding != 0 or b.target != 0 or \
                    (e is not None and b.account != e.account):
                out.append((b, e))
        return out

    async def _close_leaving(self, leaving, bar: Bar, step: int) -> None:
        """Close each leaving book at this close (asked again at every close while risk says
        no); a book that moved account and is flat starts afresh on the new account."""
        async with self.lock:
            now = self.ctx.now_ns()  # type: ignore[union-attr]
            changed, intents = [], []
            for b, e in leaving:
                b = self.books[b.strategy_id]
                if e is not None and b.account != e.account and self._runs(e) and \
                        b.position == 0 and b.outstanding == 0:
                    changed.append(msgspec.structs.replace(
                        self._new_book(e), tracking=b.tracking, trade_returns=b.trade_returns))
                    continue
                why = "no longer traded here" if e is None else (
                    f"moved to {e.stage} ({e.account}): closing the {b.account} position"
                    if b.account != e.account else f"no longer traded ({e.stage}"
                    + (f", {self._refusal(e)})" if self._refusal(e) else ")"))
                sz = self._sizing(e) if e is not None else Sizing(
                    equity=None, weight=0.0, min_notional=self.min_notional)
                b2, out = wind_down(b, Decimal(repr(bar.close)), why, step, sz, now_ns=now)
                b2 = msgspec.structs.replace(b2, last_bar=max(b2.last_bar, bar.open_ms))
                changed.append(b2)
                intents.extend(out)
            await self._save(changed)
            await self._send(intents)

    async def _open_market(self, c: Candle) -> MarketHistory:
        market = MarketHistory(c.coin, c.interval, self.cfg.history_bars)
        history = await asyncio.to_thread(stored, self.ctx.data_dir, c.coin,  # type: ignore[union-attr]
                                          c.interval, c.open_time // MS)
        if history is None:
            logger.warning("{} {}: no stored candles before this one; signals warm up on live "
                           "candles", c.coin, c.interval)
        taken = market.seed(history, c.open_time // MS)
        step = INTERVAL_MS.get(c.interval, 0)
        last = market.last_open_ms
        if last is not None and last + step < c.open_time // MS:
            logger.warning("{} {}: the store ends at {} but the candle opens at {}: signals "
                           "over a gap differ from the backtest's until the store has the "
                           "missing bars", c.coin, c.interval, last, c.open_time // MS)
        logger.info("{} {}: {} stored bars of history before the candle of {}", c.coin,
                    c.interval, taken, c.open_time // MS)
        self.markets[(c.coin, c.interval)] = market
        return market

    # --- prices between closes -------------------------------------------------------------
    async def on_ctx(self, d: Delivery) -> None:
        a: AssetContext = d.message
        px = a.mid_price if a.mid_price is not None else a.mark_price
        await self._mid(a.coin, float(px))

    async def on_book(self, d: Delivery) -> None:
        b: BookSnapshot = d.message
        if b.bids and b.asks:
            await self._mid(b.coin, float((b.bids[0].price + b.asks[0].price) / 2))

    async def _mid(self, coin: str, mid: float) -> None:
        if self.view is None or self.ctx is None:
            return
        held = [b for b in self.books.values() if b.coin == coin and b.model.side != 0]
        if not held:
            return
        async with self.lock:
            changed, intents = [], []
            now = self.ctx.now_ns()
            for b in held:
                b = self.books[b.strategy_id]
                e = self.view.get(b.strategy_id)
                s = self._strategy(e) if e is not None and self._runs(e) else None
                if s is None or b.account != e.account:  # type: ignore[union-attr]
                    continue
                b2, out = on_price(b, mid, exits_of(s), INTERVAL_MS.get(b.interval, 0),
                                   self._sizing(e), now_ns=now)  # type: ignore[arg-type]
                if b2 is not b:
                    changed.append(b2)
                intents.extend(out)
            if changed:
                await self._save(changed)
                await self._send(intents)

    # --- execution events ------------------------------------------------------------------
    async def on_exec(self, d: Delivery) -> None:
        msg = d.message
        if isinstance(msg, OrderFilled):
            await self._fill(msg)
        elif isinstance(msg, (OrderRejected, OrderCanceled, OrderExpired)):
            why = {OrderRejected: "rejected", OrderCanceled: "canceled",
                   OrderExpired: "expired"}[type(msg)]
            await self._end(msg.strategy_id, msg.account, why, cloid=msg.cloid)
        elif isinstance(msg, AccountReport):
            if self.equity.get(msg.account) != msg.equity:
                self.equity[msg.account] = msg.equity
                await self._put(f"eq.{msg.account}", msg.equity)
            for coin, size in msg.positions.items():
                await self._check(msg.account, coin, size)
        elif isinstance(msg, PositionReport):
            await self._check(msg.account, msg.coin, msg.size)

    async def _fill(self, f: OrderFilled) -> None:
        async with self.lock:
            if f.strategy_id == OPERATOR:
                pos = self.operator.setdefault(f.account, {})
                pos[f.coin] = pos.get(f.coin, ZERO) + (f.size if f.side == "buy" else -f.size)
                await self._put(f"op.{f.account}", pos)
                return
            b = self.books.get(f.strategy_id)
            if b is None or b.account != f.account:
                return  # risk's own flatten, or a strategy this trader never traded
            b2 = on_fill(b, f)
            if b2 is not b:
                await self._save([b2])

    async def _end(self, sid: str, account: str, why: str, cloid: str = "",
                   intent_id: str = "") -> None:
        from agents.trader.book import end

        async with self.lock:
            b = self.books.get(sid)
            if b is None or b.account != account:
                return
            b2 = end(b, why, cloid=cloid, intent_id=intent_id)
            if b2 is not b:
                await self._save([b2])

    async def _check(self, account: str, coin: str, venue: Decimal) -> None:
        """Strategies' virtual positions + the operator's = the venue's, per coin and account;
        a difference that lasts longer than trader.position_check_s is reported."""
        books = [b for b in self.books.values() if b.account == account and b.coin == coin]
        if any(b.outstanding for b in books):
            return  # fills in flight
        op = self.operator.get(account, {}).get(coin, ZERO)
        diff = position_difference(books, op, venue)
        key = (account, coin)
        if diff == 0:
            if self.mismatch.pop(key, None) is not None:
                logger.info("{} {}: positions agree again with the venue", account, coin)
                await self.kv.delete(f"check.{account}.{coin}")
            return
        now = time.time_ns()
        since = self.mismatch.setdefault(key, now)
        if now - since >= self.cfg.position_check_s * 1e9 and since > 0:
            self.mismatch[key] = -1  # reported once per episode
            self.ctx.bus.metrics.error("position_mismatch")  # type: ignore[union-attr]
            virtual = venue - op - diff
            logger.error("{} {}: the venue holds {} but the strategies' virtual positions add "
                         "up to {} and the operator's to {} (difference {})", account, coin,
                         venue, virtual, op, diff)
            await self._put(f"check.{account}.{coin}", {
                "venue": str(venue), "strategies": str(virtual), "operator": str(op),
                "difference": str(diff), "since_ns": since})

    # --- risk and the operator ---------------------------------------------------------------
    async def on_orders(self, d: Delivery) -> None:
        msg = d.message
        if isinstance(msg, OrderDenied):
            async with self.lock:
                b = self.books.get(msg.strategy_id)
                if b is not None and b.account == msg.account:
                    b2 = on_denied(b, msg.intent_id, msg.reason.value)
                    if b2 is not b:
                        await self._save([b2])
        elif isinstance(msg, FlattenRequested):
            await self._flatten(msg)

    async def _flatten(self, f: FlattenRequested) -> None:
        async with self.lock:
            changed = [on_flatten(b, f.by) for b in self.books.values()
                       if b.account == f.account and (not f.coin or b.coin == f.coin)
                       and (not f.strategy_id or b.strategy_id == f.strategy_id)]
            await self._save(changed)
            if not f.strategy_id:
                pos = self.operator.get(f.account, {})
                for coin in list(pos):
                    if not f.coin or coin == f.coin:
                        pos[coin] = ZERO
                await self._put(f"op.{f.account}", pos)
        logger.warning("{} flatten by {} ({}): {} virtual positions zeroed; they wait for a "
                       "fresh entry signal", f.account, f.by, f.reason, len(changed))

    async def on_control(self, d: Delivery) -> None:
        c: StrategyControl = d.message
        logger.info("operator {}: {} {} ({})", c.operator, c.action, c.strategy_id, c.reason)
        if c.action != "flatten" or self.ctx is None:
            return  # pause and resume: the registry's flag does it
        e = self.view.get(c.strategy_id) if self.view else None
        async with self.lock:
            b = self.books.get(c.strategy_id)
            if b is None or e is None:
                return
            price = self._price(b.coin, b.interval)
            if price is None:
                return
            b, intents = wind_down(b, price, f"flattened by {c.operator}: {c.reason}".strip(),
                                   INTERVAL_MS.get(b.interval, 0), self._sizing(e),
                                   now_ns=self.ctx.now_ns())
            b = msgspec.structs.replace(b, note=f"flattened by {c.operator}; waits for a fresh "
                                        "entry signal")
            await self._save([b])
            await self._send(intents)

    async def on_allocation(self, d: Delivery) -> None:
        a: AllocationTarget = d.message
        self.weights = {w.strategy_id: float(w.weight) for w in a.weights}
        await self._put("alloc", self.weights)
