"""The `bus` fixture: a typed Bus on the module's nats_server (tests/conftest.py), provisioned."""

from __future__ import annotations

import pytest

from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision


@pytest.fixture
async def bus(nats_server):
    b = await Bus.connect(ConnectOptions(url=nats_server.url, name="test", initial_attempts=3))
    await provision(b.js)
    yield b
    await b.drain()
