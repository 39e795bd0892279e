"""Shared test set-up. Fixtures that need a broker live in tests/bus/conftest.py."""

from __future__ import annotations

import os

import agents.sections  # noqa: F401  (every config table registered, as the CLI does)

from hypothesis import HealthCheck, settings

# CI machines are shared and slow; hypothesis must judge properties, not wall-clock speed.
settings.register_profile(
    "organism",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("organism")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    """A real nats-server with JetStream on a free loopback port, one per test module."""
    from bus.broker import EmbeddedBroker

    with EmbeddedBroker(store_dir=tmp_path_factory.mktemp("js")) as broker:
        yield broker


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory):
    """A real nats-server running the generated permissions (bus/permissions.py) with fresh
    credentials, provisioned as admin, one per test module: `await secured_nats.connect(user)`
    is a Bus logged in as that user; `secured_nats.env(user)` the environment for a child
    process running as it (tests/secured_broker.py)."""
    from tests.secured_broker import start_secured

    secured = start_secured(tmp_path_factory.mktemp("secured"))
    try:
        yield secured
    finally:
        secured.broker.stop()


@pytest.fixture
async def connect_as(secured_nats):
    """`await connect_as("risk")`: a Bus on `secured_nats` logged in as that user, drained at
    the end of the test."""
    opened = []

    async def connect(user: str, name: str | None = None, **kw):
        bus = await secured_nats.connect(user, name, **kw)
        opened.append(bus)
        return bus

    yield connect
    for bus in opened:
        if not bus.nc.is_closed:
            await bus.drain()
