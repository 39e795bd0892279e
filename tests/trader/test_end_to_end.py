"""A user's DSL file, end to end, on the broker's generated permissions with every agent as its own
user: `organism strategy add` → validation (a real verdict) → paper → the trader's intent at the
next closed minute after the price jumps → risk's approval → execution → the real SDK against the local exchange →
the fill → the trader's virtual position equal to the venue's.

The local exchange's market has no edge, so this run's gauntlet is told to pass anything that can
be run (its thresholds lifted): the path is what is tested, not the strategy. It waits for the
next real minute to close (the local exchange runs in real time), so it takes up to a minute.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import msgspec
import pytest

from agents.execution.agent import ExecutionAgent
from agents.market_data.agent import MarketDataAgent
from agents.risk.agent import RiskAgent
from agents.trader.agent import BUCKET, TraderAgent, book_key
from agents.trader.book import Book
from agents.validation.agent import ValidationAgent
from marketdata.store import CandleStore
from organism.cli.main import main
from quant.gauntlet.config import ValidationConfig
from schemas import AccountReport, OrderApproved, OrderFilled, OrderIntent
from tests.bus.helpers import eventually
from tests.e2e import Agents, organism_config, sim, stored  # noqa: F401  (sim: a fixture)

# Never true on the venue's history, then true once the test jumps the price: the trader enters at
# the first close after the jump (a fresh signal), not whenever a backtest cycle comes round.
DSL = ("(strategy (long-entry (> close 1000000)) (long-exit false) (size (fixed 0.5)) "
       "(max-hold 5))")
ANYTHING_PASSES = ValidationConfig(
    min_sharpe=-1e6, max_drawdown=1.0, min_trades=0, min_deflated_sharpe=0.0, max_pbo=1.0,
    min_btl_target_sharpe=1e6, keep_failed=10)


@pytest.mark.timeout(300)
async def test_a_users_dsl_file_trades_paper_end_to_end(secured_nats, connect_as, sim,
                                                        capsys):
    data = secured_nats.data_dir
    config = organism_config(data, sim, validation=ANYTHING_PASSES)
    agents = Agents(secured_nats, config)
    watcher = await connect_as("dashboard")
    intents: list[OrderIntent] = []
    approved: list[OrderApproved] = []
    fills: list[OrderFilled] = []
    venue: dict[str, Decimal] = {}
    try:
        agents.start(MarketDataAgent(), "market_data")
        await eventually(lambda: len(CandleStore(data).open_times("BTC", "1m")) >= 500,
                         timeout=60, interval=0.2,
                         what="the market-data agent's backfill in the store")
        agents.start(ValidationAgent(), "validation")
        agents.start(RiskAgent(), "risk")
        execs = [agents.start(ExecutionAgent(a), f"execution_{a}") for a in ("paper", "live")]
        await eventually(lambda: all(e.state == "ready" for e in execs), timeout=60,
                         what="execution ready")
        trader = agents.start(TraderAgent(), "trader")  # reads the equity execution reported
        await eventually(lambda: trader.view is not None, timeout=30, what="the trader")

        cfg_file = data / "e2e.toml"
        cfg_file.write_text(f'[organism]\ndata_dir = "{data}"\n[nats]\nurl = "{secured_nats.url}"'
                            '\n[market]\ncoins = ["BTC"]\nintervals = ["1m"]\n')
        (data / "mine.dsl").write_text(DSL)

        def add():
            code = main(["strategy", "add", str(data / "mine.dsl"), "--coin", "BTC",
                         "--interval", "1m", "--json", "--wait", "120", "--config",
                         str(cfg_file)])
            out = capsys.readouterr()
            return code, out.out, out.err

        code, out, err = await asyncio.to_thread(add)
        assert code == 0, err
        sid = json.loads(out)["strategy_id"]
        assert json.loads(out)["stage"] == "paper"
        await eventually(lambda: sid in trader.view.entries and "paper" in trader.equity,
                         timeout=90, what="the trader to take the strategy on, equity known")
        sim.jump("BTC", "2000000")

        # the trader decides at the next closed minute; the order goes through risk and
        # execution to the local exchange; the fill comes back to the strategy's book
        kv = await watcher.kv(BUCKET)

        async def book() -> Book | None:
            try:
                item = await kv.get(book_key(sid))
            except Exception:
                return None
            return msgspec.json.decode(item.value, type=Book)

        async def filled() -> bool:
            b = await book()
            return b is not None and b.position > 0 and not [w for w in b.working
                                                             if not w.ended]

        await eventually(filled, timeout=150, interval=0.25,
                         what="the strategy's first fill in its book")
        b = await book()
        paper = trader.equity.get("paper")
        assert paper is not None and b.target > 0 and b.position > 0
        # execution rounds to the venue's lot (BTC: 5 decimals), toward less: the rest is less
        # than one lot, so the trader leaves it
        assert Decimal(0) <= b.target - b.position < Decimal("0.00001")
        # the venue holds exactly what the strategy's book says
        exec_paper = execs[0]

        async def venue_position() -> Decimal | None:
            reports = [m for m in await stored(watcher, "exec.account.paper")
                       if isinstance(m, AccountReport)]
            return reports[-1].positions.get("BTC") if reports else None

        await eventually(lambda: _eq(venue_position(), b.position), timeout=30,
                         what="the venue's position equal to the book")
        orders = await stored(watcher, f"order.intent.paper.{sid}")
        decisions = await stored(watcher, f"risk.decision.paper.{sid}")
        events = await stored(watcher, "exec.event.paper.filled.BTC")
        (intent,) = [m for m in orders if isinstance(m, OrderIntent)]
        assert intent.strategy_id == sid and intent.side == "buy" and intent.bar_time > 0
        assert [d.intent_id for d in decisions if isinstance(d, OrderApproved)] == [
            intent.intent_id]
        assert {f.correlation_id for f in events if isinstance(f, OrderFilled)} == {
            intent.intent_id}
        assert exec_paper.state == "ready"
        assert agents.refusals() == {}
    finally:
        codes = await agents.stop()
    assert codes == [0] * len(codes)


async def _eq(coro, want) -> bool:
    return (await coro) == want
