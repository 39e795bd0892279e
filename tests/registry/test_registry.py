"""The registry against a real nats-server: compare-and-set writes, lifecycle events, the view,
and two concurrent writers that never lose each other's change."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus import subjects
from bus.codec import decode
from bus.jetstream import provision
from bus.registry import IllegalChange, Registry, StrategyExists, StrategyNotFound
from schemas import LifecycleEvent
from tests.bus.helpers import eventually
from tests.registry.conftest import NOW, connect, make_entry


async def lifecycle_events(bus, strategy_id):
    sub = await bus.js.subscribe(subjects.life_event(strategy_id), ordered_consumer=True)
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(decode(msg.data, LifecycleEvent))
    except Exception:
        pass
    finally:
        await sub.unsubscribe()
    return out


async def test_create_get_entries_and_no_second_create(bus):
    reg = await Registry.open(bus, "validation")
    e = await reg.create(make_entry("gp_c_1"), "passed validation (score 50.0)")
    assert e.history[0].reason == "passed validation (score 50.0)"
    assert (await reg.get("gp_c_1")) == e
    assert await reg.get("gp_nothing") is None
    with pytest.raises(StrategyNotFound, match="organism strategy list"):
        await reg.require("gp_nothing")
    with pytest.raises(StrategyExists):
        await reg.create(make_entry("gp_c_1"), "again")
    assert "gp_c_1" in {x.strategy_id for x in await reg.entries()}
    events = await lifecycle_events(bus, "gp_c_1")
    assert [(x.from_stage, x.to_stage) for x in events] == [(None, "validated")]


async def test_moves_publish_their_reason_and_illegal_ones_change_nothing(bus):
    val = await Registry.open(bus, "validation")
    op = await Registry.open(bus, "operator")
    await val.create(make_entry("gp_m_1"), "passed")
    await val.move("gp_m_1", "paper", "minimal rule", NOW + 1)
    again = await val.move("gp_m_1", "paper", "minimal rule", NOW + 2)  # already there: no-op
    assert again.stage_since == NOW + 1
    with pytest.raises(IllegalChange, match="lifecycle and operator may"):
        await val.move("gp_m_1", "live", "no", NOW + 3)
    e = await op.move("gp_m_1", "live", "by hand", NOW + 4)
    assert (e.stage, e.account) == ("live", "live")
    await op.move("gp_m_1", "retired", "enough", NOW + 5)
    with pytest.raises(IllegalChange, match="retired"):
        await op.move("gp_m_1", "paper", "revive", NOW + 6)
    events = await lifecycle_events(bus, "gp_m_1")
    assert [(x.from_stage, x.to_stage, x.reason) for x in events] == [
        (None, "validated", "passed"), ("validated", "paper", "minimal rule"),
        ("paper", "live", "by hand"), ("live", "retired", "enough")]
    e = await op.require("gp_m_1")
    assert [c.stage for c in e.history] == ["validated", "paper", "live", "retired"]


async def test_readers_cannot_write(bus):
    await (await Registry.open(bus, "validation")).create(make_entry("gp_r_1"), "passed")
    risk = await Registry.open(bus, "risk")
    assert (await risk.get("gp_r_1")).stage == "validated"
    with pytest.raises(IllegalChange):
        await risk.set_flag("gp_r_1", "paused", "no", NOW)
    with pytest.raises(IllegalChange):
        await risk.move("gp_r_1", "paper", "no", NOW)


async def test_flags_set_once_and_clear(bus):
    await (await Registry.open(bus, "validation")).create(make_entry("gp_f_1"), "passed")
    op = await Registry.open(bus, "operator")
    e = await op.set_flag("gp_f_1", "paused", "operator pause", NOW + 1)
    assert e.flags.paused.reason == "operator pause" and e.flags.paused.by == "operator"
    e = await op.set_flag("gp_f_1", "paused", "second", NOW + 2)
    assert e.flags.paused.at == NOW + 1
    e = await op.clear_flag("gp_f_1", "paused", "resume", NOW + 3)
    assert e.flags.paused is None


async def test_the_view_holds_current_entries_then_follows_changes(bus):
    val = await Registry.open(bus, "validation")
    await val.create(make_entry("gp_v_1"), "passed")
    seen = []
    view = await (await Registry.open(bus, "trader")).view(on_change=seen.append)
    try:
        assert view.get("gp_v_1").stage == "validated"
        await val.move("gp_v_1", "paper", "rule", NOW + 1)
        await eventually(lambda: view.get("gp_v_1").stage == "paper", what="view follows")
        assert any(e.strategy_id == "gp_v_1" and e.stage == "paper" for e in seen)
        assert "gp_v_1" in {e.strategy_id for e in view.trading()}
    finally:
        await view.stop()


async def test_two_writers_never_lose_a_change(nats_server, bus):
    """Two processes' worth of writers (own connections) hammer one key with read-modify-writes;
    every change they were told succeeded is in the final value, exactly once."""
    await (await Registry.open(bus, "validation")).create(make_entry("gp_cas_1"), "passed")
    a_bus, b_bus = await connect(nats_server.url, "a"), await connect(nats_server.url, "b")
    try:
        a = await Registry.open(a_bus, "validation")
        b = await Registry.open(b_bus, "lifecycle")

        def append(x):
            def change(e):
                v = e.validation
                return msgspec.structs.replace(
                    e, validation=msgspec.structs.replace(v, trade_returns=[*v.trade_returns, x]))
            return change

        await asyncio.gather(
            *(a.update("gp_cas_1", append(float(i))) for i in range(40)),
            *(b.update("gp_cas_1", append(float(100 + i))) for i in range(40)),
            b.set_flag("gp_cas_1", "decaying", "live Sharpe down", NOW + 1),
            b.move("gp_cas_1", "paper", "lifecycle", NOW + 2),
        )
        e = await a.require("gp_cas_1")
        assert sorted(e.validation.trade_returns) == [float(i) for i in range(40)] + [
            float(100 + i) for i in range(40)]
        assert e.flags.decaying is not None and e.stage == "paper"
    finally:
        await a_bus.drain()
        await b_bus.drain()


OPS = st.sampled_from(["pause", "resume", "append", "limits", "promote", "decay"])


@settings(max_examples=12)
@given(ops_a=st.lists(OPS, min_size=1, max_size=8), ops_b=st.lists(OPS, min_size=1, max_size=8))
def test_property_concurrent_writers_each_keep_their_changes(nats_server, ops_a, ops_b):
    """Whatever the two writers (the operator and lifecycle) do concurrently, the final entry is
    what *some* serial order of their writes gives: every append is present once, and the last
    write of each field by either writer is the one kept."""

    async def run():
        main = await connect(nats_server.url, "main")
        await provision(main.js)
        key = f"gp_prop_{abs(hash((tuple(ops_a), tuple(ops_b)))) % 10**12}_{id(ops_a)}"
        await (await Registry.open(main, "validation")).create(make_entry(key), "passed")
        buses = [await connect(nats_server.url, n) for n in ("op", "life")]
        try:
            regs = [await Registry.open(buses[0], "operator"),
                    await Registry.open(buses[1], "lifecycle")]
            appended = []

            async def play(reg, ops, tag):
                for n, op in enumerate(ops):
                    if op == "pause":
                        await reg.set_flag(key, "paused", tag, NOW)
                    elif op == "resume":
                        await reg.clear_flag(key, "paused", tag, NOW)
                    elif op == "append" and reg.writer == "lifecycle":
                        x = float(n)
                        appended.append(x)
                        await reg.update(key, lambda e, x=x: msgspec.structs.replace(
                            e, validation=msgspec.structs.replace(
                                e.validation, trade_returns=[*e.validation.trade_returns, x])))
                    elif op == "limits":
                        await reg.update(key, lambda e, n=n: msgspec.structs.replace(
                            e, limits=msgspec.structs.replace(e.limits, max_trades_per_day=n)))
                    elif op == "promote":
                        await reg.move(key, "paper", tag, NOW)
                    elif op == "decay" and reg.writer == "lifecycle":
                        await reg.set_flag(key, "decaying", tag, NOW)

            await asyncio.gather(play(regs[0], ops_a, "a"), play(regs[1], ops_b, "b"))
            e = await regs[0].require(key)
            assert sorted(e.validation.trade_returns) == sorted(appended)
            # each writer's own flag writes are in order; the two writers' last ones may land
            # either way round, so the result is known when they agree (or only one wrote)
            last_flag = {[op for op in ops if op in ("pause", "resume")][-1]
                         for ops in (ops_a, ops_b) if {"pause", "resume"} & set(ops)}
            if last_flag == {"pause"}:
                assert e.flags.paused is not None
            if last_flag == {"resume"}:
                assert e.flags.paused is None
            if "decay" in ops_b:
                assert e.flags.decaying is not None
            if "promote" in ops_a + ops_b:
                assert e.stage == "paper"
                assert [c.stage for c in e.history].count("paper") == 1
            else:
                assert e.stage == "validated"
        finally:
            for b in buses:
                await b.drain()
            await main.drain()

    asyncio.run(run())
