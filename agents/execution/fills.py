"""Fills and the venue's pushes for the execution agent (a mixin of ExecutionAgent): each fill
published once (de-duplicated on the venue's trade id and time, across restarts: kept in its
order's journal entry, or in KV `fill.{tid}_{time}` for an order not ours), attributed to its
strategy by cloid; fills of orders we did not send (by hand, our protective stops firing,
liquidations) become reconciliation events too. The websocket reconnects by itself
(marketdata.hyperliquid.FeedClient) and every reconnect asks for a REST resync, since
Hyperliquid replays nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loguru import logger

from agents.execution.orders import apply_fill
from agents.execution.reconcile import VenueFill, parse_fill
from bus import subjects
from bus.log import log_failure
from marketdata.hyperliquid import FeedClient, ws_url
from schemas import OrderFilled, ReconciliationEvent

ZERO = Decimal(0)


class Fills:
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
            if fill.key not in order.fill_keys:  # applied once, also when published again
                apply_fill(order, fill.sz)
                order.fill_keys.append(fill.key)
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
        # seen from now on, after a restart too: in the order's journal entry (one write for
        # the fill and the order), or under `fill.{key}` for an order not ours. Written after
        # the publish: a crash between the two publishes the fill again (same Nats-Msg-Id),
        # never loses it
        if order is not None:
            await self.save(order)
        else:
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
        """One websocket push. A failure here (the broker briefly unreachable, say) must not
        end the feed: it is logged and counted, and the next REST resync publishes what was
        missed (fills are de-duplicated, so nothing is published twice)."""
        try:
            await self._on_push(channel, data)
        except Exception as exc:
            self.ctx.bus.metrics.error("push")
            log_failure(exc, "{}: a push on {} was not handled; resyncing over REST", self.name,
                        channel)
            self.reconciler.soon()

    async def _on_push(self, channel: str, data: Any) -> None:
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
        elif channel == "allMids" and isinstance(data, dict):
            self.reconciler.saw_mids(data.get("mids") or {})
        elif channel == "user" and isinstance(data, dict):
            if "liquidation" in data or "nonUserCancel" in data:
                self.reconciler.soon()

    async def _feed(self) -> None:
        assert self.client is not None and self.ctx is not None
        subs = [{"type": t, "user": self.address} for t in ("orderUpdates", "userFills", "userEvents")]
        subs.append({"type": "allMids"})  # market orders are priced from the current mid

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
