"""The risk agent on a real nats-server: intents in, one decision each, commands only for the
approved, durable through redeliveries and restarts."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import msgspec
import pytest

from agents.risk.book import AccountBook, DecisionRecord
from bus import subjects
from bus.state import TypedKV
from schemas import (
    OPERATOR,
    DenyReason,
    OrderApproved,
    OrderDenied,
    SubmitOrder,
    TradingStateChanged,
    cloid_for,
)
from settings import load_config
from tests.bus.helpers import eventually
from tests.risk.factories import SID, intent


async def stored(bus, stream: str, subject: str) -> int:
    """How many messages `stream` holds on `subject` (wildcards allowed)."""
    info = await bus.js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_an_approved_intent_becomes_one_command_a_denied_one_none(make_world):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    await w.intent(intent("0.01", intent_id="ok-1"))
    ok = await w.decision("ok-1")
    assert isinstance(ok, OrderApproved) and ok.command_id == "cmd-ok-1"
    cmd = await eventually(lambda: next((c for c in w.seen["cmd"] if c.intent_id == "ok-1"),
                                        None), what="the command")
    assert isinstance(cmd, SubmitOrder) and cmd.cloid == cloid_for("ok-1")
    assert cmd.origin == "intent" and cmd.account == "paper"
    await w.intent(intent("0.0001", intent_id="small"))  # $6
    no = await w.decision("small")
    assert isinstance(no, OrderDenied) and no.reason == DenyReason.MIN_NOTIONAL
    assert no.numbers["limit"] == "10.00"
    await w.intent(intent(strategy_id="stranger", intent_id="who"))
    assert (await w.decision("who")).reason == DenyReason.UNKNOWN_STRATEGY
    assert await stored(w.bus, "EXEC_CMD", subjects.exec_cmd("*", "*")) == 1
    # stored where they belong, with derived msg ids
    assert await stored(w.bus, "ORDERS", subjects.risk_decision("paper", SID)) == 2
    assert await stored(w.bus, "ORDERS", subjects.risk_decision("paper", "stranger")) == 1


async def test_a_redelivered_or_repeated_intent_gets_its_one_decision(make_world):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    it = intent("0.01", intent_id="twice")
    await w.intent(it, msg_id="first")
    first = await w.decision("twice")
    await w.intent(it, msg_id="second")  # stored again: a second delivery of the same intent
    await w.intent(intent("0.02", intent_id="after"))  # decided after the repeat
    await w.decision("after")
    assert await stored(w.bus, "ORDERS", subjects.risk_decision("paper", SID)) == 2
    assert await stored(w.bus, "EXEC_CMD", subjects.exec_cmd("*", "*")) == 2
    # and after a restart, with the KV record the only memory: still one
    assert await w.stop_risk() == 0
    await w.intent(it, msg_id="third")
    await w.start_risk()
    await w.intent(intent("0.01", intent_id="marker"))
    await w.decision("marker")
    assert await stored(w.bus, "ORDERS", subjects.risk_decision("paper", SID)) == 3
    assert await stored(w.bus, "EXEC_CMD", subjects.exec_cmd("*", "*")) == 3
    decisions = TypedKV(await w.bus.kv("risk_decisions"))
    record = await decisions.get("twice", DecisionRecord)
    assert record.published and record.decision == first


async def test_a_decision_stored_but_not_published_is_published_after_a_restart(make_world):
    """Risk died between keeping its decision and sending it: the redelivery sends the stored
    decision and command (the same msg ids), not a new judgement."""
    w = await make_world()
    await w.ready_account()
    it = intent("0.01", intent_id="half")
    from agents.risk.checks import _approve
    from agents.risk.book import Now, RiskState
    from agents.risk.config import RiskSection

    _, approved, command = _approve(RiskState(config=RiskSection()), it,
                                    Now(clock=it.ts_event, wall=it.ts_event), {"note": "1"})
    decisions = TypedKV(await w.bus.kv("risk_decisions"))
    assert await decisions.create("half", DecisionRecord(decision=approved, command=command))
    await w.intent(it)
    await w.start_risk()
    got = await w.decision("half")
    assert got.numbers == {"note": "1"}  # the stored one
    await eventually(lambda: any(c.intent_id == "half" for c in w.seen["cmd"]))
    await eventually(lambda: decisions.get("half", DecisionRecord), what="record")
    assert (await decisions.get("half", DecisionRecord)).published


async def test_risk_down_intents_wait_then_the_backlog_is_decided(make_world):
    w = await make_world(max_orders=100)
    await w.ready_account()
    await w.start_risk()
    await w.intent(intent("0.01", intent_id="before"))
    await w.decision("before")
    assert await w.stop_risk() == 0
    for n in range(20):
        await w.intent(intent("0.001", intent_id=f"backlog-{n}", strategy_id=OPERATOR))
    info = await w.bus.js.consumer_info("ORDERS", "risk")
    assert info.num_pending == 20
    assert await stored(w.bus, "EXEC_CMD", subjects.exec_cmd("*", "*")) == 1  # nothing new reached execution
    await w.start_risk()
    for n in range(20):
        assert isinstance(await w.decision(f"backlog-{n}"), OrderApproved)
    await eventually(lambda: _count_is(w.bus, "EXEC_CMD", subjects.exec_cmd("*", "*"), 21), what="21 commands")


async def _count_is(bus, stream, subject, n):
    return await stored(bus, stream, subject) == n


async def test_state_and_cause_survive_a_restart(make_world):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    await w.kill(flatten=False, account="live", reason="going to lunch")
    changed = await w.trading("live", "HALTED")
    assert changed.reason == "kill switch by tester: going to lunch"
    books = TypedKV(await w.bus.kv("risk"))

    async def kept() -> bool:  # written to KV just after it is published
        return (await books.get("state.live", TradingStateChanged)).state == "HALTED"

    await eventually(kept, what="the HALTED state in KV")
    assert await w.stop_risk() == 0
    before = len(w.seen["state"])
    await w.start_risk()
    await w.intent(intent("0.01", account="live", strategy_id=OPERATOR, intent_id="after-lunch"))
    d = await w.decision("after-lunch")
    assert d.reason == DenyReason.KILL_SWITCH and "going to lunch" in d.detail
    # no new HALTED was announced: it never stopped being HALTED
    assert not any(m.account == "live" for m in w.seen["state"][before:])
    book = await books.get("book.live", AccountBook)
    assert book.trips["kill_switch"].cause == changed.reason
    await w.resume("live")
    assert (await w.trading("live", "ACTIVE")).previous == "HALTED"


async def test_an_order_passes_on_make_runs_defaults(make_world, tmp_path):
    """The default [risk] and [venue] (market data from the local exchange, whose 24 h volume
    counts only our own fills and which may publish no context for a while): an ordinary
    operator order passes."""
    defaults = load_config(env={}).risk  # type: ignore[attr-defined]
    w = await make_world(**{f: getattr(defaults, f) for f in defaults.__struct_fields__
                            if f not in ("heartbeat_timeout_s", "warmup_s", "tick_s")})
    assert w.config.venue.market_data == "sim" and w.config.market_data.mode == "live"
    await w.ready_account()
    await w.start_risk()
    await w.intent(intent("0.001", strategy_id=OPERATOR, intent_id="default"))
    d = await w.decision("default")
    assert isinstance(d, OrderApproved), d
    assert D(d.numbers["notional"]) == D("60")


@pytest.mark.parametrize("account", ["paper", "live"])
async def test_a_halt_of_one_account_leaves_the_other_trading(make_world, account):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    other = "live" if account == "paper" else "paper"
    await w.kill(flatten=False, account=account)
    await w.trading(account, "HALTED")
    await w.intent(intent("0.001", account=other, strategy_id=OPERATOR, intent_id="other"))
    assert isinstance(await w.decision("other"), OrderApproved)
    await w.intent(intent("0.001", account=account, strategy_id=OPERATOR, intent_id="this"))
    assert (await w.decision("this")).reason == DenyReason.KILL_SWITCH


__all__ = ["msgspec"]
