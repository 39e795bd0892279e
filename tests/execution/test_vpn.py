"""The VPN guard: while `execution.vpn_check` fails nothing is sent and ExecutionStatus says
not_ready (risk halts the account); once it passes again the waiting command goes out."""

from __future__ import annotations

from schemas import ExecutionStatus, OrderFilled, OrderSubmitted
from schemas.orders import cloid_for
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit


async def test_nothing_is_sent_while_the_vpn_check_fails(nats_server, bus, sim, data_dir, tmp_path):
    up = tmp_path / "vpn-up"
    up.touch()
    rec = await record(bus)
    config = make_config(data_dir, sim, vpn_check=f"test -f {up}", vpn_check_interval_s=0.1)
    running = await start_agent(config, nats_server.url)
    try:
        up.unlink()  # the tunnel drops
        await eventually(lambda: [s for s in rec.of(ExecutionStatus)
                                  if s.state == "not_ready" and not s.vpn_ok], what="not ready")
        await send(bus, submit("i-vpn", size="0.02"))
        for _ in range(20):  # ten status beats later, still nothing at the venue
            await eventually(lambda: rec.of(ExecutionStatus), what="a status")
            rec.messages.clear()
        assert running.agent.state == "not_ready" and "VPN" in running.agent.reason
        assert sim.call(lambda ex: [r for r in ex.records.values()
                                    if r.order.cloid == cloid_for("i-vpn")]) == []
        assert not rec.of(OrderSubmitted, correlation_id="i-vpn")
        up.touch()  # back: the command that waited goes out, once
        await eventually(lambda: rec.of(OrderFilled, correlation_id="i-vpn"), what="the fill")
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.state == "ready"
                                  and s.vpn_ok], what="ready again")
    finally:
        await running.stop()
