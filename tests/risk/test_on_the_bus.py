"""Every pre-trade check and every breaker through the real broker: the world around risk is
published by the test (execution's status, reports, fills and rejections; prices; the
operator), and what risk answers is read off the bus."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from bus import subjects
from schemas import (
    OPERATOR,
    DeactivationRequested,
    DenyReason,
    FeedStatus,
    FlattenRequested,
    OrderApproved,
    OrderFilled,
    OrderRejected,
    PositionReport,
    SubmitOrder,
)
from schemas.registry import Flag, Flags
from tests.bus.helpers import eventually
from tests.risk.factories import SID, entry, intent

R = DenyReason
S = 10**9


async def _position(w, coin="BTC", size="0.01", liq="51000"):
    now = time.time_ns()
    await w.event(subjects.exec_position("paper", coin), PositionReport(
        ts_event=now, ts_init=now, correlation_id="p", coin=coin, size=D(size), account="paper",
        liquidation_price=D(liq)))


async def _flag(w, **flags):
    f = Flag(reason="test", at=time.time_ns(), by="operator")
    await w.register(entry(flags=Flags(**{k: f for k in flags})))


# (risk config overrides, set-up before risk starts, intents to send; the last one's decision
#  must carry the code)
CHECKS = {
    R.STALE_INTENT: ({}, None, [intent(intent_id="x", t=1)]),
    R.INVALID_ORDER: ({}, None, [intent(kind="limit", intent_id="x")]),
    R.UNKNOWN_STRATEGY: ({}, None, [intent(strategy_id="stranger", intent_id="x")]),
    R.WRONG_ACCOUNT: ({}, None, [intent(account="live", intent_id="x")]),
    R.NO_PRICE: ({}, None, [intent(coin="SOL", intent_id="x")]),
    R.MIN_NOTIONAL: ({}, None, [intent("0.0001", intent_id="x")]),
    R.PRICE_BAND: ({}, None, [intent(kind="limit", limit_price=D("64000"), intent_id="x")]),
    R.RATE_LIMIT: (dict(max_orders=1), None, [intent(intent_id="a"), intent(intent_id="x")]),
    R.STRATEGY_NOTIONAL: (dict(max_strategy_notional_usd="500"), None, [intent(intent_id="x")]),
    R.COIN_NOTIONAL: (dict(max_coin_notional_usd="500"), None, [intent(intent_id="x")]),
    R.EQUITY_SHARE: (dict(max_equity_share=0.05), None, [intent(intent_id="x")]),
    R.LEVERAGE_LIMIT: (dict(max_leverage=0.05), None, [intent(intent_id="x")]),
    R.LIQUIDATION_DISTANCE: ({}, _position, [intent(intent_id="x")]),
    R.CAPITAL_AT_RISK: ({}, None, [intent("0.03", stop_price=D("50000"), intent_id="x")]),
    R.DAILY_TRADES: (dict(max_trades_per_day=1), None, [intent(intent_id="a"),
                                                        intent(intent_id="x")]),
    R.MIN_VOLUME: (dict(min_day_volume_usd={"sim": "1000000"}), None, [intent(intent_id="x")]),
    R.STRATEGY_PAUSED: ({}, lambda w: _flag(w, paused=True), [intent(intent_id="x")]),
    R.STRATEGY_DEACTIVATED: ({}, lambda w: _flag(w, deactivated=True), [intent(intent_id="x")]),
    R.EXECUTION_NOT_READY: ({}, None, [intent(strategy_id=OPERATOR, account="live",
                                              intent_id="x")]),
}


@pytest.mark.parametrize("code", list(CHECKS), ids=[c.value for c in CHECKS])
async def test_each_pre_trade_check_denies_with_its_code(make_world, code):
    config, setup, intents = CHECKS[code]
    w = await make_world(**config)
    if code == R.EXECUTION_NOT_READY:  # no account report from live yet
        await w.account("10000")
        await w.price("BTC")
        await w.price("ETH", "3000")
    else:
        await w.ready_account()
    if setup is not None:
        await setup(w)
    await w.start_risk()
    for it in intents:
        await w.intent(it, stamp=it.ts_event != 1)
    d = await w.decision("x")
    assert d.reason == code, d
    assert d.detail
    assert not any(c.intent_id == "x" for c in w.seen["cmd"])


async def test_stale_price_and_action_budget(make_world):
    """Price age runs on the organism's clock (a replay clock here); the action budget comes
    from execution's status."""
    t0 = 1_800_000_000 * S
    w = await make_world(clock="replay", max_price_age_s={"sim": 60.0})
    await w.tick(t0)
    await w.ready_account()
    await w.start_risk()
    await w.intent(intent(intent_id="fresh"))
    assert isinstance(await w.decision("fresh"), OrderApproved)
    w.marks.clear()  # market data goes quiet
    await w.tick(t0 + 61 * S)
    await w.intent(intent(intent_id="old-price"))
    assert (await w.decision("old-price")).reason == R.STALE_MARKET_DATA
    await w.price("BTC")
    w.status_fields["paper"] = {"actions_left": 12}
    await eventually(lambda: w.agent.state.live_of("paper").status.actions_left == 12)
    await w.intent(intent(intent_id="budget"))
    assert (await w.decision("budget")).reason == R.ACTION_BUDGET


async def test_drawdown_halts_and_flattens(make_world):
    w = await make_world()
    await w.ready_account(positions={"BTC": "0.05"})
    await w.start_risk()
    await w.account("11000", positions={"BTC": "0.05"})
    await w.account("9899", positions={"BTC": "0.05"})  # 10.01 % below $11000
    halted = await w.trading("paper", "HALTED")
    assert halted.breaker == "max_drawdown" and halted.flatten
    cmd = await eventually(lambda: next((c for c in w.seen["cmd"] if c.origin == "flatten"), None))
    assert isinstance(cmd, SubmitOrder) and (cmd.coin, cmd.side, cmd.size) == ("BTC", "sell",
                                                                               D("0.05"))
    assert cmd.reduce_only and cmd.strategy_id == "risk"
    flat = await eventually(lambda: w.seen["flatten"])
    assert isinstance(flat[0], FlattenRequested) and flat[0].by == "risk"
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.MAX_DRAWDOWN
    assert not any(m.account == "live" and m.state != "ACTIVE" for m in w.seen["state"])


async def test_daily_loss_halts_until_the_next_day(make_world):
    day = 86_400 * S
    t0 = (1_800_000_000 * S // day) * day + 3600 * S  # 01:00 on some day
    w = await make_world(clock="replay")
    await w.tick(t0)
    await w.ready_account()
    await w.start_risk()
    await w.account("9900")
    halted = await w.trading("paper", "HALTED")
    assert halted.breaker == "daily_loss" and halted.until == t0 - 3600 * S + day
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.DAILY_LOSS
    await w.tick(t0 + 23 * 3600 * S)  # the next day on the organism's clock
    assert (await w.trading("paper", "ACTIVE")).previous == "HALTED"


async def test_stale_feed_reduces(make_world):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    now = time.time_ns()
    await w.bus.publish(subjects.md_status(), FeedStatus(ts_event=now, ts_init=now, stream="book",
                                                         coin="BTC", state="stale"))
    reducing = await w.trading("paper", "REDUCING")
    assert reducing.breaker == "stale_market_data"
    await w.trading("live", "REDUCING")
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.STALE_MARKET_DATA
    await w.bus.publish(subjects.md_status(), FeedStatus(ts_event=now, ts_init=now, stream="book",
                                                         coin="BTC", state="live"))
    await w.trading("paper", "ACTIVE")


@pytest.mark.parametrize("agent", ["execution_paper", "market_data"])
async def test_a_silent_heartbeat_halts(make_world, agent):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    w.silent.add(agent)
    halted = await w.trading("paper", "HALTED")
    assert halted.breaker == "agent_silent" and agent in halted.reason
    if agent == "market_data":
        await w.trading("live", "HALTED")
    else:
        assert all(m.state == "ACTIVE" for m in w.seen["state"] if m.account == "live")
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.AGENT_SILENT
    w.silent.discard(agent)
    await w.trading("paper", "ACTIVE")


async def test_execution_not_ready_halts(make_world):
    w = await make_world()
    await w.ready_account()
    await w.start_risk()
    w.statuses["paper"] = "reconciling"
    halted = await w.trading("paper", "HALTED")
    assert halted.breaker == "execution_not_ready" and "reconciling" in halted.reason
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.EXECUTION_NOT_READY
    w.statuses["paper"] = "ready"
    w.status_fields["paper"] = {"vpn_ok": False}
    assert "VPN down" in (await eventually(
        lambda: next((m for m in reversed(w.seen["state"]) if "VPN" in m.reason), None))).reason


async def test_repeated_rejections_reduce(make_world):
    w = await make_world(max_rejections=3)
    await w.ready_account()
    await w.start_risk()
    for n in range(3):
        now = time.time_ns()
        await w.event(subjects.exec_event("paper", "rejected", "BTC"), OrderRejected(
            ts_event=now, ts_init=now, correlation_id=f"r{n}", command_id=f"c{n}", coin="BTC",
            cloid="0x" + "0" * 32, reason="Insufficient margin to place order.",
            account="paper"))
    reducing = await w.trading("paper", "REDUCING")
    assert reducing.breaker == "exchange_errors"
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.EXCHANGE_ERRORS
    await w.resume("paper")
    await w.trading("paper", "ACTIVE")


async def test_kill_switch_halts_and_flattens(make_world):
    w = await make_world()
    await w.ready_account(positions={"BTC": "-0.02", "ETH": "0.5"})
    await w.start_risk()
    await w.kill(flatten=True, account="paper", reason="drill")
    halted = await w.trading("paper", "HALTED")
    assert halted.breaker == "kill_switch" and halted.reason == "kill switch by tester: drill"
    closes = await eventually(lambda: len([c for c in w.seen["cmd"] if c.origin == "flatten"])
                              == 2 and [c for c in w.seen["cmd"] if c.origin == "flatten"])
    assert {(c.coin, c.side, c.size) for c in closes} == {("BTC", "buy", D("0.02")),
                                                          ("ETH", "sell", D("0.5"))}
    flat = await eventually(lambda: w.seen["flatten"])
    assert flat[0].by == "operator" and flat[0].account == "paper"
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.KILL_SWITCH
    # while HALTED, the operator may close what is left, nothing more
    await w.intent(intent("0.5", "sell", coin="ETH", strategy_id=OPERATOR, intent_id="part"))
    assert (await w.decision("part")).reason == R.KILL_SWITCH  # the flatten is already pending
    await w.resume("paper")
    await w.trading("paper", "ACTIVE")


async def test_a_strategy_in_deep_drawdown_is_deactivated(make_world):
    w = await make_world()  # validated 5 %, k = 2, capital 0.1 x $10000: deactivated past $100
    await w.ready_account()
    await w.start_risk()
    now = time.time_ns()
    await w.event(subjects.exec_event("paper", "filled", "BTC"), OrderFilled(
        ts_event=now, ts_init=now, correlation_id="f", coin="BTC", cloid="0x" + "1" * 32,
        venue_order_id=1, fill_id="t-1", side="buy", price=D("60000"), size=D("0.01"),
        fee=D("0.27"), liquidity="taker", strategy_id=SID, account="paper"))
    await w.price("BTC", "49000")  # -$110.27
    req = await eventually(lambda: w.seen["deactivate"], what="a deactivation request")
    assert isinstance(req[0], DeactivationRequested) and req[0].strategy_id == SID
    assert req[0].limit == pytest.approx(0.1) and req[0].drawdown > 0.1
    await w.intent(intent(intent_id="x"))
    assert (await w.decision("x")).reason == R.STRATEGY_DEACTIVATED
