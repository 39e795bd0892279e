"""The execution agent: the only way anything reaches the venue. One process per account
(`organism agent execution --account paper|live`, agent name `execution_{account}`).

- Commands: a durable pull consumer `execution_{account}` on EXEC_CMD filtered
  `exec.cmd.{account}.>`; SubmitOrder / CancelOrder only risk may publish (broker permissions).
  A command without an origin, or for the other account, is refused and dead-lettered.
- Idempotent: the cloid comes with the command (derived from the intent id); the order is kept in
  KV `exec_{account}` under `order.{cloid}` before it is sent, every action carries an
  `expiresAfter`, and after a timeout the venue is asked by cloid once that time has passed, so a
  retried or redelivered command is never a second order.
- Fills from the websocket (orderUpdates, userFills, userEvents) and REST, published once each
  (the fill's key in its order's journal entry, or KV `fill.{tid}_{time}` for an order not
  ours), attributed to their strategy by cloid; every reconnect is followed by a REST resync,
  since Hyperliquid replays nothing.
- Reconciliation (reconciler.py) at start, every minute and after every reconnect.
- ExecutionStatus on `exec.status.{account}` every heartbeat; risk halts the account when it is
  not `ready` or goes silent.
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
from loguru import logger

from agents.execution.config import ExecutionConfig
from agents.execution.fills import Fills
from agents.execution.guards import ActionBudget, VpnGuard
from agents.execution.orders import TrackedOrder
from agents.execution.placing import UNREACHABLE, Placing, stop_limit
from agents.execution.reconciler import Reconciler
from agents.execution.rounding import (
    UnroundableOrder,
    limit_price,
    market_price,
    round_size,
    trigger_price,
)
from agents.execution.venue_client import (
    MAINNET_URL,
    Signer,
    TemporaryError,
    VenueClient,
    VenueError,
)
from bus import subjects
from bus.codec import encode
from bus.connection import Delivery
from bus.jetstream import exec_bucket
from bus.log import log_failure
from bus.runtime import Agent, AgentContext
from bus.state import kv_entries
from schemas import (
    CancelOrder,
    DeadLetter,
    ExecutionStatus,
    OrderRejected,
    SubmitOrder,
)

Command = SubmitOrder | CancelOrder


class StartError(RuntimeError):
    """The agent cannot trade with this configuration (no key, bad account): the fix is named."""


def account_key(config, secrets, account: str) -> tuple[str, str]:
    """(private key, the address queries use) of the account: the local exchange's generated key
    on `sim`, else the API wallet key from the environment and the configured master account."""
    venue = config.venue.account(account)
    if venue.network == "sim":
        from venue.keys import local_address, local_key

        return local_key(config.data_dir, account), local_address(config.data_dir, account)
    secret = secrets.paper_secret_key if account == "paper" else secrets.secret_key
    env = "ORGANISM_PAPER_SECRET_KEY" if account == "paper" else "ORGANISM_SECRET_KEY"
    if not secret:
        raise StartError(f"the {account} account trades {venue.network} but {env} is not set: "
                         "export the API wallet's key in the environment")
    key = secret.reveal()
    from eth_account import Account

    try:
        signer_address = Account.from_key(key).address.lower()
    except Exception:
        raise StartError(f"{env} is not a valid private key (0x + 64 hex characters)") from None
    return key, (venue.account_address or signer_address).lower()


class ExecutionAgent(Placing, Fills, Agent):
    name = "execution"

    def __init__(self, account: str = "paper") -> None:
        if account not in ("paper", "live"):
            raise StartError(f"unknown account {account!r}: use --account paper or --account live")
        self.account = account
        self.name = f"execution_{account}"  # type: ignore[misc]
        self.ctx: AgentContext | None = None
        self.cfg: ExecutionConfig | None = None
        self.client: VenueClient | None = None
        self.session: aiohttp.ClientSession | None = None
        self.address = ""
        self.kv: Any = None
        self.orders: dict[str, TrackedOrder] = {}
        self.by_oid: dict[int, str] = {}
        self.seen_fills: set[str] = set()
        self.assets: dict[str, int] = {}
        self.sz_decimals: dict[str, int] = {}
        self.state = "starting"
        self.reason = ""
        self.ready = asyncio.Event()
        self.vpn: VpnGuard | None = None
        self.budget = ActionBudget()
        self.reconciler: Reconciler | None = None
        self.dead_man_ms = 0
        self.clock_offset_ms = 0  # venue clock minus ours (the local exchange can be advanced)
        self.in_flight: set[str] = set()
        self.submitted: dict[str, asyncio.Future] = {}  # OrderSubmitted publishes in flight
        self.feed_live = False

    # ------------------------------------------------------------------ start
    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.cfg = cfg = ctx.config.execution
        venue = ctx.config.venue.account(self.account)
        url = ctx.config.venue.url(venue.network)
        key, self.address = account_key(ctx.config, ctx.secrets, self.account)
        signer = Signer(key, is_mainnet=url == MAINNET_URL)
        del key
        self.session = aiohttp.ClientSession()
        self.client = VenueClient(url, self.session, signer, timeout_s=cfg.request_timeout_s)
        self.kv = await ctx.bus.kv(exec_bucket(self.account))
        self.vpn = VpnGuard(cfg.vpn_check)
        self.reconciler = Reconciler(self)
        await self._load()
        logger.info("{} trades {} at {} as {} (signer {}), {} orders open in KV", self.name,
                    venue.network, url, self.address, signer.address,
                    sum(not o.done for o in self.orders.values()))
        ctx.spawn(self._status_loop(), "status")
        ctx.spawn(self._main(), "main")

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def _load(self) -> None:
        """Orders, fills seen and positions from KV (what survived the last run), all of it or
        an error: a bucket read short would make this run send a redelivered command again."""
        entries = await kv_entries(self.kv)
        for key, value in entries.items():
            if key.startswith("fill."):
                self.seen_fills.add(key[5:])
            elif key.startswith("order.") and value:
                order = msgspec.json.decode(value, type=TrackedOrder)
                self.track(order)
                self.seen_fills.update(order.fill_keys)
        assert self.reconciler is not None
        self.reconciler.load(entries)

    def track(self, order: TrackedOrder) -> None:
        self.orders[order.cloid] = order
        if order.oid:
            self.by_oid[order.oid] = order.cloid

    async def _main(self) -> None:
        assert self.ctx is not None and self.cfg is not None and self.reconciler is not None
        ctx, cfg = self.ctx, self.cfg
        await self.vpn.check()
        await self._start_reconciliation()
        ctx.spawn(self._feed(), "feed")
        await ctx.bus.consume(
            "EXEC_CMD", durable=f"execution_{self.account}", handler=self.on_command,
            filter_subject=subjects.exec_cmd(self.account, subjects.ANY).replace(".*", ".>"),
            message_type=Command, batch=1,
            ack_wait_s=max(ctx.config.jetstream.ack_wait_s,
                           (cfg.retries + 2) * (cfg.request_timeout_s + cfg.backoff_max_s)))
        ctx.spawn(self._periodic(), "reconcile")
        ctx.spawn(self._guards(), "guards")

    async def _start_reconciliation(self) -> None:
        """Fail closed: nothing is sent until the venue and we agree; alarm after the bound."""
        assert self.cfg is not None and self.reconciler is not None and self.ctx is not None
        self.set_state("reconciling", "agreeing with the venue before the first order")
        deadline = time.monotonic() + self.cfg.start_timeout_s
        delay = self.cfg.backoff_initial_s
        alarmed = False
        while not self.ctx.stopping.is_set():
            try:
                await self.reconciler.setup()
                await self.reconciler.run(start=True)
                break
            except Exception as exc:  # the venue (or the broker) not answering: fail closed
                if not isinstance(exc, (TemporaryError, VenueError)):
                    logger.opt(exception=exc).warning("{}: reconciliation at start failed",
                                                      self.name)
                if time.monotonic() > deadline and not alarmed:
                    alarmed = True
                    self.ctx.bus.metrics.error("reconcile")
                    logger.error("{}: the venue and we do not agree after {:.0f} s ({}); nothing "
                                 "is sent until they do (risk halts the account)", self.name,
                                 self.cfg.start_timeout_s, exc)
                    self.set_state("not_ready", f"reconciliation failed: {exc}")
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.cfg.reconcile_interval_s if alarmed else
                            self.cfg.backoff_max_s)
        self.refresh_state()
        logger.info("{} reconciled with the venue: {}", self.name, self.state)

    # ------------------------------------------------------------------ readiness
    def set_state(self, state: str, reason: str = "") -> None:
        if state != self.state or reason != self.reason:
            logger.info("{} {} {}", self.name, state, f"({reason})" if reason else "")
        self.state, self.reason = state, reason
        if state == "ready":
            self.ready.set()
        else:
            self.ready.clear()

    def refresh_state(self) -> None:
        """ready, unless the VPN check fails or reconciliation has not agreed yet."""
        assert self.reconciler is not None and self.vpn is not None
        if not self.reconciler.agreed:
            self.set_state("not_ready" if self.state != "reconciling" else "reconciling",
                           self.reconciler.problem or "reconciling")
        elif not self.vpn.ok:
            self.set_state("not_ready", f"VPN check failed: {self.vpn.detail}")
        else:
            self.set_state("ready")

    async def _status_loop(self) -> None:
        assert self.ctx is not None
        while True:
            await self.publish_status()
            await asyncio.sleep(self.ctx.config.heartbeat.interval_s)

    async def publish_status(self) -> None:
        assert self.ctx is not None and self.client is not None and self.vpn is not None
        now = time.time_ns()
        status = ExecutionStatus(
            ts_event=now, ts_init=now, account=self.account, state=self.state,  # type: ignore[arg-type]
            reason=self.reason, vpn_ok=self.vpn.ok, actions_left=self.budget.left,
            weight_used=self.client.weights.used(), dead_man_ms=self.dead_man_ms,
            open_orders=sum(not o.done for o in self.orders.values()))
        try:
            await self.ctx.bus.publish(subjects.exec_status(self.account), status)
        except Exception as exc:
            logger.debug("status not sent: {}", exc)

    async def _guards(self) -> None:
        """The VPN check, the action budget and the dead-man switch, on their own clocks."""
        assert self.cfg is not None and self.ctx is not None and self.vpn is not None
        cfg = self.cfg
        next_vpn = next_budget = next_dead_man = 0.0
        while True:
            now = time.monotonic()
            try:
                if now >= next_vpn:
                    await self.vpn.check()
                    self.refresh_state()
                    next_vpn = now + cfg.vpn_check_interval_s
                if now >= next_budget:
                    await self.refresh_budget()
                    next_budget = now + cfg.rate_limit_refresh_s
                if cfg.dead_man_s and now >= next_dead_man and self.ready.is_set():
                    await self.arm_dead_man()
                    next_dead_man = now + cfg.dead_man_s / 3
                await self.watch_unacked()
            except Exception as exc:  # the broker or the venue briefly away: the next round retries
                self.ctx.bus.metrics.error("guards")
                log_failure(exc, "{}: guard round failed", self.name)
            await asyncio.sleep(min(1.0, cfg.ack_timeout_s / 2))

    async def watch_unacked(self) -> None:
        """An order sent without an answer for ack_timeout_s (and not being sent right now) is
        asked for by cloid; one the venue never heard of, once it no longer could, is lost."""
        assert self.cfg is not None
        now = self.venue_now_ms()
        if not self.ready.is_set():
            return
        late = [o for o in self.orders.values()
                if o.status == "submitted" and not o.acked and o.cloid not in self.in_flight
                and o.sent_ms and now - o.sent_ms > self.cfg.ack_timeout_s * 1000]
        for order in late:
            self.in_flight.add(order.cloid)
            try:
                outcome = await self.lookup(order)
                if outcome is UNREACHABLE or outcome is not None or order.done:
                    continue
                now = self.venue_now_ms()
                if now > order.expires_ms and now - order.created_ms < self.cfg.resend_within_s * 1000:
                    logger.info("{} never reached the venue; sending it again", order.cloid)
                    await self.send(order, first=False)
                elif now > order.expires_ms:
                    await self.reconciliation(
                        "order_lost", order.coin, cloid=order.cloid, key=order.cloid,
                        detail="sent, never acknowledged, and the venue does not know the cloid")
                    await self.end(order, "expired", "expired", "lost: the venue never heard of it")
            finally:
                self.in_flight.discard(order.cloid)

    async def refresh_budget(self) -> None:
        assert self.client is not None
        try:
            reply = await self.client.info({"type": "userRateLimit", "user": self.address})
            self.budget.update(int(reply["nRequestsCap"]) - int(reply["nRequestsUsed"]))
        except (TemporaryError, VenueError, KeyError, TypeError, ValueError) as exc:
            logger.debug("userRateLimit not read: {}", exc)

    async def arm_dead_man(self) -> None:
        from agents.execution.venue_client import schedule_cancel_action

        assert self.cfg is not None and self.client is not None
        when = self.venue_now_ms() + int(self.cfg.dead_man_s * 1000)
        try:
            reply = await self.client.exchange(schedule_cancel_action(when))
            self.budget.spend(1)
        except (TemporaryError, VenueError) as exc:
            logger.warning("dead-man switch not re-armed: {}", exc)
            return
        if reply.get("status") == "ok":
            self.dead_man_ms = when
        else:
            logger.warning("dead-man switch refused: {}", reply.get("response"))

    # ------------------------------------------------------------------ clocks
    def venue_now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def saw_venue_time(self, venue_ms: int) -> None:
        if venue_ms:
            self.clock_offset_ms = venue_ms - int(time.time() * 1000)

    # ------------------------------------------------------------------ commands
    async def on_command(self, d: Delivery) -> None:
        cmd = d.message
        if not cmd.origin:
            await self.refuse(d, "the command names no origin (an approved intent or risk's "
                                 "flatten); only risk's commands reach the venue")
            return
        if cmd.account != self.account:
            await self.refuse(d, f"the command is for the {cmd.account} account; this is "
                                 f"execution_{self.account}")
            return
        await self.wait_ready()
        if isinstance(cmd, SubmitOrder):
            await self.submit(cmd, redelivered=d.num_delivered > 1)
        else:
            await self.cancel(cmd)

    async def wait_ready(self) -> None:
        """Commands wait (unacked, safe on the stream) while we are not ready to send."""
        assert self.ctx is not None
        while not self.ready.is_set():
            waiter = asyncio.ensure_future(self.ready.wait())
            stop = asyncio.ensure_future(self.ctx.stopping.wait())
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stop.cancel()
            if self.ctx.stopping.is_set():
                raise asyncio.CancelledError("stopping")

    async def refuse(self, d: Delivery, reason: str) -> None:
        """Dead-letter a command we will not execute, with the reason; it is then acked."""
        assert self.ctx is not None
        bus = self.ctx.bus
        now = time.time_ns()
        bus.metrics.dead_letter(subjects.family(d.subject))
        logger.warning("refused {} on {}: {}", type(d.message).__name__, d.subject, reason)
        letter = DeadLetter(ts_event=now, ts_init=now, agent=self.name, subject=d.subject,
                            reason=reason, payload=encode(d.message), headers=dict(d.headers))
        await bus.publish_durable(subjects.sys_deadletter(self.name), letter,
                                  msg_id=f"refused:{self.name}:{d.stream_seq}")

    def build(self, cmd: SubmitOrder, mid: Decimal | None = None) -> TrackedOrder:
        """The order as the venue will see it: rounded the safe way (rounding.py). A market
        order is an IOC limit `slippage_bps` through the current `mid` (the intent's reference
        price when no mid is known), never beyond the intent's own limit."""
        assert self.cfg is not None
        if cmd.coin not in self.assets:
            raise UnroundableOrder(f"coin {cmd.coin!r} is not listed at the venue")
        dec = self.sz_decimals[cmd.coin]
        is_buy = cmd.side == "buy"
        size = round_size(cmd.size, dec)
        tif = cmd.time_in_force
        trigger = None
        if cmd.kind == "trigger":
            if cmd.trigger_price is None:
                raise UnroundableOrder("a trigger order needs trigger_price")
            trigger = trigger_price(not is_buy, cmd.trigger_price, dec)
            px = stop_limit(is_buy, trigger, dec)
        elif cmd.kind == "limit":
            if cmd.limit_price is None:
                raise UnroundableOrder("a limit order needs limit_price")
            px = limit_price(is_buy, cmd.limit_price, dec)
        else:
            reference = mid or cmd.reference_price or cmd.limit_price
            if reference is None:
                raise UnroundableOrder(f"no reference price for a market order in {cmd.coin}")
            slip = cmd.max_slippage_bps or self.cfg.slippage_bps
            px = market_price(is_buy, reference, slip, dec)
            if cmd.limit_price is not None:  # never beyond the intent's own limit
                cap = limit_price(is_buy, cmd.limit_price, dec)
                px = min(px, cap) if is_buy else max(px, cap)
            tif = "Ioc"
        post_only_until = 0
        ioc_px = None
        if cmd.post_only_s > 0 and cmd.kind != "trigger":
            # rest on our side of the book first: a market order at its reference price, a
            # limit at its limit; the IOC that follows crosses at what the order had as a cap
            ioc_px = px
            if cmd.kind == "market":
                px = limit_price(is_buy, reference, dec)
            tif = "Alo"
            post_only_until = self.venue_now_ms() + int(cmd.post_only_s * 1000)
        return TrackedOrder(
            cloid=cmd.cloid.lower(), command_id=cmd.command_id, correlation_id=cmd.correlation_id,
            coin=cmd.coin, side=cmd.side, size=size, kind=cmd.kind, tif=tif, limit_px=px,
            reduce_only=cmd.reduce_only, trigger_px=trigger, tpsl=cmd.tpsl,
            intent_id=cmd.intent_id, strategy_id=cmd.strategy_id, origin=cmd.origin,  # type: ignore[arg-type]
            post_only_until_ms=post_only_until, reference_px=cmd.reference_price, ioc_px=ioc_px)

    async def submit(self, cmd: SubmitOrder, *, redelivered: bool = False) -> None:
        cloid = cmd.cloid.lower()
        known = self.orders.get(cloid)
        if known is not None:
            if known.status == "submitted" and not known.acked and cloid not in self.in_flight:
                # sent by an earlier run that did not hear back: ask, never send blindly
                self.in_flight.add(cloid)
                try:
                    await self.resolve_unacked(known, resend=True)
                finally:
                    self.in_flight.discard(cloid)
            return  # a redelivered or repeated command: the order exists already
        try:
            mid = None
            if cmd.kind == "market":
                try:
                    mid = await self.reconciler.fresh_mid(cmd.coin)
                except (TemporaryError, VenueError) as exc:
                    logger.warning("no fresh mid for {} ({}); pricing from the intent's "
                                   "reference", cmd.coin, exc)
            order = self.build(cmd, mid)
        except UnroundableOrder as exc:
            await self.reject_unsent(cmd, str(exc))
            return
        if redelivered and not await self.never_sent(order):
            return
        await self.send(order, first=True)

    async def never_sent(self, order: TrackedOrder) -> bool:
        """A redelivered command this run does not know: an earlier run may have sent it and
        died before its journal said so, or this run's journal may be short. The venue is asked
        by cloid first: an order it has is adopted, never sent again. When the venue does not
        answer, the order is kept as sent and unacknowledged, and the watchdog asks for it like
        any order it heard nothing of (sent again only once the venue says it never had it):
        nothing is sent blindly."""
        self.track(order)  # what the venue says of it lands on this order
        outcome = await self.lookup(order)
        if outcome is UNREACHABLE:
            # whatever an earlier run sent can no longer be accepted (its expiresAfter passed
            # before the command came back): the watchdog's rule applies from now
            order.sent_ms = order.created_ms = order.expires_ms = self.venue_now_ms()
            await self.save(order)
            logger.warning("{}: redelivered, and the venue did not say whether it has it; "
                           "asking again, not sending", order.cloid)
            return False
        if outcome is not None:
            logger.warning("{} was at the venue already ({}): adopted, not sent again",
                           order.cloid, outcome)
            return False
        return True

    async def reject_unsent(self, cmd: SubmitOrder, text: str) -> None:
        now = self.ctx.now_ns()
        order = TrackedOrder(cloid=cmd.cloid.lower(), command_id=cmd.command_id,
                             correlation_id=cmd.correlation_id, coin=cmd.coin, side=cmd.side,
                             size=cmd.size, strategy_id=cmd.strategy_id, intent_id=cmd.intent_id,
                             status="rejected", reason=text)
        self.track(order)
        await self.save(order)
        logger.warning("{} not sent: {}", order.cloid, text)
        await self.emit("rejected", order, OrderRejected(
            ts_event=now, ts_init=now, correlation_id=order.correlation_id,
            command_id=order.command_id, coin=order.coin, cloid=order.cloid, reason=text,
            strategy_id=order.strategy_id, account=self.account))

    async def _periodic(self) -> None:
        assert self.reconciler is not None and self.cfg is not None and self.ctx is not None
        while not self.ctx.stopping.is_set():
            await self.reconciler.wait(self.cfg.reconcile_interval_s)
            if self.ctx.stopping.is_set():  # no round after the stop (the session closes)
                return
            try:
                await self.reconciler.run(start=False)
            except (TemporaryError, VenueError) as exc:
                logger.warning("{} reconciliation failed: {}", self.name, exc)
            except Exception as exc:  # the broker briefly away: the next round retries
                self.ctx.bus.metrics.error("reconcile")
                log_failure(exc, "{} reconciliation failed", self.name)
            self.refresh_state()
            self.forget_old()

    def forget_old(self, keep_ms: int = 86_400_000) -> None:
        """Orders that ended more than a day ago leave memory (KV keeps them for its TTL, for
        `organism orders`): an order that ended gets no more fills to attribute."""
        cutoff = self.venue_now_ms() - keep_ms
        for cloid in [c for c, o in self.orders.items() if o.done and o.sent_ms < cutoff]:
            order = self.orders.pop(cloid)
            self.by_oid.pop(order.oid, None)
