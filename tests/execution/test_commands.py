"""Commands: a repeated command is never a second order; commands without an origin or for the
other account are refused and dead-lettered; what cannot be rounded safely is rejected unsent."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from bus import subjects
from schemas import DeadLetter, OrderFilled, OrderRejected, OrderSubmitted
from schemas.orders import cloid_for
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, orders_at_venue, record, start_agent, submit


async def test_a_repeated_command_is_one_order(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        cmd = submit("i-twice", size="0.05")
        for n in range(3):  # stored three times (other msg ids): three deliveries
            await bus.publish_durable(subjects.exec_cmd("paper", "ETH"), cmd, msg_id=f"again-{n}")
        await eventually(lambda: rec.of(OrderFilled, correlation_id="i-twice"), what="the fill")
        await eventually(lambda: running.agent.ctx.bus.metrics.messages_in.get("exec.cmd", 0) >= 3,
                         what="all three deliveries handled")
        assert orders_at_venue(sim, cloid_for("i-twice")) == 1
        assert len(rec.of(OrderSubmitted, correlation_id="i-twice")) == 1
        assert sum(f.size for f in rec.of(OrderFilled, correlation_id="i-twice")) == Decimal("0.05")
    finally:
        await running.stop()


async def test_commands_without_origin_or_for_the_other_account_are_dead_lettered(
        nats_server, bus, sim, data_dir):
    letters: list[DeadLetter] = []

    async def on_letter(d):
        letters.append(d.message)

    await bus.subscribe(subjects.sys_deadletter("execution_paper"), on_letter,
                        message_type=DeadLetter)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        no_origin = submit("i-forged", origin="")
        await bus.publish_durable(subjects.exec_cmd("paper", "ETH"), no_origin, msg_id="forged")
        other = msgspec.structs.replace(submit("i-live"), account="live")
        await bus.publish_durable(subjects.exec_cmd("paper", "ETH"), other, msg_id="other")
        await eventually(lambda: len(letters) == 2, what="two dead letters")
        assert "no origin" in letters[0].reason and letters[0].subject == "exec.cmd.paper.ETH"
        assert "live account" in letters[1].reason
        assert orders_at_venue(sim, cloid_for("i-forged")) == 0
        assert orders_at_venue(sim, cloid_for("i-live")) == 0
    finally:
        await running.stop()


async def test_a_size_below_the_lot_is_rejected_unsent(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        await bus.publish_durable(subjects.exec_cmd("paper", "ETH"),
                                  submit("i-tiny", size="0.00001"), msg_id="tiny")
        rejected = await eventually(lambda: rec.of(OrderRejected, correlation_id="i-tiny"))
        assert "lot" in rejected[0].reason
        assert orders_at_venue(sim, cloid_for("i-tiny")) == 0
    finally:
        await running.stop()


async def test_post_only_first_then_ioc_for_the_rest(nats_server, bus, sim, data_dir):
    from schemas import OrderAccepted, OrderCanceled

    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        mid = Decimal(sim.call(lambda ex: str(ex.mid("ETH"))))
        cmd = submit("i-alo", size="0.05", reference=str(mid), post_only_s=0.3)
        await bus.publish_durable(subjects.exec_cmd("paper", "ETH"), cmd, msg_id="alo")
        fills = await eventually(lambda: rec.of(OrderFilled, correlation_id="i-alo"), timeout=15,
                                 what="the IOC leg's fill")
        assert sum(f.size for f in fills) == Decimal("0.05") and fills[0].liquidity == "taker"
        legs = rec.of(OrderSubmitted, correlation_id="i-alo")
        assert len(legs) == 2 and legs[0].cloid == cloid_for("i-alo")
        assert legs[0].limit_price <= mid  # rested on the bid side first
        assert rec.of(OrderCanceled, correlation_id="i-alo")[0].cloid == legs[0].cloid
        assert len(rec.of(OrderAccepted, correlation_id="i-alo")) == 2
        assert fills[0].cloid == legs[1].cloid == cloid_for(cloid_for("i-alo") + ":ioc")
    finally:
        await running.stop()
