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


async def test_the_live_account_is_its_own_process_key_and_money(nats_server, bus, sim, data_dir):
    rec_live = await record(bus, "live")
    rec_paper = await record(bus, "paper")
    config = make_config(data_dir, sim)
    paper = await start_agent(config, nats_server.url, "paper")
    live = await start_agent(config, nats_server.url, "live")
    try:
        assert live.agent.name == "execution_live" and live.agent.address != paper.agent.address
        await send(bus, submit("i-live-1", size="0.2", account="live"))
        await eventually(lambda: rec_live.of(OrderFilled, correlation_id="i-live-1"))
        await eventually(lambda: [p for p in rec_live.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.2") and p.account == "live"])
        assert not rec_paper.of(OrderFilled)  # the paper account saw nothing of it
        assert sim.call(lambda ex: ex.account(paper.agent.address).szi("ETH")) == 0
    finally:
        await live.stop()
        await paper.stop()


def test_a_real_network_without_its_key_stops_start_up_naming_the_variable(tmp_path):
    import msgspec
    import pytest

    from agents.execution.agent import StartError, account_key
    from settings import OrganismSection, Secret, Secrets, default_config
    from venue.config import AccountVenue, VenueSection

    config = default_config(organism=OrganismSection(data_dir=str(tmp_path)),
                            venue=VenueSection(paper=AccountVenue(network="testnet")))
    with pytest.raises(StartError, match="ORGANISM_PAPER_SECRET_KEY"):
        account_key(config, Secrets(), "paper")
    key = "0x" + "4" * 64
    _, address = account_key(config, Secrets(paper_secret_key=Secret(key)), "paper")
    assert address.startswith("0x") and len(address) == 42
    master = "0x" + "ab" * 20
    config = msgspec.structs.replace(config, venue=VenueSection(
        live=AccountVenue(network="testnet", account_address=master)))
    assert account_key(config, Secrets(secret_key=Secret(key)), "live")[1] == master
    with pytest.raises(StartError, match="not a valid private key") as err:
        account_key(config, Secrets(secret_key=Secret("0xnothex")), "live")
    assert "nothex" not in str(err.value)
