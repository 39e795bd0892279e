"""Placing and ending orders for the execution agent (a mixin of ExecutionAgent): exactly once,
rounded the safe way, retried through temporary errors, asked for by cloid after a timeout,
with the state machine's events (orders.py) published as the venue answers.

The rule that makes a retry safe: every order action carries an `expiresAfter` (sent + request
timeout + 1 s, on the venue's clock); after a timeout the venue is asked by cloid only once that
time has passed. If it has the order, the order is adopted; if it does not, it never will, and
sending again cannot double it. A venue that does not answer the lookup leaves the order
"submitted": the watchdog keeps asking and nothing is sent again.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import msgspec
from loguru import logger

from agents.execution.orders import (
    TrackedOrder,
    acknowledges,
    after_reply,
    filled_total,
    from_venue_status,
)
from agents.execution.rounding import UnroundableOrder, market_price, round_size
from agents.execution.venue_client import (
    TemporaryError,
    VenueError,
    cancel_by_cloid_action,
    order_action,
    order_wire,
)
from bus import subjects
from schemas import (
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderSubmitted,
)
from schemas.orders import cloid_for

UNREACHABLE = object()  # the venue did not answer a lookup: an order's fate is not known yet


class Placing:
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
            await self.acked(order, status if end is None else None)
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
            await self.acked(order, new if end is None else None)
        if end is not None:
            detail = status
            if status == "scheduledCancel":
                await self.reconciler.dead_man_fired(order)
            await self.end(order, new, end, detail)
        elif new != order.status:
            order.status = new
            await self.save(order)

    async def acked(self, order: TrackedOrder, status: str | None = None) -> None:
        """The venue showed it has the order: OrderAccepted, once. `status`, the order's
        status after the venue's word, goes into the same journal write."""
        if order.acked:
            return
        order.acked = True
        if status is not None:
            order.status = status  # type: ignore[assignment]
        elif order.status == "submitted":
            order.status = "accepted"
        await self.after_submitted(order)
        now = self.ctx.now_ns()
        # both at once, the event first (the broker handles them in this order); gather hears
        # both outcomes (a failed save is never left unretrieved)
        accepted = OrderAccepted(
            ts_event=now, ts_init=now, correlation_id=order.correlation_id,
            command_id=order.command_id, coin=order.coin, cloid=order.cloid,
            venue_order_id=order.oid, strategy_id=order.strategy_id, account=self.account)
        await asyncio.gather(self.emit("accepted", order, accepted), self.save(order))

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
        px = leg.ioc_px
        if px is None:  # an order stored before ioc_px existed
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
            elif order.acked and not order.done:
                # the venue had it and no longer knows it at all (a local exchange restarted)
                await self.reconciliation(
                    "order_closed", order.coin, cloid=order.cloid, oid=order.oid,
                    key=order.cloid, detail="the venue no longer knows this order")
                await self.end(order, "canceled", "canceled", "unknown at the venue")
            return True
        return False

def stop_limit(is_buy: bool, trigger: Decimal, sz_decimals: int) -> Decimal:
    """The limit of a stop-market trigger: 10 % beyond its trigger (the slippage it may take),
    rounded outward."""
    from venue.rules import round_price

    raw = trigger * (Decimal("1.1") if is_buy else Decimal("0.9"))
    return round_price(raw, sz_decimals, up=is_buy)
