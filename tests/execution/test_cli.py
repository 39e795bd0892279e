"""`organism positions` and `organism orders [--open]`, with --json, against a running agent."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from organism.cli.main import main
from schemas import PositionReport
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, record, send, start_agent, submit


async def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    return code, capsys.readouterr().out


async def test_positions_and_orders(nats_server, bus, sim, data_dir, capsys):
    rec = await record(bus)
    running = await start_agent(make_config(data_dir, sim), nats_server.url)
    try:
        await send(bus, submit("i-cli", size="0.3"))
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.3")])
        await eventually(lambda: any(o.origin == "protective" and o.acked
                                     for o in running.agent.orders.values()))
        url = nats_server.url

        async def position_kept() -> dict | None:  # KV is written just after the publish
            code, out = await run_cli(capsys, "positions", "--json", "--url", url)
            assert code == 0
            accounts = json.loads(out)["accounts"]
            return accounts if accounts["paper"]["positions"] and accounts["paper"]["equity"] \
                else None

        accounts = await eventually(position_kept, what="the position in KV")
        paper = accounts["paper"]
        assert [p["size"] for p in paper["positions"]] == ["0.3"]
        assert Decimal(paper["net_transfers"]) == 10000 and Decimal(paper["equity"]) > 9990
        assert accounts["live"]["positions"] == []

        async def orders_kept() -> list | None:
            code, out = await run_cli(capsys, "orders", "--json", "--account", "paper",
                                      "--url", url)
            assert code == 0
            orders = json.loads(out)["orders"]
            return orders if {(o["origin"], o["status"]) for o in orders} == {
                ("intent", "filled"), ("protective", "accepted")} else None

        orders = await eventually(orders_kept, what="both orders in KV")
        intent = [o for o in orders if o["origin"] == "intent"][0]
        assert intent["status"] == "filled" and intent["filled"] == "0.3"
        assert intent["strategy_id"] == "s1"

        code, out = await run_cli(capsys, "orders", "--open", "--json", "--url", url)
        assert [o["origin"] for o in json.loads(out)["orders"]] == ["protective"]

        code, out = await run_cli(capsys, "positions", "--url", url)
        assert code == 0 and "paper" in out and "0.3" in out and "no report yet" in out
        code, out = await run_cli(capsys, "orders", "--url", url)
        assert code == 0 and "filled" in out and "stop" in out
    finally:
        await running.stop()


async def test_without_a_broker_the_commands_say_so(capsys):
    code = await asyncio.to_thread(main, ["positions", "--url", "nats://127.0.0.1:9"])
    assert code == 1 and "organism up" in capsys.readouterr().err
