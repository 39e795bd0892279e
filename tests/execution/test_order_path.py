"""Command → order → fill → position, one correlation id throughout."""

from __future__ import annotations

from decimal import Decimal

from schemas import (
    AccountReport,
    ExecutionStatus,
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    PositionReport,
)
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit


async def test_a_command_becomes_an_order_a_fill_and_a_position(nats_server, bus, sim, data_dir):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        await send(bus, submit("i-1", size="0.1"))
        fill = await eventually(lambda: rec.of(OrderFilled, correlation_id="i-1"), timeout=10,
                                what="the fill")
        assert fill[0].source == "live" and fill[0].strategy_id == "s1"
        assert sum(f.size for f in fill) == Decimal("0.1")
        assert rec.of(OrderSubmitted, correlation_id="i-1")
        assert rec.of(OrderAccepted, correlation_id="i-1")
        pos = await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                        if p.size == Decimal("0.1")], what="the position")
        assert pos[0].account == "paper"
        assert await eventually(lambda: rec.of(AccountReport), what="the account report")
        status = [s for s in rec.of(ExecutionStatus) if s.state == "ready"]
        assert status and status[-1].actions_left > 0
    finally:
        assert await running.stop() == 0
