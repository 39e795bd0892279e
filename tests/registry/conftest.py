"""Registry test set-up: a provisioned bus on the module's nats-server, and entry factories."""

from __future__ import annotations

import pytest

from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from schemas.registry import Origin, RegistryEntry, ValidationSummary

NOW = 1_700_000_000_000_000_000


def make_entry(strategy_id: str = "gp_1_abcdef12", *, coin: str = "BTC", interval: str = "1h",
               score: float = 50.0, kind: str = "evolved", now: int = NOW) -> RegistryEntry:
    return RegistryEntry(
        ts_event=now, ts_init=now, strategy_id=strategy_id,
        dsl="(strategy (entry-long (cross-above (ema close 12) (ema close 26))) "
            "(exit-long (cross-below (ema close 12) (ema close 26))))",
        coin=coin, interval=interval, stage="validated", account="paper", stage_since=now,
        validation=ValidationSummary(in_sample_sharpe=2.5, out_of_sample_sharpe=2.1,
                                     walk_forward_sharpe=2.2, max_drawdown=0.05,
                                     trades_per_day=1.5, score=score),
        origin=Origin(kind=kind, algorithm="gp" if kind == "evolved" else "user"),
    )


async def connect(url: str, name: str = "test") -> Bus:
    return await Bus.connect(ConnectOptions(url=url, name=name, initial_attempts=3))


@pytest.fixture
async def bus(nats_server):
    b = await connect(nats_server.url)
    await provision(b.js)
    yield b
    await b.drain()
