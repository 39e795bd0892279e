"""What the end-to-end tests share: the local exchange with both accounts' generated keys funded,
the organism's config pointing at it and at the secured broker, agents run in-process each as its
own broker user, and reading back what JetStream stored (as the dashboard reads it)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from agents.execution.config import ExecutionConfig
from bus.codec import decode
from bus.jetstream import stream_for
from bus.runtime import run_agent
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
from venue.config import AccountVenue, VenueSection
from venue.keys import local_address
from venue.testing import SimThread, quiet_config


@pytest.fixture
def sim(secured_nats):
    """The local exchange in real time (a synthetic market ticking every 250 ms, 10 hours of
    minute history), both accounts' generated keys funded."""
    data = secured_nats.data_dir
    accounts = [local_address(data, a) for a in ("paper", "live")]
    with SimThread(quiet_config(*accounts, market="synthetic", tick_ms=250,
                                history_minutes=600)) as venue:
        yield venue


def organism_config(data, sim: SimThread, coins: tuple[str, ...] = ("BTC",), **sections):
    """The organism's config on `data`, trading `sim` on both accounts, 1m candles of `coins`."""
    host, port = sim.url.rsplit("//", 1)[1].split(":")
    venue = VenueSection(sim=msgspec.structs.replace(sim.config, host=host, port=int(port)),
                         paper=AccountVenue(), live=AccountVenue())
    return default_config(
        organism=OrganismSection(data_dir=str(data)), metrics=MetricsSection(enabled=False),
        heartbeat=HeartbeatSection(interval_s=0.5),
        market=MarketSection(coins=list(coins), intervals=["1m"]),
        jetstream=JetStreamSection(provision=False), venue=venue,
        execution=ExecutionConfig(start_timeout_s=20.0, ack_timeout_s=2.0, venue_lag_s=2.0,
                                  request_timeout_s=5.0, retries=4, backoff_initial_s=0.05,
                                  backoff_max_s=0.5), **sections)


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


async def stored(bus, subject: str) -> list:
    """Every message JetStream stored on `subject` (a reader's consumer, as the dashboard's)."""
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
