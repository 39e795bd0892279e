"""A user's DSL file, end to end, on the broker's generated permissions with every agent as its own
user: `organism strategy add` → validation (a real verdict) → paper → the trader's intent at the
next closed minute → risk's approval → execution → the real SDK against the local exchange →
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
from agents.execution.config import ExecutionConfig
from agents.market_data.agent import MarketDataAgent
from agents.risk.agent import RiskAgent
from agents.trader.agent import BUCKET, TraderAgent, book_key
from agents.trader.book import Book
from agents.validation.agent import ValidationAgent
from bus.runtime import run_agent
from marketdata.store import CandleStore
from organism.cli.main import main
from quant.gauntlet.config import ValidationConfig
from schemas import AccountReport, OrderApproved, OrderFilled, OrderIntent
from settings import (
    HeartbeatSection,
    JetStreamSection,
    MarketSection,
    MetricsSection,
    OrganismSection,
    Secret,
    Secrets,
    default_config,
)
from tests.bus.helpers import eventually
from venue.config import AccountVenue, VenueSection
from venue.keys import local_address
from venue.testing import SimThread, quiet_config

DSL = "(strategy (long-entry (> close 1)) (long-exit false) (size (fixed 0.5)) (max-hold 5))"
ANYTHING_PASSES = ValidationConfig(
    min_sharpe=-1e6, max_drawdown=1.0, min_trades=0, min_deflated_sharpe=0.0, max_pbo=1.0,
    min_btl_target_sharpe=1e6, keep_failed=10)


@pytest.fixture
def sim(secured_nats):
    data = secured_nats.data_dir
    accounts = [local_address(data, a) for a in ("paper", "live")]
    with SimThread(quiet_config(*accounts, market="synthetic", tick_ms=250,
                                history_minutes=600)) as venue:
        yield venue


def organism_config(data, sim: SimThread):
    host, port = sim.url.rsplit("//", 1)[1].split(":")
    venue = VenueSection(sim=msgspec.structs.replace(sim.config, host=host, port=int(port)),
                         paper=AccountVenue(), live=AccountVenue())
    cfg = default_config(
        organism=OrganismSection(data_dir=str(data)), metrics=MetricsSection(enabled=False),
        heartbeat=HeartbeatSection(interval_s=0.5), market=MarketSection(coins=["BTC"],
                                                                         intervals=["1m"]),
        jetstream=JetStreamSection(provision=False), venue=venue,
        execution=ExecutionConfig(start_timeout_s=20.0, ack_timeout_s=2.0, venue_lag_s=2.0,
                                  request_timeout_s=5.0, retries=4, backoff_initial_s=0.05,
                                  backoff_max_s=0.5))
    return msgspec.structs.replace(cfg, validation=ANYTHING_PASSES)


class Agents:
    def __init__(self, secured, config) -> None:
        self.secured, self.config = secured, config
        self.running: list[tuple[object, asyncio.Task, asyncio.Event]] = []

    def start(self, agent, user: str):
        stop = asyncio.Event()
        secrets = Secrets(nats_password=Secret(self.secured.password(user)))
        task = asyncio.create_task(run_agent(agent, self.config, secrets=secrets,
                                             url=self.secured.url, stop=stop,
                                             handle_signals=False, log_to_file=False))
        self.running.append((agent, task, stop))
        return agent

    def refusals(self) -> dict[str, list[str]]:
        return {type(a).__name__: list(a.ctx.bus.refusals) for a, _, _ in self.running
                if getattr(a, "ctx", None) is not None and a.ctx.bus.refusals}

    async def stop(self) -> list[int]:
        for _, _, stop in reversed(self.running):
            stop.set()
        return [await asyncio.wait_for(t, 60) for _, t, _ in self.running]


@pytest.mark.timeout(300)
async def test_a_users_dsl_file_trades_paper_end_to_end(secured_nats, connect_as, sim,
                                                        capsys):
    data = secured_nats.data_dir
    config = organism_config(data, sim)
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
        trader = agents.start(TraderAgent(), "trader")
        await eventually(lambda: all(e.state == "ready" for e in execs), timeout=60,
                         what="execution ready")
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
        # execution rounds to the venue's lot (BTC: 5 decimals), toward less: the rest is below
        # the venue's minimum, so the trader leaves it
        assert (b.target - b.position) * b.avg_px < Decimal(10)
        # the venue holds exactly what the strategy's book says
        exec_paper = execs[0]

        async def venue_position() -> Decimal | None:
            reports = [m for m in await _stored(watcher, "exec.account.paper")
                       if isinstance(m, AccountReport)]
            return reports[-1].positions.get("BTC") if reports else None

        await eventually(lambda: _eq(venue_position(), b.position), timeout=30,
                         what="the venue's position equal to the book")
        orders = await _stored(watcher, f"order.intent.paper.{sid}")
        decisions = await _stored(watcher, f"risk.decision.paper.{sid}")
        events = await _stored(watcher, "exec.event.paper.filled.BTC")
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


async def _stored(bus, subject: str) -> list:
    """Every message JetStream stored on `subject` (a reader's consumer, as the dashboard's)."""
    from bus.codec import decode
    from bus.jetstream import stream_for

    sub = await bus.js.subscribe(subject, stream=stream_for(subject), ordered_consumer=True)
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(decode(msg.data))
    except Exception:
        pass
    finally:
        await sub.unsubscribe()
    return out
