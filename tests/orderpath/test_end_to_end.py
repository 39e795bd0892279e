"""The order path end to end, as `organism up` runs it: the generated broker permissions with every
agent as its own user, the real risk agent, one real execution agent per account, the operator's
CLI (`organism order`, `kill`, `resume`) and the local exchange behind the real signing code.

- intent → decision → command → order → fill → position, one correlation id throughout;
- a kill switch on paper halts and flattens paper at the venue, while live keeps its position
  and keeps trading (breakers and trading state are per account);
- resume brings paper back.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from agents.execution.agent import ExecutionAgent
from agents.market_data.agent import MarketDataAgent
from agents.risk.agent import RiskAgent
from bus import subjects
from organism.cli.main import main
from schemas import (
    OrderApproved,
    OrderDenied,
    OrderFilled,
    OrderIntent,
    OrderSubmitted,
    SubmitOrder,
    TradingStateChanged,
)
from tests.bus.helpers import eventually
from tests.e2e import Agents, organism_config, sim, stored  # noqa: F401  (sim: a fixture)
from venue.keys import local_address
from venue.testing import SimThread


def venue_position(sim: SimThread, address: str, coin: str) -> Decimal:
    def read(core):
        account = core.accounts.get(address.lower()) or core.accounts.get(address)
        pos = account.positions.get(coin) if account is not None else None
        return pos.szi if pos is not None else Decimal(0)

    return sim.call(read)


@pytest.mark.timeout(300)
async def test_one_correlation_id_from_intent_to_position_and_a_paper_halt_spares_live(
        secured_nats, connect_as, sim, capsys):
    venue = sim
    data = secured_nats.data_dir
    agents = Agents(secured_nats, organism_config(data, sim, coins=("BTC", "ETH")))
    watcher = await connect_as("dashboard")
    cfg_file = data / "e2e.toml"
    cfg_file.write_text(f'[organism]\ndata_dir = "{data}"\n[nats]\nurl = "{secured_nats.url}"\n')
    paper_addr, live_addr = (local_address(data, a) for a in ("paper", "live"))

    def cli(*argv: str) -> tuple[int, dict]:
        code = main([*argv, "--json", "--config", str(cfg_file)])
        out = capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1]) if out else {}

    async def run(*argv: str) -> tuple[int, dict]:
        return await asyncio.to_thread(cli, *argv)

    try:
        agents.start(MarketDataAgent(), "market_data")
        risk = agents.start(RiskAgent(), "risk")
        execs = [agents.start(ExecutionAgent(a), f"execution_{a}") for a in ("paper", "live")]
        await eventually(lambda: all(e.state == "ready" for e in execs), timeout=60,
                         what="both execution agents ready")
        assert risk is not None

        # 1. one operator order on paper: every message of its path carries its correlation id
        code, paper_order = await run("order", "--coin", "BTC", "--side", "buy", "--size",
                                      "0.01", "--account", "paper", "--wait", "10")
        assert code == 0, paper_order
        intent_id = paper_order["intent_id"]
        await eventually(lambda: venue_position(venue, paper_addr, "BTC") == Decimal("0.01"),
                         timeout=30, what="the paper BTC position at the venue")
        intents = [m for m in await stored(watcher, subjects.order_intent("paper", "operator"))
                   if isinstance(m, OrderIntent) and m.intent_id == intent_id]
        (intent,) = intents
        corr = intent.correlation_id
        decisions = await stored(watcher, subjects.risk_decision("paper", "operator"))
        commands = await stored(watcher, subjects.exec_cmd("paper", "BTC"))
        submitted = await stored(watcher, subjects.exec_event("paper", "submitted", "BTC"))

        async def fills():
            return [m for m in await stored(watcher, subjects.exec_event("paper", "filled", "BTC"))
                    if isinstance(m, OrderFilled) and m.correlation_id == corr]

        await eventually(fills, timeout=20, what="the fill on exec.event.paper.filled.BTC")
        assert [type(d) for d in decisions if d.correlation_id == corr] == [OrderApproved]
        (command,) = [c for c in commands if c.correlation_id == corr]
        assert isinstance(command, SubmitOrder) and command.origin == "intent"
        assert [type(s) for s in submitted if s.correlation_id == corr] == [OrderSubmitted]
        assert sum(f.size for f in await fills()) == Decimal("0.01")
        assert venue_position(venue, live_addr, "BTC") == 0  # the other account saw nothing

        # 2. live holds a position of its own
        code, live_order = await run("order", "--coin", "ETH", "--side", "sell", "--size",
                                     "0.1", "--account", "live", "--wait", "10")
        assert code == 0, live_order
        await eventually(lambda: venue_position(venue, live_addr, "ETH") == Decimal("-0.1"),
                         timeout=30, what="the live ETH short at the venue")

        # 3. the kill switch on paper: HALTED, flattened at the venue; live untouched
        code, killed = await run("kill", "--account", "paper", "--reason", "e2e")
        assert code == 0, killed
        await eventually(lambda: venue_position(venue, paper_addr, "BTC") == 0, timeout=30,
                         what="risk's flatten of paper at the venue")
        states = [m for m in await stored(watcher, subjects.risk_state("paper"))
                  if isinstance(m, TradingStateChanged)]
        assert states[-1].state == "HALTED" and states[-1].breaker == "kill_switch"
        flattens = [c for c in await stored(watcher, subjects.exec_cmd("paper", "BTC"))
                    if isinstance(c, SubmitOrder) and c.origin == "flatten"]
        assert flattens and all(c.reduce_only for c in flattens)
        assert venue_position(venue, live_addr, "ETH") == Decimal("-0.1")
        code, denied = await run("order", "--coin", "BTC", "--side", "buy", "--size", "0.01",
                                 "--account", "paper", "--wait", "0")
        assert code == 1 and denied["reason"] == "kill_switch", denied
        code, still_live = await run("order", "--coin", "ETH", "--side", "buy", "--size",
                                     "0.1", "--account", "live", "--wait", "10")
        assert code == 0, still_live
        await eventually(lambda: venue_position(venue, live_addr, "ETH") == 0, timeout=30,
                         what="live trading on while paper is halted")

        # 4. resume is the operator's act; paper trades again
        code, resumed = await run("resume", "--account", "paper", "--yes")
        assert code == 0, resumed
        code, again = await run("order", "--coin", "BTC", "--side", "buy", "--size", "0.01",
                                "--account", "paper", "--wait", "10")
        assert code == 0, again
        denials = [d for d in await stored(watcher, subjects.risk_decision("paper", "operator"))
                   if isinstance(d, OrderDenied)]
        assert [d.reason.value for d in denials] == ["kill_switch"]
        assert agents.refusals() == {}
    finally:
        codes = await agents.stop()
    assert codes == [0] * len(codes)
