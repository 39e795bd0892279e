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
  (KV `fill.{tid}_{time}`), attributed to their strategy by cloid; every reconnect is followed by
  a REST resync, since Hyperliquid replays nothing.
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
from agents.execution.guards import ActionBudget, VpnGuard
from agents.execution.orders import (
    TrackedOrder,
    acknowledges,
    after_reply,
    apply_fill,
    filled_total,
    from_venue_status,
)
from agents.execution.reconcile import VenueFill, parse_fill
from agents.execution.reconciler import Reconciler
from agents.execution.rounding import UnroundableOrder, limit_price, market_price, round_size, trigger_price
from agents.execution.venue_client import (
    MAINNET_URL,
    Signer,
    TemporaryError,
    VenueClient,
    VenueError,
    cancel_by_cloid_action,
    order_action,
    order_wire,
)
from bus import subjects
from bus.codec import encode
from bus.connection import Delivery
from bus.jetstream import exec_bucket
from bus.runtime import Agent, AgentContext
from marketdata.hyperliquid import FeedClient, ws_url
from schemas import (
    CancelOrder,
    DeadLetter,
    ExecutionStatus,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    ReconciliationEvent,
    SubmitOrder,
)
from schemas.orders import cloid_for

ZERO = Decimal(0)
Command = SubmitOrder | CancelOrder
UNREACHABLE = object()  # the venue did not answer a lookup: an order's fate is not known yet


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


class ExecutionAgent(Agent):
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
        """Orders, fills seen and positions from KV (what survived the last run)."""
        try:
            keys = await self.kv.keys()
        except Exception:  # an empty bucket answers NoKeysError
            keys = []
        for key in keys:
            if key.startswith("fill."):
                self.seen_fills.add(key[5:])
            elif key.startswith("order."):
                entry = await self.kv.get(key)
                order = msgspec.json.decode(entry.value, type=TrackedOrder)
                self.track(order)
        assert self.reconciler is not None
        await self.reconciler.load(keys)

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
            except (TemporaryError, VenueError) as exc:
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
            await self.submit(cmd)
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

    def build(self, cmd: SubmitOrder) -> TrackedOrder:
        """The order as the venue will see it: rounded the safe way (rounding.py)."""
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
            reference = cmd.reference_price or cmd.limit_price or self.reconciler.mid(cmd.coin)
            if reference is None:
                raise UnroundableOrder(f"no reference price for a market order in {cmd.coin}")
            slip = cmd.max_slippage_bps or self.cfg.slippage_bps
            px = market_price(is_buy, reference, slip, dec)
            if cmd.limit_price is not None:  # never beyond the intent's own limit
                cap = limit_price(is_buy, cmd.limit_price, dec)
                px = min(px, cap) if is_buy else max(px, cap)
            tif = "Ioc"
        post_only_until = 0
        if cmd.post_only_s > 0 and cmd.kind != "trigger":
            tif = "Alo"
            post_only_until = self.venue_now_ms() + int(cmd.post_only_s * 1000)
        return TrackedOrder(
            cloid=cmd.cloid.lower(), command_id=cmd.command_id, correlation_id=cmd.correlation_id,
            coin=cmd.coin, side=cmd.side, size=size, kind=cmd.kind, tif=tif, limit_px=px,
            reduce_only=cmd.reduce_only, trigger_px=trigger, tpsl=cmd.tpsl,
            intent_id=cmd.intent_id, strategy_id=cmd.strategy_id, origin=cmd.origin,  # type: ignore[arg-type]
            post_only_until_ms=post_only_until, reference_px=cmd.reference_price)

    async def submit(self, cmd: SubmitOrder) -> None:
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
            order = self.build(cmd)
        except UnroundableOrder as exc:
            await self.reject_unsent(cmd, str(exc))
            return
        await self.send(order, first=True)

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

    async def send(self, order: TrackedOrder, *, first: bool) -> None:
        """Place `order` at the venue, exactly once (module docstring)."""
        assert self.client is not None and self.cfg is not None
        cfg = self.cfg
        wire = order_wire(self.assets[order.coin], order.is_buy, order.limit_px, order.size,
                          order.reduce_only, order.cloid, tif=order.tif,
                          trigger_px=order.trigger_px, tpsl=order.tpsl)
        action = order_action([wire])
        self.in_flight.add(order.cloid)
        last = ""
        try:
            delay = cfg.backoff_initial_s
            for attempt in range(cfg.retries + 1):
                await self.guard_send()
                order.sent_ms = self.venue_now_ms()
                order.created_ms = order.created_ms or order.sent_ms
                order.expires_ms = order.sent_ms + int(cfg.request_timeout_s * 1000) + 1000
                self.track(order)
                await self.save(order)  # before the wire leaves: a restart asks, never resends
                if first and attempt == 0:
                    # stored while the order travels; OrderAccepted waits for it (acked)
                    self.submitted[order.cloid] = asyncio.ensure_future(self.emit_submitted(order))
                try:
                    reply = await self.client.exchange(action, order.expires_ms)
                except TemporaryError as exc:
                    last = str(exc)
                    logger.warning("{} send attempt {}: {}", order.cloid, attempt + 1, exc)
                    if exc.processed_maybe:
                        outcome = await self.lookup(order)
                        if outcome is UNREACHABLE:
                            return  # unknown fate: the watchdog keeps asking, never resends
                        if outcome is not None:
                            return  # the venue has it: adopted
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, cfg.backoff_max_s)
                    continue
                except VenueError as exc:
                    await self.end(order, "rejected", "rejected", str(exc))
                    return
                self.budget.spend(1)
                if reply.get("status") != "ok":
                    text = str(reply.get("response"))
                    if text.startswith("Action expired") and attempt < cfg.retries:
                        await self.reconciler.read_clock()  # our idea of the venue's clock was off
                        continue
                    await self.end(order, "rejected", "rejected", text)
                    return
                entry = reply["response"]["data"]["statuses"][0]
                await self.on_reply(order, entry)
                return
            # every attempt provably failed (refused before processing, or unknown after expiry)
            await self.end(order, "rejected", "rejected",
                           f"not placed after {cfg.retries + 1} attempts: {last}", retryable=True)
        finally:
            self.in_flight.discard(order.cloid)

    async def guard_send(self) -> None:
        """Nothing leaves while the VPN check fails: wait for it (the command stays unacked)."""
        assert self.vpn is not None and self.ctx is not None
        while not self.vpn.ok:
            self.refresh_state()
            await asyncio.sleep(1.0)
            await self.vpn.check()
            if self.ctx.stopping.is_set():
                raise asyncio.CancelledError("stopping")

    async def lookup(self, order: TrackedOrder) -> str | None | object:
        """Ask the venue by cloid about an order we sent without hearing back, once its action
        can no longer be accepted (expiresAfter passed): the status word when the venue has it
        (adopted here), None when it never will, UNREACHABLE when the venue did not answer."""
        assert self.reconciler is not None
        wait_ms = order.expires_ms - self.venue_now_ms() + 250
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        try:
            status = await self.reconciler.order_status(order.cloid)
        except (TemporaryError, VenueError) as exc:
            logger.warning("{}: orderStatus by cloid failed ({}); asking again later",
                           order.cloid, exc)
            return UNREACHABLE
        if status is not None:
            await self.on_status(order, status)
        return status

    async def resolve_unacked(self, order: TrackedOrder, *, resend: bool) -> bool:
        """True when the order's fate is settled (adopted from the venue, or sent again with
        `resend` because the venue provably never had it)."""
        outcome = await self.lookup(order)
        if outcome is UNREACHABLE:
            return False
        if outcome is not None:
            return True
        if resend:
            logger.info("{} never reached the venue; sending it again", order.cloid)
            await self.send(order, first=False)
            return True
        return False

    async def on_reply(self, order: TrackedOrder, entry: object) -> None:
        status, end, text = after_reply(order, entry)
        self.track(order)
        if end == "rejected":
            await self.end(order, "rejected", "rejected", text)
            return
        if isinstance(entry, dict) and ("resting" in entry or "filled" in entry) or entry in (
                "waitingForTrigger", "waitingForFill"):
            await self.acked(order)
        if end == "expired":
            await self.end(order, "expired", "expired", text, filled=filled_total(entry))
            self.reconciler.expect_fills(order, filled_total(entry))
            return
        if status != order.status:
            order.status = status
            await self.save(order)
        if filled_total(entry) > 0:
            self.reconciler.expect_fills(order, filled_total(entry))
        if order.post_only_until_ms and order.status in ("accepted", "partially_filled"):
            self.ctx.spawn(self.post_only_timeout(order), f"post-only:{order.cloid[:10]}")

    async def on_status(self, order: TrackedOrder, status: str) -> None:
        """A venue status word for one of our orders (orderUpdates push or orderStatus reply)."""
        new, end = from_venue_status(order, status)
        if acknowledges(status):
            await self.acked(order)
        if end is not None:
            detail = status
            if status == "scheduledCancel":
                await self.reconciler.dead_man_fired(order)
            await self.end(order, new, end, detail)
        elif new != order.status:
            order.status = new
            await self.save(order)

    async def acked(self, order: TrackedOrder) -> None:
        if order.acked:
            return
        order.acked = True
        if order.status == "submitted":
            order.status = "accepted"
        await self.after_submitted(order)
        now = self.ctx.now_ns()
        save = asyncio.ensure_future(self.save(order))
        await self.emit("accepted", order, OrderAccepted(
            ts_event=now, ts_init=now, correlation_id=order.correlation_id,
            command_id=order.command_id, coin=order.coin, cloid=order.cloid,
            venue_order_id=order.oid, strategy_id=order.strategy_id, account=self.account))
        await save

    async def end(self, order: TrackedOrder, status: str, kind: str, text: str,
                  filled: Decimal | None = None, retryable: bool = False) -> None:
        """The order is over: canceled, expired or rejected (a fill's end is the fill)."""
        if order.done and order.status == status:
            return
        order.status = status  # type: ignore[assignment]
        order.reason = text
        await self.after_submitted(order)
        await self.save(order)
        now = self.ctx.now_ns()
        common = dict(ts_event=now, ts_init=now, correlation_id=order.correlation_id,
                      coin=order.coin, cloid=order.cloid, strategy_id=order.strategy_id,
                      account=self.account)
        done = order.filled if filled is None else max(filled, order.filled)
        if kind == "rejected":
            message = OrderRejected(command_id=order.command_id, reason=text,
                                    retryable=retryable, **common)
            logger.warning("{} {} rejected: {}", order.coin, order.cloid, text)
        elif kind == "expired":
            message = OrderExpired(command_id=order.command_id, reason=text, filled=done, **common)
        else:
            message = OrderCanceled(command_id=order.command_id, venue_order_id=order.oid,
                                    reason=text, filled=done, **common)
        await self.emit(kind, order, message)
        if (kind == "rejected" and order.tif == "Alo" and order.post_only_until_ms
                and text.startswith("Post only order would have immediately matched")):
            order.next_cloid = cloid_for(order.cloid + ":ioc")  # it would cross: cross now
            await self.save(order)
        if order.next_cloid and order.remaining > 0 and kind in ("canceled", "expired", "rejected"):
            await self.cross_rest(order)

    async def after_submitted(self, order: TrackedOrder) -> None:
        """OrderSubmitted is stored before anything later about the order is published."""
        pending = self.submitted.pop(order.cloid, None)
        if pending is not None:
            await pending

    async def emit_submitted(self, order: TrackedOrder) -> None:
        now = self.ctx.now_ns()
        await self.emit("submitted", order, OrderSubmitted(
            ts_event=now, ts_init=now, correlation_id=order.correlation_id,
            command_id=order.command_id, coin=order.coin, cloid=order.cloid,
            strategy_id=order.strategy_id, account=self.account, intent_id=order.intent_id,
            side=order.side, size=order.size, limit_price=order.limit_px))

    async def emit(self, kind: str, order: TrackedOrder, message) -> None:
        await self.ctx.bus.publish_durable(
            subjects.exec_event(self.account, kind, order.coin), message,
            msg_id=f"{kind}:{self.account}:{order.cloid}")

    async def save(self, order: TrackedOrder) -> None:
        await self.kv.put(f"order.{order.cloid}", msgspec.json.encode(order))

    # ------------------------------------------------------------------ post-only, then IOC
    async def post_only_timeout(self, order: TrackedOrder) -> None:
        """A post-only leg rests until its time; then it is taken down and what is left crosses
        with an IOC (its own cloid, derived from the first)."""
        wait_ms = order.post_only_until_ms - self.venue_now_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        if order.done:
            return
        order.next_cloid = cloid_for(order.cloid + ":ioc")
        await self.save(order)
        await self.cancel_cloid(order)

    async def cross_rest(self, leg: TrackedOrder) -> None:
        if leg.next_cloid in self.orders:
            return
        assert self.reconciler is not None and self.cfg is not None
        dec = self.sz_decimals[leg.coin]
        reference = self.reconciler.mid(leg.coin) or leg.limit_px
        px = market_price(leg.is_buy, reference, self.cfg.slippage_bps, dec)
        try:
            size = round_size(leg.remaining, dec)
        except UnroundableOrder:
            return
        ioc = TrackedOrder(
            cloid=leg.next_cloid, command_id=leg.command_id, correlation_id=leg.correlation_id,
            coin=leg.coin, side=leg.side, size=size, kind="market", tif="Ioc", limit_px=px,
            reduce_only=leg.reduce_only, intent_id=leg.intent_id, strategy_id=leg.strategy_id,
            origin=leg.origin, reference_px=leg.reference_px, ioc_leg=True)
        await self.send(ioc, first=True)

    # ------------------------------------------------------------------ cancels
    async def cancel(self, cmd: CancelOrder) -> None:
        order = self.orders.get(cmd.cloid.lower())
        if order is None or order.done:
            logger.info("cancel of {}: nothing open ({})", cmd.cloid,
                        "unknown" if order is None else order.status)
            return
        await self.cancel_cloid(order)

    async def cancel_cloid(self, order: TrackedOrder) -> bool:
        """cancelByCloid with retries; True when the venue took it down (or it was gone)."""
        assert self.client is not None and self.cfg is not None
        delay = self.cfg.backoff_initial_s
        for _ in range(self.cfg.retries + 1):
            await self.guard_send()
            try:
                reply = await self.client.exchange(
                    cancel_by_cloid_action(self.assets[order.coin], order.cloid))
            except TemporaryError as exc:
                logger.warning("cancel {}: {}", order.cloid, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.cfg.backoff_max_s)
                continue
            except VenueError as exc:
                logger.warning("cancel {} refused: {}", order.cloid, exc)
                return False
            self.budget.spend(1)
            if reply.get("status") != "ok":
                logger.warning("cancel {} refused: {}", order.cloid, reply.get("response"))
                return False
            entry = reply["response"]["data"]["statuses"][0]
            if entry == "success":
                await self.on_status(order, "canceled")
                return True
            # already gone (filled or canceled): ask what became of it
            status = await self.reconciler.order_status(order.cloid)
            if status is not None:
                await self.on_status(order, status)
            return True
        return False

    # ------------------------------------------------------------------ fills and pushes
    async def on_fill(self, raw: dict, *, live: bool) -> None:
        """One venue fill, from the websocket (`live`) or REST: published once, attributed by
        cloid; fills of orders we did not send (by hand, triggers, liquidations) are
        reconciliation events too."""
        fill = parse_fill(raw)
        if fill.key in self.seen_fills:
            return
        self.seen_fills.add(fill.key)
        try:
            await self._publish_fill(fill, live)
        except Exception:
            self.seen_fills.discard(fill.key)  # the next resync tries again
            raise

    async def _publish_fill(self, fill: VenueFill, live: bool) -> None:
        assert self.reconciler is not None
        cloid = fill.cloid or self.by_oid.get(fill.oid, "")
        order = self.orders.get(cloid) if cloid else None
        ours = order is not None and order.origin != "protective"
        if order is not None:
            if not order.oid:
                order.oid = fill.oid
                self.by_oid[fill.oid] = order.cloid
            await self.acked(order)
            apply_fill(order, fill.sz)
            await self.save(order)
        source = "liquidation" if fill.liquidation else ("live" if ours and live else "reconciled")
        now = self.ctx.now_ns()
        message = OrderFilled(
            ts_event=fill.time_ms * 1_000_000, ts_init=now,
            correlation_id=order.correlation_id if order else f"venue-{fill.oid}",
            command_id=order.command_id if order else "", coin=fill.coin,
            cloid=cloid or "0x" + "0" * 32, venue_order_id=fill.oid, fill_id=str(fill.tid),
            side="buy" if fill.is_buy else "sell", price=fill.px, size=fill.sz, fee=fill.fee,
            liquidity="taker" if fill.crossed else "maker", closed_pnl=fill.closed_pnl,
            strategy_id=order.strategy_id if ours else "", account=self.account,
            remaining=order.remaining if order else ZERO, time_ms=fill.time_ms,
            source=source)  # type: ignore[arg-type]
        await self.ctx.bus.publish_durable(
            subjects.exec_event(self.account, "filled", fill.coin), message,
            msg_id=f"fill:{self.account}:{fill.key}")
        await self.kv.put(f"fill.{fill.key}", str(fill.time_ms).encode())
        if fill.liquidation:
            await self.reconciliation("liquidation", fill.coin, cloid=cloid, oid=fill.oid,
                                      size=fill.signed, key=fill.key,
                                      detail=f"liquidated {fill.sz} at {fill.px}")
        elif not ours:
            what = ("protective stop triggered" if order is not None else
                    "a fill of an order we did not send (placed by hand or at the venue)")
            await self.reconciliation("missed_fill", fill.coin, cloid=cloid, oid=fill.oid,
                                      size=fill.signed, key=fill.key,
                                      detail=f"{what}: {fill.sz} at {fill.px}")
        elif not live:
            await self.reconciliation("missed_fill", fill.coin, cloid=cloid, oid=fill.oid,
                                      size=fill.signed, key=fill.key,
                                      detail=f"found by REST, not heard live: {fill.sz} at {fill.px}")
        self.reconciler.fill_seen(fill)

    async def reconciliation(self, kind: str, coin: str, *, key: str, detail: str,
                             cloid: str = "", oid: int = 0, size: Decimal | None = None) -> None:
        now = self.ctx.now_ns()
        event = ReconciliationEvent(
            ts_event=now, ts_init=now, correlation_id=f"reconcile-{self.account}-{key}",
            account=self.account, coin=coin, kind=kind, detail=detail,  # type: ignore[arg-type]
            cloid=cloid, venue_order_id=oid, size=size)
        logger.warning("{} reconciliation {} {}: {}", self.name, kind, coin, detail)
        await self.ctx.bus.publish_durable(
            subjects.exec_event(self.account, "reconciled", coin), event,
            msg_id=f"rec:{self.account}:{kind}:{key}")

    async def on_push(self, channel: str, data: Any) -> None:
        if channel == "userFills":
            if isinstance(data, dict):
                live = not data.get("isSnapshot")
                for raw in data.get("fills", []):
                    await self.on_fill(raw, live=live)
        elif channel == "orderUpdates":
            for update in data or []:
                order_data = update.get("order", {})
                cloid = str(order_data.get("cloid") or "").lower()
                order = self.orders.get(cloid) or self.orders.get(
                    self.by_oid.get(int(order_data.get("oid", 0)), ""))
                if order is None:
                    continue  # not ours: reconciliation reports it
                if not order.oid and order_data.get("oid"):
                    order.oid = int(order_data["oid"])
                    self.by_oid[order.oid] = order.cloid
                await self.on_status(order, str(update.get("status", "")))
        elif channel == "user" and isinstance(data, dict):
            if "liquidation" in data or "nonUserCancel" in data:
                self.reconciler.soon()

    async def _feed(self) -> None:
        assert self.client is not None and self.ctx is not None
        subs = [{"type": t, "user": self.address} for t in ("orderUpdates", "userFills", "userEvents")]

        async def on_connected(reconnect: bool) -> None:
            self.feed_live = True
            if reconnect:  # Hyperliquid replays nothing: what was missed comes by REST
                self.reconciler.soon()

        async def on_state(state: str, detail: str) -> None:
            self.feed_live = state == "live"
            if state != "live" and not self.ctx.stopping.is_set():
                logger.warning("{} feed {}: {}", self.name, state, detail)

        feed = FeedClient(ws_url(self.client.base_url), subs, self.on_push, on_state,
                          on_connected, backoff_max_s=self.cfg.backoff_max_s)
        await feed.run(self.ctx.stopping)

    async def _periodic(self) -> None:
        assert self.reconciler is not None and self.cfg is not None
        while True:
            await self.reconciler.wait(self.cfg.reconcile_interval_s)
            try:
                await self.reconciler.run(start=False)
            except (TemporaryError, VenueError) as exc:
                logger.warning("{} reconciliation failed: {}", self.name, exc)
            self.refresh_state()


def stop_limit(is_buy: bool, trigger: Decimal, sz_decimals: int) -> Decimal:
    """The limit of a stop-market trigger: 10 % beyond its trigger (the slippage it may take),
    rounded outward."""
    from venue.rules import round_price

    raw = trigger * (Decimal("1.1") if is_buy else Decimal("0.9"))
    return round_price(raw, sz_decimals, up=is_buy)
