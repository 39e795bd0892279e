"""Execution against real parts: a nats-server with JetStream, the local exchange on a free port
(venue.testing.SimThread, its own thread), the agent in this test's event loop (or as a process
that a test can SIGKILL), and the real SDK for anything done behind the agent's back."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from agents.execution.agent import ExecutionAgent
from agents.execution.config import ExecutionConfig
from bus import subjects
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.runtime import run_agent
from schemas import SubmitOrder
from schemas.orders import cloid_for
from settings import HeartbeatSection, MarketSection, MetricsSection, OrganismSection, default_config
from venue.config import AccountVenue, VenueSection
from venue.keys import local_address
from venue.testing import SimThread, quiet_config


def make_config(data_dir: Path, sim: SimThread, **execution) -> object:
    host, port = sim.url.rsplit("//", 1)[1].split(":")
    fields = dict(start_timeout_s=10.0, ack_timeout_s=1.0, venue_lag_s=2.0, request_timeout_s=2.0,
                  retries=4, backoff_initial_s=0.05, backoff_max_s=0.5, reconcile_interval_s=60.0,
                  rate_limit_refresh_s=5.0)
    fields.update(execution)
    venue = VenueSection(sim=msgspec.structs.replace(sim.config, host=host, port=int(port)),
                         paper=AccountVenue(), live=AccountVenue())
    return default_config(
        organism=OrganismSection(data_dir=str(data_dir)), metrics=MetricsSection(enabled=False),
        heartbeat=HeartbeatSection(interval_s=0.2), market=MarketSection(coins=["BTC", "ETH"]),
        venue=venue, execution=ExecutionConfig(**fields))


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sim(data_dir):
    """The local exchange funding the paper and live accounts of `data_dir` (10,000 USDC each)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    addresses = [local_address(data_dir, a) for a in ("paper", "live")]
    with SimThread(quiet_config(*addresses)) as venue:
        yield venue


@pytest.fixture
async def bus(nats_server):
    """A bus on the module's broker, with the execution state of earlier tests gone (each test
    has a fresh venue)."""
    from nats.js.errors import NotFoundError

    b = await Bus.connect(ConnectOptions(url=nats_server.url, name="test", initial_attempts=3))
    await provision(b.js)
    for account in ("paper", "live"):
        try:
            await b.js.delete_consumer("EXEC_CMD", f"execution_{account}")
        except NotFoundError:
            pass
        await b.js.delete_key_value(f"exec_{account}")
    for stream in ("EXEC_CMD", "EXEC_EVENTS", "DEADLETTER"):
        await b.js.purge_stream(stream)
    await provision(b.js)
    yield b
    await b.drain()


class Running:
    """An execution agent running in this event loop until `stop()`."""

    def __init__(self, agent: ExecutionAgent, task: asyncio.Task, stop: asyncio.Event) -> None:
        self.agent, self.task, self._stop = agent, task, stop

    async def stop(self) -> int:
        self._stop.set()
        return await asyncio.wait_for(self.task, 30)


async def start_agent(config, url: str, account: str = "paper", secrets=None) -> Running:
    agent = ExecutionAgent(account)
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(agent, config, url=url, stop=stop, handle_signals=False,
                                         log_to_file=False, secrets=secrets))
    deadline = time.monotonic() + 30
    while agent.state != "ready":
        if task.done():
            raise AssertionError(f"the agent stopped: exit {task.result()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the agent is not ready: {agent.state} {agent.reason}")
        await asyncio.sleep(0.02)
    return Running(agent, task, stop)


def orders_at_venue(sim: SimThread, cloid: str) -> int:
    """How many orders the local exchange holds with `cloid` (any state)."""
    return sim.call(lambda ex: sum(1 for r in ex.records.values() if r.order.cloid == cloid))


def submit(intent_id: str, *, coin: str = "ETH", side: str = "buy", size: str = "0.1",
           account: str = "paper", origin: str = "intent", kind: str = "market",
           limit: str | None = None, reference: str | None = "3000", tif: str | None = None,
           **extra) -> SubmitOrder:
    now = time.time_ns()
    return SubmitOrder(
        ts_event=now, ts_init=now, correlation_id=intent_id, command_id=f"cmd-{intent_id}",
        intent_id=intent_id, strategy_id="s1", coin=coin, side=side, size=Decimal(size),
        kind=kind, limit_price=Decimal(limit) if limit else None,
        time_in_force=tif or ("Gtc" if kind == "limit" else "Ioc"), cloid=cloid_for(intent_id),
        account=account, origin=origin, reference_price=Decimal(reference) if reference else None,
        **extra)


async def send(bus: Bus, cmd) -> None:
    await bus.publish_durable(subjects.exec_cmd(cmd.account, cmd.coin), cmd,
                              msg_id=f"cmd:{cmd.command_id}")


class Recorder:
    """Every message on the account's execution subjects, by type."""

    def __init__(self) -> None:
        self.messages: list = []

    async def on(self, d) -> None:
        self.messages.append(d.message)

    def of(self, cls: type, **match) -> list:
        return [m for m in self.messages if isinstance(m, cls)
                and all(getattr(m, k) == v for k, v in match.items())]


async def record(bus: Bus, account: str = "paper") -> Recorder:
    rec = Recorder()
    for pattern in (f"exec.event.{account}.>", f"exec.position.{account}.>",
                    f"exec.account.{account}", f"exec.status.{account}"):
        await bus.subscribe(pattern, rec.on)
    return rec


def write_config(path: Path, data_dir: Path, sim: SimThread, nats_url: str, **execution) -> Path:
    """The same settings as make_config, as a TOML file for an agent run as a process."""
    host, port = sim.url.rsplit("//", 1)[1].split(":")
    fields = dict(start_timeout_s=10.0, ack_timeout_s=1.0, venue_lag_s=2.0, request_timeout_s=2.0,
                  retries=4, backoff_initial_s=0.05, backoff_max_s=0.5)
    fields.update(execution)
    lines = [f'[organism]\ndata_dir = "{data_dir}"\n', f'[nats]\nurl = "{nats_url}"\n',
             "[metrics]\nenabled = false\n", "[heartbeat]\ninterval_s = 0.2\n",
             '[market]\ncoins = ["BTC", "ETH"]\n',
             f'[venue.sim]\nhost = "{host}"\nport = {port}\n', "[execution]"]
    for key, value in fields.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def spawn_agent(config_file: Path, log: Path, account: str = "paper"):
    """`python -m agents.execution --account ...` as a process (a test may SIGKILL it)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    return subprocess.Popen(
        [sys.executable, "-m", "agents.execution", "--account", account, "--config",
         str(config_file)], stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env,
        cwd=Path(__file__).resolve().parents[2])
