"""The registry, the trader and `organism strategy` under the broker's generated permissions:
each writer may make its own changes, readers only read (issue 13's table)."""

from __future__ import annotations

import time

import pytest

from bus import subjects
from bus.permissions import may_publish
from bus.registry import Registry
from schemas import PerformanceMetrics, StrategyCandidate, StrategyControl
from tests.registry.conftest import NOW, make_entry


def test_the_table_lets_the_cli_hand_a_strategy_to_validation():
    assert may_publish("operator", subjects.evo_candidate())
    assert may_publish("operator", subjects.ctl_strategy("user_0_abc"))
    assert may_publish("trader", subjects.order_intent("paper", "gp_1_x"))
    assert not may_publish("trader", subjects.order_intent("paper", "operator"))
    assert not may_publish("trader", subjects.life_event("gp_1_x"))


async def test_writers_write_and_readers_only_read(connect_as):
    validation = await Registry.open(await connect_as("validation"), "validation")
    await validation.create(make_entry("gp_perm_1"), "passed")
    await validation.move("gp_perm_1", "paper", "minimal rule", NOW + 1)
    op_bus = await connect_as("operator")
    operator = await Registry.open(op_bus, "operator")
    await operator.set_flag("gp_perm_1", "paused", "looking", NOW + 2)
    await operator.move("gp_perm_1", "live", "by hand", NOW + 3)
    now = time.time_ns()
    await op_bus.publish_durable(subjects.ctl_strategy("gp_perm_1"), StrategyControl(
        ts_event=now, ts_init=now, strategy_id="gp_perm_1", action="flatten",
        operator="operator"), msg_id="ctl:gp_perm_1:flatten")
    await op_bus.publish_durable(subjects.evo_candidate(), StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id="user_0_perm", algorithm_type="user",
        generation=0, genome_hash="0" * 64, dsl="(strategy)", coin="BTC", interval="1h",
        data_spec="store:BTC/1h", in_sample=PerformanceMetrics(), trial_count=1),
        msg_id="user:user_0_perm")
    assert not op_bus.refusals

    trader_bus = await connect_as("trader")
    view = await (await Registry.open(trader_bus, "trader")).view()
    try:
        assert view.get("gp_perm_1").stage == "live"
    finally:
        await view.stop()
    kv = await trader_bus.kv("trader")
    await kv.put("s.gp_perm_1", b"{}")
    for user in ("trader", "risk", "evolution"):
        bus = await connect_as(user)
        kv = await bus.kv("registry")
        with pytest.raises(Exception):
            await kv.put("gp_perm_1", b"{}")
