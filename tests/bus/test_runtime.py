"""The agent runtime in-process: replay clock, reconnect after a broker restart, clean drain."""

from __future__ import annotations

import asyncio
import time

from bus import subjects
from bus.broker import EmbeddedBroker, free_port
from bus.clock import ReplayClock
from bus.connection import Bus, ConnectOptions, Delivery
from bus.runtime import Agent, AgentContext, run_agent
from settings import load_config
from schemas import ClockTick, KillSwitch
from tests.bus.helpers import eventually


def test_replay_clock_never_goes_backwards():
    c = ReplayClock()
    assert c.now_ns() == 0
    c.advance(100)
    c.advance(50)
    assert c.now_ns() == 100


class Probe(Agent):
    """A minimal agent: records what it hears on ctl.kill and the time its clock says."""

    name = "probe"

    def __init__(self) -> None:
        self.heard: list[tuple[str, int]] = []
        self.stopped = False

    async def start(self, ctx: AgentContext) -> None:
        async def on_kill(d: Delivery) -> None:
            self.heard.append((d.message.reason, ctx.now_ns()))

        await ctx.bus.subscribe(subjects.ctl_kill(), on_kill, message_type=KillSwitch)

    async def stop(self) -> None:
        self.stopped = True


def _config(tmp_path, **extra):
    env = {
        "ORGANISM__ORGANISM__DATA_DIR": str(tmp_path),
        "ORGANISM__METRICS__ENABLED": "false",
        "ORGANISM__HEARTBEAT__INTERVAL_S": "0.2",
        **extra,
    }
    return load_config(env=env)


async def test_agents_take_time_from_the_replay_clock(nats_server, tmp_path):
    config = _config(tmp_path, ORGANISM__CLOCK__SOURCE="replay")
    probe, stop = Probe(), asyncio.Event()
    task = asyncio.create_task(run_agent(probe, config, url=nats_server.url, stop=stop,
                                         handle_signals=False, log_to_file=False))
    driver = await Bus.connect(ConnectOptions(url=nats_server.url, name="replay-driver"))
    replay_time = 1_600_000_000_000_000_000
    now = time.time_ns()

    async def tick_and_kill() -> bool:
        await driver.publish(subjects.sys_clock(), ClockTick(ts_event=now, ts_init=now, now=replay_time))
        await driver.publish(subjects.ctl_kill(), KillSwitch(ts_event=now, ts_init=now, operator="t", reason="x"))
        await driver.flush()
        return any(t == replay_time for _, t in probe.heard)

    await eventually(tick_and_kill, timeout=15, interval=0.1, what="the probe to see replay time")
    stop.set()
    assert await asyncio.wait_for(task, 15) == 0
    assert probe.stopped
    await driver.drain()


async def test_the_bus_reconnects_after_the_broker_restarts(tmp_path):
    port = free_port()
    broker = EmbeddedBroker(store_dir=tmp_path / "js", port=port).start()
    listener = await Bus.connect(ConnectOptions(url=broker.url, name="listener", reconnect_wait_s=0.2))
    got: list[str] = []

    async def on(d: Delivery):
        got.append(d.message.reason)

    await listener.subscribe(subjects.ctl_resume(), on)
    await listener.flush()
    broker.stop()
    broker = EmbeddedBroker(store_dir=tmp_path / "js", port=port).start()
    try:
        sender = await Bus.connect(ConnectOptions(url=broker.url, name="sender"))
        now = time.time_ns()
        from schemas import ResumeTrading

        async def delivered() -> bool:
            await sender.publish(subjects.ctl_resume(),
                                 ResumeTrading(ts_event=now, ts_init=now, operator="t", reason="back"))
            await sender.flush()
            return bool(got)

        await eventually(delivered, timeout=20, interval=0.2, what="delivery after the restart")
        assert got[0] == "back"
        await sender.drain()
        await listener.drain()
    finally:
        broker.stop()


class Stubborn(Probe):
    """A background task that swallows its first cancellation and loops on, as a loop around
    Python 3.11's asyncio.wait_for can when the cancel lands as the timeout fires."""

    name = "stubborn"

    async def start(self, ctx: AgentContext) -> None:
        self.rounds = 0

        async def loop() -> None:
            swallowed = False
            while True:
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed = True
                self.rounds += 1

        ctx.spawn(loop(), "stubborn")


async def test_a_task_that_swallows_a_cancellation_does_not_hang_the_stop(nats_server, tmp_path):
    agent, stop = Stubborn(), asyncio.Event()
    task = asyncio.create_task(run_agent(agent, _config(tmp_path), url=nats_server.url,
                                         stop=stop, handle_signals=False, log_to_file=False))
    await eventually(lambda: getattr(agent, "rounds", 0) > 3, timeout=15, what="the loop")
    stop.set()
    assert await asyncio.wait_for(task, 15) == 0
    rounds = agent.rounds
    await asyncio.sleep(0.1)
    assert agent.rounds == rounds  # the loop is gone, not running on after the stop
