"""A real nats-server with JetStream on a free loopback port, per test module."""

from __future__ import annotations

import pytest

from bus.broker import EmbeddedBroker
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    with EmbeddedBroker(store_dir=tmp_path_factory.mktemp("js")) as broker:
        yield broker


@pytest.fixture
async def bus(nats_server):
    b = await Bus.connect(ConnectOptions(url=nats_server.url, name="test", initial_attempts=3))
    await provision(b.js)
    yield b
    await b.drain()
