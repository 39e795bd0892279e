"""A real nats-server running the generated permissions (bus/permissions.py), as `organism up`
runs it: fresh credentials, streams and buckets provisioned as admin, one user per process.

Use the `secured_nats` fixture (tests/conftest.py):

    async def test_something(secured_nats):
        risk = await secured_nats.connect("risk")          # a Bus logged in as risk
        env = secured_nats.env("execution_paper")          # for a child `organism agent ...`
        ...
        assert not risk.refusals                           # the broker refused nothing

or the function-scoped `connect_as` fixture, which drains what it opened at the end of the test:

    async def test_other(connect_as):
        trader = await connect_as("trader")

`connect(user)` goes through Bus.connect like an agent does (own inbox prefix, password); the
broker's refusals of that connection ("Permissions Violation ...") collect in `bus.refusals`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bus.broker import EmbeddedBroker
from bus.connection import Bus, ConnectOptions
from bus.credentials import Credentials, load_or_create, secured_broker
from bus.jetstream import provision
from bus.permissions import ADMIN


@dataclass
class SecuredBroker:
    broker: EmbeddedBroker
    credentials: Credentials
    data_dir: Path

    @property
    def url(self) -> str:
        return self.broker.url

    def password(self, user: str) -> str:
        pw = self.credentials.password(user)
        if pw is None:
            raise KeyError(f"no NATS user {user!r} in bus/permissions.py")
        return pw.reveal()

    def options(self, user: str, name: str | None = None, **kw) -> ConnectOptions:
        return ConnectOptions(url=self.url, name=name or user, user=user,
                              password=self.password(user), initial_attempts=3, **kw)

    async def connect(self, user: str, name: str | None = None, **kw) -> Bus:
        """A Bus logged in as `user` (request timeout 2 s unless given)."""
        kw.setdefault("request_timeout_s", 2.0)
        return await Bus.connect(self.options(user, name, **kw))

    def env(self, user: str) -> dict[str, str]:
        """Environment for a child process running as `user` (as `organism up` gives it)."""
        return {
            "ORGANISM__NATS__URL": self.url,
            "ORGANISM_NATS_PASSWORD": self.password(user),
            "ORGANISM__JETSTREAM__PROVISION": "false",
        }


def start_secured(data_dir: Path) -> SecuredBroker:
    """Credentials under `data_dir`, the broker started on a free port, provisioned as admin."""
    creds = load_or_create(data_dir)
    broker = secured_broker(data_dir, creds, store_dir=data_dir / "nats",
                            log_file=data_dir / "nats.log").start()
    secured = SecuredBroker(broker, creds, data_dir)

    async def provision_as_admin() -> None:
        admin = await Bus.connect(secured.options(ADMIN, "provision"))
        await provision(admin.js)
        await admin.drain()

    try:
        asyncio.run(provision_as_admin())
    except BaseException:
        broker.stop()
        raise
    return secured
