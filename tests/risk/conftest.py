"""Risk against a real nats-server: a fresh broker per test (risk's durables and KV books must
not leak between tests), the agent in this event loop, and the execution side played by the
test: heartbeats, ExecutionStatus, account reports, fills and rejections are the contract, so
the test publishes them rather than waiting for an execution agent."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import msgspec
import pytest

from agents.risk.agent import RiskAgent
from agents.risk.config import RiskSection
from bus import subjects
from bus.broker import EmbeddedBroker
from bus.codec import encode
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.runtime import run_agent
from schemas import (
    AccountReport,
    AssetContext,
    ClockTick,
    ExecutionStatus,
    Heartbeat,
    KillSwitch,
    OrderIntent,
    RegistryEntry,
    ResumeTrading,
)
from settings import ClockSection, HeartbeatSection, MetricsSection, OrganismSection, default_config
from tests.bus.helpers import eventually
from tests.risk.factories import entry

FAST = dict(heartbeat_timeout_s=1.5, warmup_s=3.0, tick_s=0.1)


@pytest.fixture
def broker(tmp_path):
    with EmbeddedBroker(store_dir=tmp_path / "js") as b:
        yield b


def risk_config(tmp_path, *, clock: str = "wall", **risk):
    return default_config(
        organism=OrganismSection(data_dir=str(tmp_path / "data")),
        metrics=MetricsSection(enabled=False), heartbeat=HeartbeatSection(interval_s=0.2),
        clock=ClockSection(source=clock),  # type: ignore[arg-type]
        risk=RiskSection(**{**FAST, **risk}))


class Harness:
    """The world around risk: publishes what execution, market data and the operator would,
    and records everything risk says (decisions, commands, states, flattens, deactivations)."""

    def __init__(self, bus: Bus, url: str, config) -> None:
        self.bus, self.url, self.config = bus, url, config
        self.seen: dict[str, list] = {"decision": [], "cmd": [], "state": [], "flatten": [],
                                      "deactivate": []}
        self.silent: set[str] = set()  # agents whose heartbeat the feeder leaves out
        self.statuses = {"paper": "ready", "live": "ready"}
        self.status_fields: dict[str, dict] = {"paper": {}, "live": {}}  # e.g. actions_left
        self.clock_ns = 0  # replay clock (ClockTick), when the config says so
        self.marks: dict[str, str] = {}  # md.ctx the feeder repeats, as market data would
        self._feeder: asyncio.Task | None = None
        self._risk: tuple[asyncio.Task, asyncio.Event] | None = None
        self.agent: RiskAgent | None = None

    async def start(self) -> "Harness":
        patterns = {"decision": subjects.risk_decision("*", "*"), "cmd": subjects.exec_cmd("*", "*"),
                    "state": subjects.risk_state("*"), "flatten": subjects.risk_flatten("*"),
                    "deactivate": subjects.risk_deactivate("*")}
        for key, pattern in patterns.items():
            async def on(d, key=key):
                self.seen[key].append(d.message)
            await self.bus.subscribe(pattern, on)
        self._feeder = asyncio.create_task(self._feed())
        return self

    async def _feed(self) -> None:
        while True:
            now = time.time_ns()
            for agent in ("execution_paper", "execution_live", "market_data"):
                if agent not in self.silent:
                    await self.bus.publish(subjects.sys_heartbeat(agent), Heartbeat(
                        ts_event=now, ts_init=now, agent=agent, instance="test:1", pid=1,
                        started=now, uptime_s=1.0))
            for account, st in self.statuses.items():
                if f"execution_{account}" not in self.silent:
                    await self.bus.publish(subjects.exec_status(account), ExecutionStatus(
                        ts_event=now, ts_init=now, account=account, state=st,  # type: ignore[arg-type]
                        **self.status_fields[account]))
            if self.clock_ns:  # core NATS: a late subscriber must hear the clock too
                await self.tick(self.clock_ns)
            for coin, mark in list(self.marks.items()):
                await self.price(coin, mark, remember=False)
            await asyncio.sleep(0.1)

    # --- risk itself ---
    async def start_risk(self) -> RiskAgent:
        stop = asyncio.Event()
        self.agent = RiskAgent()
        task = asyncio.create_task(run_agent(self.agent, self.config, url=self.url, stop=stop,
                                             handle_signals=False, log_to_file=False))
        self._risk = (task, stop)
        agent = self.agent
        await eventually(lambda: agent.state is not None and agent.lock is not None and
                         self._consuming(), timeout=30, what="risk consuming intents")
        return agent

    def _consuming(self) -> bool:
        task = self._risk[0] if self._risk else None
        if task is not None and task.done():
            raise AssertionError(f"risk stopped: exit {task.result()}")
        return any(c.task is not None and "ORDERS" in c.task.get_name()
                   for c in (self.agent.ctx.bus._consumers if self.agent and self.agent.ctx else []))

    async def stop_risk(self) -> int:
        assert self._risk is not None
        task, stop = self._risk
        stop.set()
        self._risk = None
        return await asyncio.wait_for(task, 30)

    async def close(self) -> None:
        if self._risk is not None:
            await self.stop_risk()
        if self._feeder is not None:
            self._feeder.cancel()
            await asyncio.gather(self._feeder, return_exceptions=True)

    # --- the world ---
    def now(self) -> int:
        return self.clock_ns or time.time_ns()

    async def tick(self, clock_ns: int) -> None:
        """Move the replay clock (config clock.source = "replay")."""
        self.clock_ns = clock_ns
        await self.bus.publish(subjects.sys_clock(), ClockTick(ts_event=clock_ns,
                                                               ts_init=time.time_ns(),
                                                               now=clock_ns))

    async def register(self, *entries: RegistryEntry) -> None:
        kv = await self.bus.kv("registry")
        for e in entries:
            await kv.put(e.strategy_id, encode(e))

    async def price(self, coin: str = "BTC", mark: str = "60000", volume: float = 0.0, *,
                    remember: bool = True) -> None:
        """md.ctx for `coin`; remembered, the feeder repeats it every 0.1 s."""
        if remember:
            self.marks[coin] = mark
        now = self.now()
        await self.bus.publish(subjects.md_ctx(coin), AssetContext(
            ts_event=now, ts_init=now, coin=coin, mark_price=D(mark), oracle_price=D(mark),
            day_notional_volume=volume))

    async def account(self, equity: str = "10000", *, account: str = "paper",
                      transfers: str = "10000", positions: dict[str, str] | None = None) -> None:
        now = self.now()
        report = AccountReport(ts_event=now, ts_init=now, correlation_id=f"account-{account}",
                               account=account, equity=D(equity), net_transfers=D(transfers),  # type: ignore[arg-type]
                               positions={c: D(q) for c, q in (positions or {}).items()})
        await self.event(subjects.exec_account(account), report)

    async def event(self, subject: str, message) -> None:
        await self.bus.publish_durable(subject, message, msg_id=f"test:{subject}:{time.time_ns()}")

    async def intent(self, it: OrderIntent, msg_id: str | None = None, *,
                     stamp: bool = True) -> None:
        """Publish `it`, stamped with the current time (the organism's clock) unless told not."""
        if stamp:
            it = msgspec.structs.replace(it, ts_event=self.now(), ts_init=self.now())
        await self.bus.publish_durable(subjects.order_intent(it.account, it.strategy_id), it,
                                       msg_id=msg_id or f"intent:{it.intent_id}")

    async def kill(self, flatten: bool = True, account: str = "all", reason: str = "test") -> None:
        now = time.time_ns()
        await self.bus.publish_durable(subjects.ctl_kill(), KillSwitch(
            ts_event=now, ts_init=now, operator="tester", reason=reason, flatten=flatten,
            account=account), msg_id=f"kill:{now}")  # type: ignore[arg-type]

    async def resume(self, account: str = "all") -> None:
        now = time.time_ns()
        await self.bus.publish_durable(subjects.ctl_resume(), ResumeTrading(
            ts_event=now, ts_init=now, operator="tester", reason="test", account=account),  # type: ignore[arg-type]
            msg_id=f"resume:{now}")

    # --- what risk said ---
    async def decision(self, intent_id: str, timeout: float = 15.0):
        return await eventually(
            lambda: next((d for d in self.seen["decision"] if d.intent_id == intent_id), None),
            timeout=timeout, what=f"a decision on {intent_id}")

    async def trading(self, account: str, state: str, timeout: float = 15.0):
        """The latest TradingStateChanged of `account` once it says `state`."""
        def latest():
            mine = [m for m in self.seen["state"] if m.account == account]
            return mine[-1] if mine and mine[-1].state == state else None
        return await eventually(latest, timeout=timeout, what=f"{account} {state}")

    async def ready_account(self, equity: str = "10000", **kw) -> None:
        """Paper and live reported with `equity`, a BTC and an ETH price."""
        await self.account(equity, **kw)
        await self.account(equity, account="live")
        await self.price("BTC", "60000")
        await self.price("ETH", "3000")


@pytest.fixture
async def make_world(broker, tmp_path):
    """`await make_world(**risk)`: a Harness (risk not started yet) whose config overrides
    [risk] with `risk` (and `clock="replay"` for the replay clock); one strategy registered."""
    made: list[tuple[Harness, Bus]] = []

    async def make(*, clock: str = "wall", **risk) -> Harness:
        config = risk_config(tmp_path, clock=clock, **risk)
        bus = await Bus.connect(ConnectOptions(url=broker.url, name="test", initial_attempts=3))
        await provision(bus.js)
        h = await Harness(bus, broker.url, config).start()
        await h.register(entry())
        made.append((h, bus))
        return h

    yield make
    for h, bus in made:
        await h.close()
        await bus.drain()


__all__ = ["Harness", "risk_config", "msgspec"]
