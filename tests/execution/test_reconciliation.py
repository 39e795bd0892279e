"""What the venue does behind the agent's back becomes reconciliation events, never ghosts: an
order placed by hand (and its fill), a liquidation; the account report carries the venue's
ledger (deposits) so risk can exclude them from equity."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from eth_account import Account
from hyperliquid.exchange import Exchange as SdkExchange

from schemas import AccountReport, OrderFilled, PositionReport, ReconciliationEvent
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit
from venue.keys import local_key


def by_hand(sim, data_dir) -> SdkExchange:
    return SdkExchange(Account.from_key(local_key(data_dir, "paper")), sim.url, timeout=10)


async def test_orders_and_fills_by_hand_are_reported(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim, reconcile_interval_s=0.5),
                                nats_server.url)
    try:
        hand = await asyncio.to_thread(by_hand, sim, data_dir)
        reply = await asyncio.to_thread(hand.order, "ETH", True, 0.01, 2500.0,
                                        {"limit": {"tif": "Gtc"}})
        oid = reply["response"]["data"]["statuses"][0]["resting"]["oid"]
        event = await eventually(lambda: rec.of(ReconciliationEvent, kind="unknown_order"),
                                 what="the order placed by hand reported")
        assert event[0].venue_order_id == oid and event[0].coin == "ETH"
        await asyncio.to_thread(hand.market_open, "ETH", True, 0.01, None, 0.01)
        fills = await eventually(lambda: [f for f in rec.of(OrderFilled)
                                          if f.source == "reconciled"], what="its fill")
        assert fills[0].strategy_id == "" and fills[0].size == Decimal("0.01")
        await eventually(lambda: rec.of(ReconciliationEvent, kind="missed_fill"))
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.01")], what="the position")
        runs = running.agent.reconciler.runs  # two more reconciliations: reported once
        await eventually(lambda: running.agent.reconciler.runs >= runs + 2, what="two more runs")
        assert len(rec.of(ReconciliationEvent, kind="unknown_order")) == 1
    finally:
        await running.stop()


async def test_a_liquidation_is_a_fill_and_an_event(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    config = make_config(data_dir, sim, protective_stop_fraction="0")
    running = await start_agent(config, nats_server.url)
    try:
        await send(bus, submit("i-big", size="9"))
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("9")], what="9 ETH long")
        sim.jump("ETH", "1900")
        fills = await eventually(lambda: [f for f in rec.of(OrderFilled)
                                          if f.source == "liquidation"], what="the liquidation")
        assert fills[0].side == "sell" and fills[0].size == Decimal("9")
        await eventually(lambda: rec.of(ReconciliationEvent, kind="liquidation"))
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH") if p.size == 0],
                         what="flat after the liquidation")
    finally:
        await running.stop()


async def test_the_account_report_carries_deposits_from_the_ledger(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim, reconcile_interval_s=0.5),
                                nats_server.url)
    try:
        first = await eventually(lambda: rec.of(AccountReport))
        assert first[0].net_transfers == Decimal("10000") and first[0].equity == Decimal("10000")
        sim.fund(running.agent.address, "2500")
        later = await eventually(lambda: [a for a in rec.of(AccountReport)
                                          if a.net_transfers == Decimal("12500")])
        assert later[0].equity == Decimal("12500")
    finally:
        await running.stop()


async def test_a_local_exchange_that_restarted_empty_is_reported_not_papered_over(
        nats_server, bus, sim, data_dir):
    from venue.keys import local_address
    from venue.testing import SimThread, quiet_config

    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    await send(bus, submit("i-before", size="0.1"))
    await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                              if p.size == Decimal("0.1")], what="the position")
    await eventually(lambda: any(o.origin == "protective" and o.acked
                                 for o in running.agent.orders.values()), what="its stop")
    await running.stop()
    # the local exchange keeps its state in memory: a new one starts with fresh deposits
    addresses = [local_address(data_dir, a) for a in ("paper", "live")]
    with SimThread(quiet_config(*addresses)) as fresh:
        rec.messages.clear()
        running = await start_agent(make_config(data_dir, fresh), nats_server.url)
        try:
            gap = await eventually(lambda: rec.of(ReconciliationEvent, kind="position_mismatch"))
            assert gap[0].coin == "ETH" and gap[0].size == Decimal("-0.1")
            await eventually(lambda: rec.of(ReconciliationEvent, kind="order_closed"),
                             what="the stop the new venue never heard of")
            await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                      if p.size == 0])
            report = await eventually(lambda: rec.of(AccountReport))
            assert report[-1].net_transfers == Decimal("10000")
        finally:
            await running.stop()
