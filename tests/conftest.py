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
