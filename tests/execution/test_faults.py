"""Venue faults converge through retries and reconciliation to the venue's truth: 5xx, 429,
timeouts (a request the venue still processes late, and one it no longer may), rejections with
the venue's text verbatim, websocket drops, an IOC that finds no liquidity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas import OrderFilled, OrderRejected, OrderSubmitted, PositionReport
from schemas.orders import cloid_for
from tests.bus.helpers import eventually
from tests.execution.conftest import (
    make_config,
    orders_at_venue,
    record,
    send,
    start_agent,
    submit,
)


def venue_position(sim, address: str, coin: str) -> Decimal:
    return sim.call(lambda ex: ex.account(address).szi(coin))


async def filled_once(rec, sim, intent: str, size: str) -> None:
    fills = await eventually(lambda: rec.of(OrderFilled, correlation_id=intent), timeout=20,
                             what=f"the fill of {intent}")
    assert sum(f.size for f in fills) == Decimal(size)
    assert len({f.fill_id for f in fills}) == len(fills)
    assert orders_at_venue(sim, cloid_for(intent)) == 1


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_server_errors_and_rate_limits_are_retried_into_one_order(
        nats_server, bus, sim, data_dir, status):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        sim.fail_requests("/exchange", count=2, status=status)
        await send(bus, submit(f"i-{status}", size="0.02"))
        await filled_once(rec, sim, f"i-{status}", "0.02")
    finally:
        await running.stop()


async def test_a_timed_out_order_the_venue_processed_late_is_adopted_not_resent(
        nats_server, bus, sim, data_dir):
    # the client gives up after 1 s; the venue holds the request 1.5 s and then takes it (its
    # expiresAfter, 1 s + 1 s after sending, has not passed): asking by cloid finds it
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim, request_timeout_s=1.0), nats_server.url)
    try:
        sim.fail_requests("/exchange", count=1, status=0, delay_ms=1500)
        await send(bus, submit("i-late", size="0.03"))
        await filled_once(rec, sim, "i-late", "0.03")
    finally:
        await running.stop()


async def test_a_timed_out_order_the_venue_can_no_longer_take_is_sent_again_once(
        nats_server, bus, sim, data_dir):
    # held 2.5 s: past its expiresAfter, the venue refuses it; the agent finds nothing by cloid
    # and sends it again
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim, request_timeout_s=1.0), nats_server.url)
    try:
        sim.fail_requests("/exchange", count=1, status=0, delay_ms=2500)
        await send(bus, submit("i-expired", size="0.04"))
        await filled_once(rec, sim, "i-expired", "0.04")
    finally:
        await running.stop()


async def test_a_rejection_carries_the_venue_text_verbatim(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        sim.reject_orders(1, "Insufficient margin to place order.")
        await send(bus, submit("i-refused", size="0.02"))
        rejected = await eventually(lambda: rec.of(OrderRejected, correlation_id="i-refused"))
        assert rejected[0].reason == "Insufficient margin to place order. asset=1"
        assert not rec.of(OrderFilled, correlation_id="i-refused")
    finally:
        await running.stop()


async def test_an_ioc_that_finds_no_liquidity_is_rejected_and_nothing_changes(
        nats_server, bus, sim, data_dir):
    # a frozen market at 3000 and an IOC buy limited to 2000: nothing to cross
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        sim.freeze(True)
        await send(bus, submit("i-nothing", size="0.02", kind="limit", limit="2000", tif="Ioc"))
        rejected = await eventually(lambda: rec.of(OrderRejected, correlation_id="i-nothing"))
        assert rejected[0].reason.startswith("Order could not immediately match")
        assert venue_position(sim, running.agent.address, "ETH") == 0
    finally:
        await running.stop()


async def test_a_fill_while_the_websocket_is_down_is_published_once(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        await send(bus, submit("i-rest", size="0.02", kind="limit", limit="2900", reference=None))
        await eventually(lambda: orders_at_venue(sim, cloid_for("i-rest")) == 1)
        await eventually(lambda: running.agent.orders.get(cloid_for("i-rest"))
                         and running.agent.orders[cloid_for("i-rest")].acked)
        assert sim.drop_websockets() >= 1
        sim.jump("ETH", "2890")  # the resting buy fills, perhaps before the feed is back
        await filled_once(rec, sim, "i-rest", "0.02")
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.02")], what="the position")
        await eventually(lambda: running.agent.feed_live, what="the feed back")
        running.agent.reconciler.soon()  # a full reconciliation finds nothing more to publish
        await eventually(lambda: len(rec.of(OrderFilled, correlation_id="i-rest")) == 1)
    finally:
        await running.stop()


async def test_a_market_order_is_priced_from_the_current_mid_not_a_stale_reference(
        nats_server, bus, sim, data_dir):
    # the strategy decided at 3000; the market is at 3300 now: the IOC is priced from the mid
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        sim.jump("ETH", "3300")
        await send(bus, submit("i-moved", size="0.02", reference="3000"))
        await filled_once(rec, sim, "i-moved", "0.02")
        submitted = rec.of(OrderSubmitted, correlation_id="i-moved")[0]
        assert Decimal("3300") < submitted.limit_price <= Decimal("3300") * Decimal("1.0051")
    finally:
        await running.stop()


async def test_a_redelivered_command_the_venue_cannot_be_asked_about_waits_for_the_watchdog(
        nats_server, bus, sim, data_dir):
    """A command that comes back (an earlier run died holding it) while the venue does not
    answer the lookup by cloid: not sent blindly, kept as sent and unacknowledged; the watchdog
    asks again, hears the venue never had it and sends it, once."""
    from agents.execution.orders import TrackedOrder

    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim, request_timeout_s=1.0), nats_server.url)
    agent = running.agent
    try:
        cmd = submit("i-unasked", size="0.02")
        order = agent.build(cmd, Decimal("3000"))
        sim.fail_requests("/info", count=1, status=500)  # the lookup's answer
        assert not await agent.never_sent(order)
        assert orders_at_venue(sim, cmd.cloid) == 0, "nothing sent blindly"
        kept: TrackedOrder = agent.orders[cmd.cloid.lower()]
        assert kept.status == "submitted" and not kept.acked and kept.sent_ms
        await filled_once(rec, sim, "i-unasked", "0.02")  # the watchdog's resend
    finally:
        await running.stop()
