"""Execution under the broker's permissions (bus/permissions.py), as `organism up` runs it: it
logs in as execution_paper, binds its durable, writes its bucket and events, and the broker
refuses it nothing; a command published by risk (the only user who may) reaches the venue."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from bus import subjects
from schemas.orders import cloid_for
from settings import JetStreamSection, Secret, Secrets
from tests.bus.helpers import eventually
from tests.execution.conftest import make_config, start_agent, submit


async def test_execution_runs_under_the_generated_permissions(secured_nats, sim, data_dir):
    config = msgspec.structs.replace(make_config(data_dir, sim),
                                     jetstream=JetStreamSection(provision=False))
    secrets = Secrets(nats_password=Secret(secured_nats.password("execution_paper")))
    running = await start_agent(config, secured_nats.url, secrets=secrets)
    risk = await secured_nats.connect("risk")
    try:
        cmd = submit("i-secured", size="0.1")
        await risk.publish_durable(subjects.exec_cmd("paper", "ETH"), cmd, msg_id="cmd:secured")
        forged = submit("i-secured-forged", origin="")
        await risk.publish_durable(subjects.exec_cmd("paper", "ETH"), forged, msg_id="forged")
        order = await eventually(lambda: running.agent.orders.get(cloid_for("i-secured")))
        await eventually(lambda: order.status == "filled", what="the order filled")
        await eventually(lambda: running.agent.reconciler.known.get("ETH", (0, 0))[0]
                         == Decimal("0.1"), what="the position published")
        await eventually(lambda: running.agent.ctx.bus.metrics.dead_letters >= 1,
                         what="the forged command dead-lettered")
        assert sim.call(lambda ex: ex.account(running.agent.address).szi("ETH")) == Decimal("0.1")
        assert not running.agent.ctx.bus.refusals, list(running.agent.ctx.bus.refusals)
        assert not risk.refusals
    finally:
        await risk.drain()
        assert await running.stop() == 0
