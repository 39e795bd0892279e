"""Start-up: nothing is sent before the venue and execution agree (fail closed, with a time
bound and an alarm); leverage and cross margin are set per coin from config; only execution
holds the SDK's trading classes."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from bus.runtime import run_agent
from schemas import ExecutionStatus, OrderFilled
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit

ROOT = Path(__file__).resolve().parents[2]


async def test_start_fails_closed_until_the_venue_answers(nats_server, bus, sim, data_dir):
    from agents.execution.agent import ExecutionAgent

    rec = await record(bus)
    sim.fail_requests("/info", count=10**6, status=502)  # the venue is down
    agent = ExecutionAgent("paper")
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(
        agent, make_config(data_dir, sim, start_timeout_s=0.5, backoff_max_s=0.2,
                           reconcile_interval_s=0.5), url=nats_server.url,
        stop=stop, handle_signals=False, log_to_file=False))
    try:
        await send(bus, submit("i-early", size="0.02"))
        status = await eventually(lambda: [s for s in rec.of(ExecutionStatus)
                                           if s.state == "not_ready"], timeout=30,
                                   what="the alarm")
        assert "reconciliation failed" in status[0].reason
        assert [s for s in rec.of(ExecutionStatus) if s.state == "reconciling"]
        assert sim.call(lambda ex: [r for r in ex.records.values()]) == []  # nothing sent
        sim.clear_faults()  # the venue is back: agreement, then the waiting command
        # generous bounds: a loaded machine (the full suite beside benchmarks) timed out once
        await eventually(lambda: rec.of(OrderFilled, correlation_id="i-early"), timeout=60)
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.state == "ready"],
                         timeout=30)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_leverage_and_cross_margin_per_coin_from_config(nats_server, bus, sim, data_dir):
    config = make_config(data_dir, sim, leverage={"BTC": 5}, default_leverage=2)
    running = await start_agent(config, nats_server.url)
    try:
        lev = sim.call(lambda ex: dict(ex.account(running.agent.address).leverage))
        assert lev == {"BTC": 5, "ETH": 2}
    finally:
        await running.stop()


def test_only_execution_imports_the_sdks_trading_classes():
    found = []
    for package in ("agents", "bus", "marketdata", "organism", "quant", "schemas", "settings",
                    "venue"):
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "agents" / "execution"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "hyperliquid.exchange":
                    found.append(str(path.relative_to(ROOT)))
                elif isinstance(node, ast.Import) and any(
                        a.name == "hyperliquid.exchange" for a in node.names):
                    found.append(str(path.relative_to(ROOT)))
    assert found == []
