"""Reconciliation with the venue, for the execution agent: at start (nothing is sent before it
agrees), every `reconcile_interval_s`, after every websocket reconnect, and whenever the venue
did something on its own (a liquidation, the dead-man switch). The comparisons are pure
(reconcile.py); this module reads the venue, publishes what it found and keeps positions,
the account report and the protective stops in step.

KV `exec_{account}` keys written here: `position.{coin}` (PositionReport, ts_event = the venue's
time of the read), `account` (AccountReport), `known.{oid}` (an order at the venue we did not
send, reported once).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec
from loguru import logger

from agents.execution.orders import TrackedOrder
from agents.execution.reconcile import (
    VenueAccount,
    VenueFill,
    missing_orders,
    net_transfers,
    parse_account,
    parse_fill,
    position_gap,
    stop_plan,
    unknown_orders,
)
from agents.execution.venue_client import TemporaryError, VenueError, leverage_action
from bus import subjects
from bus.log import log_failure
from schemas import AccountReport, PositionReport
from schemas.orders import cloid_for

if TYPE_CHECKING:
    from agents.execution.agent import ExecutionAgent

ZERO = Decimal(0)
FILLS_PAGE = 2000  # userFillsByTime answers at most this many rows
MIDS_MAX_AGE_S = 2.0  # a market order is never priced from an older mid


class Reconciler:
    def __init__(self, agent: ExecutionAgent) -> None:
        self.agent = agent
        self.agreed = False
        self.problem = ""
        self.known: dict[str, tuple[Decimal, int]] = {}  # coin -> (size, venue ms) last published
        self.entries: dict[str, Decimal | None] = {}
        self.known_oids: set[int] = set()
        self.mids: dict[str, Decimal] = {}
        self.mids_at = float("-inf")  # monotonic time of the last allMids push
        self.transfers: Decimal | None = None  # net deposits from the ledger, last read
        self.runs = 0  # reconciliations completed
        self.recent: list[VenueFill] = []
        self.lock = asyncio.Lock()
        self._soon = asyncio.Event()
        self._refresh: asyncio.Task | None = None
        self._dead_man_seen: set[int] = set()
        self._stop_locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ state from KV
    def load(self, stored: dict[str, bytes]) -> None:
        """Positions, and the orders not ours already reported, from the bucket read at start."""
        for key, value in stored.items():
            if key.startswith("position.") and value:
                report = msgspec.json.decode(value, type=PositionReport)
                self.known[report.coin] = (report.size, report.ts_event // 1_000_000)
                self.entries[report.coin] = report.entry_price
            elif key.startswith("known."):
                self.known_oids.add(int(key[6:]))

    # ------------------------------------------------------------------ venue reads
    async def info(self, body: dict):
        assert self.agent.client is not None
        return await self.agent.client.info(body)

    async def setup(self) -> None:
        """The venue's coins (asset ids, lot sizes) and clock; leverage and cross margin per coin
        from config, once per start."""
        agent = self.agent
        meta = await self.info({"type": "meta", "dex": ""})
        for i, coin in enumerate(meta["universe"]):
            agent.assets[coin["name"]] = i
            agent.sz_decimals[coin["name"]] = int(coin["szDecimals"])
        await self.read_clock()
        await self.refresh_mids()
        cfg = agent.cfg
        for coin in agent.ctx.config.market.coins:
            if coin not in agent.assets:
                logger.warning("{}: coin {} is not listed at the venue; not tradable", agent.name, coin)
                continue
            lev = cfg.leverage_of(coin)
            reply = await agent.client.exchange(leverage_action(agent.assets[coin], lev,
                                                                cfg.cross_margin))
            agent.budget.spend(1)
            if reply.get("status") != "ok":
                logger.warning("{}: leverage {}x for {} refused: {}", agent.name, lev, coin,
                               reply.get("response"))

    async def read_clock(self) -> VenueAccount:
        state = parse_account(await self.info({"type": "clearinghouseState",
                                               "user": self.agent.address, "dex": ""}))
        self.agent.saw_venue_time(state.time_ms)
        return state

    async def refresh_mids(self) -> None:
        mids = await self.info({"type": "allMids", "dex": ""})
        self.mids.update({c: Decimal(str(px)) for c, px in mids.items()})

    def saw_mids(self, mids: dict) -> None:
        """Mid prices pushed on the websocket (allMids)."""
        self.mids.update({c: Decimal(str(px)) for c, px in mids.items()})
        self.mids_at = time.monotonic()

    def mid(self, coin: str) -> Decimal | None:
        return self.mids.get(coin)

    async def fresh_mid(self, coin: str) -> Decimal | None:
        """The mid a market order is priced from: the websocket's pushes keep it current;
        without a push for MIDS_MAX_AGE_S (the feed down, or not subscribed yet) it is read
        over REST for this order."""
        if time.monotonic() - self.mids_at > MIDS_MAX_AGE_S:
            await self.refresh_mids()
        return self.mids.get(coin)

    async def order_status(self, cloid: str) -> str | None:
        """The venue's status word for our cloid, or None when it never heard of it."""
        reply = await self.info({"type": "orderStatus", "user": self.agent.address, "oid": cloid})
        if reply.get("status") != "order":
            return None
        order = reply["order"]
        oid = int(order.get("order", {}).get("oid", 0))
        mine = self.agent.orders.get(cloid)
        if mine is not None and oid and not mine.oid:
            mine.oid = oid
            self.agent.by_oid[oid] = cloid
        return str(order.get("status", ""))

    async def fills_since(self, start_ms: int) -> list[dict]:
        out: list[dict] = []
        start = start_ms
        while True:
            rows = await self.info({"type": "userFillsByTime", "user": self.agent.address,
                                    "startTime": start, "endTime": None,
                                    "aggregateByTime": False})
            out.extend(rows)
            if len(rows) < FILLS_PAGE:
                break
            start = max(int(r["time"]) for r in rows) + 1
        out.sort(key=lambda r: (int(r["time"]), int(r.get("tid", 0))))
        return out

    # ------------------------------------------------------------------ the run
    async def run(self, *, start: bool) -> None:
        """One reconciliation: fills, orders, positions, the account and the stops agree with
        the venue afterwards (TemporaryError / VenueError when the venue could not be read)."""
        agent = self.agent
        async with self.lock:
            state = await self.read_clock()
            venue_open = await self.info({"type": "frontendOpenOrders", "user": agent.address,
                                          "dex": ""})
            lookback = int(agent.cfg.fills_lookback_h * 3_600_000)
            since = min([t for _, t in self.known.values()] or [state.time_ms - lookback])
            since = max(since, state.time_ms - lookback) if self.known else since
            fills = await self.fills_since(since)
            for raw in fills:
                await agent.on_fill(raw, live=False)
            await self._orders(venue_open, state.time_ms)
            await self._positions(state, [parse_fill(r) for r in fills], check=True)
            await self.refresh_mids()
            self.agreed = True
            self.problem = ""
            self.runs += 1
        stopped = {o.coin for o in agent.orders.values() if o.origin == "protective" and not o.done}
        for coin in set(state.positions) | {c for c, (s, _) in self.known.items() if s} | stopped:
            await self.ensure_stop(coin, state)

    async def _orders(self, venue_open: list[dict], now_ms: int) -> None:
        agent = self.agent
        lag = int(agent.cfg.venue_lag_s * 1000)
        ours = [o for o in agent.orders.values() if o.cloid not in agent.in_flight]
        for order in missing_orders(ours, venue_open, now_ms, lag):
            status = await self.order_status(order.cloid)
            if status is not None:
                was_open = order.status in ("accepted", "partially_filled")
                await agent.on_status(order, status)
                if was_open and order.done and status not in ("filled",):
                    await agent.reconciliation(
                        "order_closed", order.coin, cloid=order.cloid, oid=order.oid,
                        key=f"{order.cloid}", detail=f"the venue says {status}")
            elif order.acked:
                # it was at the venue and the venue no longer knows it (a local exchange that
                # restarted without its state): loudly closed, never a ghost
                await agent.reconciliation(
                    "order_closed", order.coin, cloid=order.cloid, oid=order.oid,
                    key=order.cloid, detail="the venue no longer knows this order")
                await agent.end(order, "canceled", "canceled", "unknown at the venue")
            elif now_ms > order.expires_ms and (
                    now_ms - order.created_ms > agent.cfg.resend_within_s * 1000):
                await agent.reconciliation(
                    "order_lost", order.coin, cloid=order.cloid, key=order.cloid,
                    detail="sent, never acknowledged, and the venue does not know the cloid")
                await agent.end(order, "expired", "expired",
                                "lost: the venue never heard of it")
        for raw in unknown_orders(agent.orders, venue_open, self.known_oids):
            oid = int(raw.get("oid", 0))
            self.known_oids.add(oid)
            await agent.reconciliation(
                "unknown_order", str(raw.get("coin")), cloid=str(raw.get("cloid") or ""),
                oid=oid, key=str(oid), size=Decimal(str(raw.get("sz", "0"))),
                detail=f"an open order we did not send: {raw.get('side')} {raw.get('sz')} "
                       f"{raw.get('coin')} at {raw.get('limitPx')} ({raw.get('orderType')})")
            await agent.kv.put(f"known.{oid}", b"1")

    async def _positions(self, state: VenueAccount, fills: list[VenueFill], *, check: bool) -> None:
        """Publish every position that changed (and the account); with `check`, a position that
        differs from the one we knew plus the fills since is a reconciliation event."""
        agent = self.agent
        coins = set(state.positions) | set(self.known)
        changed = False
        for coin in sorted(coins):
            pos = state.positions.get(coin)
            size = pos.szi if pos else ZERO
            entry = pos.entry_px if pos else None
            known, known_ms = self.known.get(coin, (ZERO, 0))
            if check:
                since = [f for f in fills if f.coin == coin and known_ms < f.time_ms <= state.time_ms]
                gap = position_gap(known, since, size)
                if gap != 0:
                    await agent.reconciliation(
                        "position_mismatch", coin, key=f"{coin}-{state.time_ms}", size=gap,
                        detail=f"the venue holds {size}; we knew {known} and saw fills of "
                               f"{sum((f.signed for f in since), ZERO)} since")
            if coin in self.known and known == size and self.entries.get(coin) == entry:
                self.known[coin] = (size, state.time_ms)
                continue
            await self.publish_position(coin, state, size)
            changed = True
        if changed or check:
            await self.publish_account(state, read_ledger=check)

    async def publish_position(self, coin: str, state: VenueAccount, size: Decimal) -> None:
        agent = self.agent
        pos = state.positions.get(coin)
        now = agent.ctx.now_ns()
        mark = None
        if pos is not None and pos.szi:
            mark = self.mids.get(coin)
        report = PositionReport(
            ts_event=state.time_ms * 1_000_000, ts_init=now,
            correlation_id=f"position-{agent.account}-{coin}", coin=coin, size=size,
            entry_price=pos.entry_px if pos else None,
            unrealized_pnl=pos.unrealized_pnl if pos else ZERO,
            margin_used=pos.margin_used if pos else ZERO,
            leverage=pos.leverage if pos else 1.0, account_value=state.equity,
            account=agent.account, liquidation_price=pos.liquidation_px if pos else None,
            mark_price=mark)
        await agent.ctx.bus.publish_durable(
            subjects.exec_position(agent.account, coin), report,
            msg_id=f"pos:{agent.account}:{coin}:{state.time_ms}:{size}")
        await agent.kv.put(f"position.{coin}", msgspec.json.encode(report))
        self.known[coin] = (size, state.time_ms)
        self.entries[coin] = report.entry_price

    async def publish_account(self, state: VenueAccount, *, read_ledger: bool = True) -> None:
        """AccountReport; the ledger (deposits, withdrawals) is read on reconciliations, not
        after every fill: money moving in or out shows within a reconcile interval."""
        agent = self.agent
        if read_ledger or self.transfers is None:
            ledger = await self.info({"type": "userNonFundingLedgerUpdates",
                                      "user": agent.address, "startTime": 0, "endTime": None})
            self.transfers = net_transfers(ledger, agent.address)
        now = agent.ctx.now_ns()
        report = AccountReport(
            ts_event=state.time_ms * 1_000_000, ts_init=now,
            correlation_id=f"account-{agent.account}", account=agent.account,
            equity=state.equity, margin_used=state.margin_used,
            total_notional=state.total_notional, withdrawable=state.withdrawable,
            net_transfers=self.transfers,
            positions={c: p.szi for c, p in state.positions.items()})
        await agent.ctx.bus.publish_durable(
            subjects.exec_account(agent.account), report,
            msg_id=f"acct:{agent.account}:{state.time_ms}")
        await agent.kv.put("account", msgspec.json.encode(report))

    # ------------------------------------------------------------------ after fills
    def fill_seen(self, fill: VenueFill) -> None:
        """A fill was published: positions are read again shortly (debounced)."""
        self.recent.append(fill)
        if len(self.recent) > 10_000:
            del self.recent[:5_000]
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._refresh_positions())

    async def _refresh_positions(self) -> None:
        await asyncio.sleep(0.2)
        try:
            async with self.lock:
                state = await self.read_clock()
                await self._positions(state, [], check=False)
            for coin in {f.coin for f in self.recent[-50:]} | set(state.positions):
                await self.ensure_stop(coin, state)
        except (TemporaryError, VenueError) as exc:
            logger.warning("{}: positions not refreshed ({}); the next reconciliation will",
                           self.agent.name, exc)
            self.soon()
        except Exception as exc:
            log_failure(exc, "{}: position refresh failed", self.agent.name)

    def expect_fills(self, order: TrackedOrder, total: Decimal) -> None:
        """The venue said `total` filled at once; if the websocket has not brought the fills
        within a second, REST does."""
        async def check() -> None:
            await asyncio.sleep(1.0)
            if order.filled >= total:
                return
            try:
                for raw in await self.fills_since(order.sent_ms - 60_000):
                    await self.agent.on_fill(raw, live=False)
            except (TemporaryError, VenueError) as exc:
                logger.warning("{}: fills of {} not read ({})", self.agent.name, order.cloid, exc)
                self.soon()

        self.agent.ctx.spawn(check(), f"fills:{order.cloid[:10]}")

    async def dead_man_fired(self, order: TrackedOrder) -> None:
        agent = self.agent
        minute = agent.venue_now_ms() // 60_000
        if minute not in self._dead_man_seen:
            self._dead_man_seen.add(minute)
            await agent.reconciliation(
                "dead_man_fired", order.coin, cloid=order.cloid, oid=order.oid,
                key=f"{minute}", detail="the venue's scheduled cancel took our open orders "
                                        "(protective stops included); stops are placed again")
        agent.dead_man_ms = 0
        self.soon()

    # ------------------------------------------------------------------ protective stops
    async def ensure_stop(self, coin: str, state: VenueAccount) -> None:
        agent = self.agent
        fraction = agent.cfg.stop_fraction
        if coin not in agent.assets or not self.agreed:
            return
        lock = self._stop_locks.setdefault(coin, asyncio.Lock())
        async with lock:
            pos = state.positions.get(coin)
            stops = [o for o in agent.orders.values()
                     if o.origin == "protective" and o.coin == coin and not o.done]
            plan = stop_plan(pos.szi if pos else ZERO, pos.entry_px if pos else None, fraction,
                             agent.sz_decimals[coin], stops)
            if plan.place:
                from agents.execution.placing import stop_limit

                key = f"stop-{agent.account}-{coin}-{agent.venue_now_ms()}"
                order = TrackedOrder(
                    cloid=cloid_for(key), command_id=key, correlation_id=key, coin=coin,
                    side="buy" if plan.is_buy else "sell", size=plan.size, kind="trigger",
                    tif="Gtc", limit_px=stop_limit(plan.is_buy, plan.trigger_px,
                                                   agent.sz_decimals[coin]),
                    reduce_only=True, trigger_px=plan.trigger_px, tpsl="sl", origin="protective")
                logger.info("{}: protective stop {} {} {} at {}", agent.name, order.side,
                            plan.size, coin, plan.trigger_px)
                await agent.send(order, first=True)
            for cloid in plan.cancel:
                old = agent.orders.get(cloid)
                if old is not None and not old.done:
                    await agent.cancel_cloid(old)

    # ------------------------------------------------------------------ pacing
    def soon(self) -> None:
        self._soon.set()

    async def wait(self, interval_s: float) -> None:
        try:
            await asyncio.wait_for(self._soon.wait(), timeout=interval_s)
        except asyncio.TimeoutError:
            pass
        self._soon.clear()

