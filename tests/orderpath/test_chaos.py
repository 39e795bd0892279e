"""Processes die at random while intents flow: nothing is lost, nothing is doubled.

Risk and execution run as real processes (`organism agent risk`, `organism agent execution
--account paper`) on a real broker, against the local exchange; the test plays the trader and
market data. While it publishes a stream of intents, a seeded killer SIGKILLs risk, execution,
both, or the nats-server itself at random moments and starts them again after a random pause
(the broker on its port and store). Afterwards, from what JetStream stored and what the venue
holds:

- every intent has exactly one decision; a command exists for each approved intent and for no
  denied one;
- no order reaches the venue without risk's approval: every venue order's cloid is an approved
  intent's, and no cloid is at the venue twice; each approved intent's order is at the venue or
  its rejection was published;
- every venue fill is published once (on its trade id), and the published fills add up to the
  venue's position, which execution's last position report also says.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bus import subjects
from bus.broker import EmbeddedBroker, free_port
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.state import pending
from schemas import (
    OPERATOR,
    AssetContext,
    OrderApproved,
    OrderDenied,
    OrderFilled,
    OrderIntent,
    PositionReport,
    SubmitOrder,
)
from schemas.orders import cloid_for
from tests.bus.helpers import eventually
from tests.e2e import stored
from tests.execution.conftest import write_config
from venue.keys import local_address
from venue.testing import SimThread, quiet_config

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CHAOS_SEED", "20261129"))
INTENTS = 200
MARK = Decimal("3000")


class Agent:
    """One agent as a process that the test may SIGKILL and start again."""

    def __init__(self, name: str, argv: list[str], config: Path, logs: Path) -> None:
        self.name, self.argv, self.config, self.log = name, argv, config, logs / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "organism.cli.main", *self.argv, "--config", str(self.config),
            env=env, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=self.log.open("ab"), stderr=asyncio.subprocess.STDOUT)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1

    async def stop(self) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except asyncio.TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


@pytest.mark.timeout(420)
async def test_random_kills_lose_and_double_nothing(tmp_path):
    with EmbeddedBroker(store_dir=tmp_path / "js", port=free_port()) as broker:
        await _chaos(Broker(broker), tmp_path)


async def _chaos(broker: Broker, tmp_path: Path) -> None:
    nats_url = broker.broker.url
    data = tmp_path / "data"
    data.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    paper = local_address(data, "paper")
    rng = random.Random(SEED)
    with SimThread(quiet_config(paper, local_address(data, "live"))) as sim:
        config = write_config(tmp_path / "chaos.toml", data, sim, nats_url,
                              protective_stop_fraction="0", reconcile_interval_s=10.0)
        config.write_text(config.read_text() + "\n".join([
            "[risk]",
            'market_data_agent = ""',  # the test publishes the marks
            "heartbeat_timeout_s = 2.0",  # execution killed: HALTED soon, ACTIVE once it is back
            "max_orders = 1000000",
            "max_trades_per_day = 1000000",
            "max_intent_age_s = 600.0",  # a backlog decided after a restart is still fresh
            "warmup_s = 1.0",
        ]) + "\n")
        bus = await Bus.connect(ConnectOptions(url=nats_url, name="chaos",
                                               initial_attempts=3))
        await provision(bus.js)
        risk = Agent("risk", ["agent", "risk"], config, logs)
        execution = Agent("execution_paper", ["agent", "execution", "--account", "paper"],
                          config, logs)
        feed = asyncio.create_task(_marks(bus))
        try:
            await execution.start()
            await risk.start()
            ids = [f"chaos-{SEED}-{n}" for n in range(INTENTS)]
            done = asyncio.Event()
            killer = asyncio.create_task(_killer(rng, done, risk, execution, broker))
            try:
                await _publish(bus, ids, rng)
            finally:
                done.set()  # the killer ends its round: whatever it killed is started again
                await killer
            assert min(risk.kills, execution.kills, broker.kills) >= 1, "each must be killed"
            await _settled(bus, ids)
            summary = await _check(bus, sim, paper, ids)
            print(f"chaos seed {SEED}: risk killed {risk.kills}x, execution {execution.kills}x, "
                  f"the broker {broker.kills}x;", summary)
        finally:
            feed.cancel()
            codes = [await a.stop() for a in (risk, execution)]
            await bus.drain()
        assert codes == [0, 0], f"a clean stop after the chaos: {codes}"
    for log in logs.glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"


async def _marks(bus: Bus) -> None:
    """What market data would say: ETH's mark, every 0.5 s."""
    while True:
        now = time.time_ns()
        await bus.publish(subjects.md_ctx("ETH"), AssetContext(
            ts_event=now, ts_init=now, coin="ETH", mark_price=MARK, oracle_price=MARK))
        await asyncio.sleep(0.5)


async def _pause(rng: random.Random, done: asyncio.Event, low: float, high: float) -> bool:
    """Wait low-high s; False when `done` came first."""
    try:
        await asyncio.wait_for(done.wait(), rng.uniform(low, high))
        return False
    except asyncio.TimeoutError:
        return True


async def _killer(rng: random.Random, done: asyncio.Event, risk: Agent, execution: Agent,
                  broker: "Broker") -> None:
    """Every 1-3 s until `done`: SIGKILL risk, execution, both, or the broker (each in turn, in
    a shuffled order), and start what was killed again 0-2 s later (a round is always finished:
    nothing is left down)."""
    rounds: list[list] = []
    while await _pause(rng, done, 1.0, 3.0):
        if not rounds:
            rounds = [[risk], [execution], [risk, execution], [broker]]
            rng.shuffle(rounds)
        victims = rounds.pop()
        for victim in victims:
            await victim.kill()
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        for victim in victims:
            await victim.start()


class Broker:
    """The nats-server as a victim: SIGKILL, then started again on its port and store (what it
    acknowledged is on disk)."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker, self.kills = broker, 0

    async def kill(self) -> None:
        assert self.broker.process is not None
        self.broker.process.kill()
        self.broker.process.wait()
        self.broker.process = None
        self.kills += 1

    async def start(self) -> None:
        await asyncio.to_thread(self.broker.start)


async def _publish(bus: Bus, ids: list[str], rng: random.Random) -> None:
    """The intents, one every 20-150 ms, buying and selling 0.01-0.05 ETH at random."""
    for intent_id in ids:
        now = time.time_ns()
        intent = OrderIntent(
            ts_event=now, ts_init=now, correlation_id=intent_id, intent_id=intent_id,
            strategy_id=OPERATOR, coin="ETH", side=rng.choice(["buy", "sell"]),
            size=Decimal(rng.randint(1, 5)) / 100, kind="market", account="paper",
            reference_price=MARK, reason="chaos")
        while True:  # the trader's way: until the store acknowledges it (the id de-duplicates)
            try:
                await bus.publish_durable(subjects.order_intent("paper", OPERATOR), intent,
                                          msg_id=f"intent:{intent_id}", timeout=1.0)
                break
            except Exception:
                await asyncio.sleep(0.2)
        await asyncio.sleep(rng.uniform(0.02, 0.15))


async def _settled(bus: Bus, ids: list[str]) -> None:
    """Every intent decided, every command consumed, every approved order ended."""
    wanted = set(ids)

    async def decided() -> bool:
        got = {d.intent_id for d in await stored(bus, subjects.risk_decision("paper", OPERATOR))}
        return wanted <= got

    await eventually(decided, timeout=180, what="a decision for every intent")
    await eventually(lambda: _drained(bus), timeout=120, what="every command consumed")


async def _drained(bus: Bus) -> bool:
    return (await pending(bus, "ORDERS", "risk") == 0
            and await pending(bus, "EXEC_CMD", "execution_paper") == 0)


async def _check(bus: Bus, sim: SimThread, paper: str, ids: list[str]) -> str:
    mine = set(ids)
    decisions = [d for d in await stored(bus, subjects.risk_decision("paper", OPERATOR))
                 if d.intent_id in mine]
    per_intent = Counter(d.intent_id for d in decisions)
    assert set(per_intent) == mine and set(per_intent.values()) == {1}, \
        f"one decision per intent: {[(i, n) for i, n in per_intent.items() if n != 1]}"
    approved = {d.intent_id for d in decisions if isinstance(d, OrderApproved)}
    denied = {d.intent_id for d in decisions if isinstance(d, OrderDenied)}
    assert approved, "some intents must pass between the kills"
    commands = [c for c in await stored(bus, subjects.exec_cmd("paper", subjects.ANY))
                if isinstance(c, SubmitOrder) and c.intent_id in mine]
    assert Counter(c.intent_id for c in commands) == Counter(approved), \
        "one command per approved intent, none for a denied one"

    approved_cloids = {cloid_for(i).lower() for i in approved}
    venue_orders = sim.call(lambda ex: [r.order.cloid.lower() for r in ex.records.values()
                                        if r.order.user.lower() == paper.lower()])
    doubled = [c for c, n in Counter(venue_orders).items() if n > 1]
    assert not doubled, f"orders at the venue twice: {doubled}"
    unapproved = set(venue_orders) - approved_cloids
    assert not unapproved, f"orders at the venue without risk's approval: {unapproved}"
    assert not {cloid_for(i).lower() for i in denied} & set(venue_orders)
    # and none is lost: each approved intent's order is at the venue, or its refusal was told
    refused = {e.correlation_id for e in await stored(
        bus, subjects.exec_event("paper", "rejected", subjects.ANY))}
    lost = [i for i in approved if cloid_for(i).lower() not in venue_orders and i not in refused]
    assert not lost, f"approved, neither at the venue nor refused: {lost}"

    await eventually(lambda: _fills_published(bus, sim, paper), timeout=60,
                     what="every venue fill published")
    fills = [f for f in await stored(bus, subjects.exec_event("paper", "filled", subjects.ANY))
             if isinstance(f, OrderFilled)]
    assert len({f.fill_id for f in fills}) == len(fills), "a fill published twice"
    venue_fills = sim.call(lambda ex: list(ex.fills.get(paper.lower(), ex.fills.get(paper, []))))
    assert {str(f["tid"]) for f in venue_fills} == {f.fill_id for f in fills}
    position = sum((f.size if f.side == "buy" else -f.size for f in fills), Decimal(0))

    def at_venue(ex) -> Decimal:
        account = ex.accounts.get(paper.lower()) or ex.accounts.get(paper)
        pos = account.positions.get("ETH") if account is not None else None
        return pos.szi if pos is not None else Decimal(0)

    assert sim.call(at_venue) == position, "the published fills add up to the venue's position"

    async def reported() -> bool:
        reports = [p for p in await stored(bus, subjects.exec_position("paper", "ETH"))
                   if isinstance(p, PositionReport)]
        return bool(reports) and reports[-1].size == position

    await eventually(reported, timeout=90, what="execution's position report equal to the venue's")
    reasons = Counter(d.reason.value for d in decisions if isinstance(d, OrderDenied))
    return (f"{len(approved)} approved, {len(denied)} denied {dict(reasons)}, "
            f"{len(venue_orders)} venue orders, {len(fills)} fills, position {position} ETH")


async def _fills_published(bus: Bus, sim: SimThread, paper: str) -> bool:
    venue = sim.call(lambda ex: {str(f["tid"]) for f in ex.fills.get(paper.lower(), [])})
    published = {f.fill_id for f in await stored(bus, subjects.exec_event("paper", "filled",
                                                                           subjects.ANY))}
    return venue <= published
