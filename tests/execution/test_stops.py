"""Protective stops: a reduce-only stop per coin's position rests at the venue, so a position
stays protected while the organism is down. The venue's dead-man switch cancels every open
order, stops included (as Hyperliquid's does): it is off by default, and when it is on and fires,
execution reports it and puts the stops back."""

from __future__ import annotations

from decimal import Decimal

from schemas import OrderFilled, PositionReport, ReconciliationEvent
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit


def venue_stops(sim, address: str) -> list:
    return sim.call(lambda ex: [o for o in ex.open_by_user.get(address, {}).values()
                                if o.trigger_px is not None])


async def test_a_stop_protects_the_position_while_execution_is_down(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    config = make_config(data_dir, sim)
    running = await start_agent(config, nats_server.url)
    address = running.agent.address
    await send(bus, submit("i-long", size="0.5"))
    await eventually(lambda: venue_stops(sim, address), what="a protective stop")
    stop = venue_stops(sim, address)[0]
    entry = sim.call(lambda ex: ex.account(address).positions["ETH"].entry_px)
    assert not stop.is_buy and stop.reduce_only and stop.sz == Decimal("0.5")
    assert entry * Decimal("0.85") <= stop.trigger_px < entry * Decimal("0.85") + 1
    assert await running.stop() == 0

    assert len(venue_stops(sim, address)) == 1  # still there with execution gone
    sim.jump("ETH", "2400")  # the crash: the stop fires while nobody watches
    assert sim.call(lambda ex: ex.account(address).szi("ETH")) == 0

    running = await start_agent(config, nats_server.url)
    try:
        fills = await eventually(lambda: [f for f in rec.of(OrderFilled)
                                          if f.source == "reconciled" and f.side == "sell"])
        assert fills[0].size == Decimal("0.5")
        await eventually(lambda: any("protective stop" in e.detail for e in
                                     rec.of(ReconciliationEvent, kind="missed_fill")))
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH") if p.size == 0])
        assert not venue_stops(sim, address)
        running.agent.reconciler.soon()
        runs = running.agent.reconciler.runs
        await eventually(lambda: running.agent.reconciler.runs > runs)
        # the entry's fill, found again in the venue's history at the restart, is not republished
        assert len(rec.of(OrderFilled, correlation_id="i-long")) == 1
    finally:
        await running.stop()


async def test_the_stop_follows_the_position(nats_server, bus, sim, data_dir):
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    address = running.agent.address
    try:
        await send(bus, submit("i-a", size="0.2"))
        await eventually(lambda: [s for s in venue_stops(sim, address) if s.sz == Decimal("0.2")])
        await send(bus, submit("i-b", size="0.3"))
        await eventually(lambda: [s.sz for s in venue_stops(sim, address)] == [Decimal("0.5")],
                         what="one stop for the whole 0.5")
        await send(bus, submit("i-c", side="sell", size="0.5", reduce_only=True))
        await eventually(lambda: not venue_stops(sim, address), what="no stop when flat")
    finally:
        await running.stop()


async def test_the_dead_man_switch_takes_the_stops_and_execution_puts_them_back(
        nats_server, bus, sim, data_dir):
    rec = await record(bus)
    config = make_config(data_dir, sim, dead_man_s=6.0)
    running = await start_agent(config, nats_server.url)
    address = running.agent.address
    await send(bus, submit("i-dm", size="0.1"))
    await eventually(lambda: venue_stops(sim, address), what="a protective stop")
    await eventually(lambda: sim.call(lambda ex: ex.schedule.get(address)), what="armed")
    assert await running.stop() == 0

    sim.advance(7_000)  # the organism stayed away: the switch fires
    assert not venue_stops(sim, address)  # it took the stop too
    assert sim.call(lambda ex: ex.account(address).szi("ETH")) == Decimal("0.1")  # naked

    running = await start_agent(config, nats_server.url)
    try:
        await eventually(lambda: rec.of(ReconciliationEvent, kind="dead_man_fired"))
        await eventually(lambda: venue_stops(sim, address), what="the stop put back")
    finally:
        await running.stop()
