"""Each breaker on its own (pure functions, no broker): what trips it, the state and cause it
leaves, what lifts it, and the flatten it sends."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import msgspec

from agents.risk import engine
from agents.risk.book import Now
from agents.risk.breakers import trading_state
from agents.risk.checks import decide
from schemas import (
    OPERATOR,
    CancelOrder,
    DeactivationRequested,
    DenyReason,
    FeedStatus,
    FlattenRequested,
    KillSwitch,
    OrderApproved,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    ResumeTrading,
    SubmitOrder,
    TradingStateChanged,
    cloid_for,
)
from schemas.registry import Flag, Flags
from tests.risk.factories import (
    NOW,
    SID,
    T0,
    account_report,
    ctx,
    entry,
    heartbeat,
    intent,
    ready_state,
    status,
)

DAY = 86_400 * 10**9


def settled(state, now=NOW):
    state, outs = engine.settle(state, now)
    return state, [o.message for o in outs]


def state_of(state, account="paper", now=NOW):
    return trading_state(state, account, now)


def report(state, equity, transfers="10000", positions=None, now=NOW, seq=0):
    return engine.on_exec(state, account_report("paper", equity, transfers, positions,
                                                t=now.clock), seq, now)


def test_a_ready_account_is_active_and_says_so_once():
    state, msgs = settled(ready_state())
    assert state_of(state).state == "ACTIVE"
    assert msgs == []  # ACTIVE from the start: no change to publish


def test_drawdown_from_the_high_water_mark_halts_and_flattens():
    state = ready_state(positions={"BTC": "0.05", "ETH": "-1"})
    state, outs = report(state, "11000", positions={"BTC": "0.05", "ETH": "-1"})  # new high
    assert outs == [] and state_of(state).state == "ACTIVE"
    state, outs = report(state, "9950", positions={"BTC": "0.05", "ETH": "-1"})  # -9.5 %
    assert outs == []
    state, outs = report(state, "9900", positions={"BTC": "0.05", "ETH": "-1"})  # -10 %
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("HALTED", "max_drawdown")
    commands = [o.message for o in outs if isinstance(o.message, SubmitOrder)]
    assert {(c.coin, c.side, c.size) for c in commands} == {("BTC", "sell", D("0.05")),
                                                            ("ETH", "buy", D("1"))}
    for c in commands:
        assert c.origin == "flatten" and c.reduce_only and c.strategy_id == "risk"
        assert c.intent_id.startswith("flatten-paper-") and c.cloid == cloid_for(c.intent_id)
    flat = [o for o in outs if isinstance(o.message, FlattenRequested)]
    assert len(flat) == 1 and flat[0].subject == "risk.flatten.paper"
    assert flat[0].message.by == "risk"
    state, msgs = settled(state)
    assert msgs[0].state == "HALTED" and msgs[0].flatten and "drawdown 10.00%" in msgs[0].reason
    # HALTED: a strategy's increase is refused with the breaker's code
    _, d, _ = decide(state, intent(), NOW)
    assert d.reason == DenyReason.MAX_DRAWDOWN
    # the live account is not affected
    assert state_of(state, "live").state == "ACTIVE"


def test_deposits_and_withdrawals_are_not_drawdown_or_loss():
    state = ready_state()
    state, _ = report(state, "5000", transfers="5000")  # withdrew half: no loss
    assert state_of(state).state == "ACTIVE"
    state, _ = report(state, "4960", transfers="5000")  # -$40: 0.4 % of start-of-day equity
    assert state_of(state).state == "ACTIVE"
    state, _ = report(state, "15000", transfers="15000")  # deposit: no gain to lose later
    assert state.book("paper").high_water() == D("15000")


def test_daily_loss_halts_until_the_next_day_on_the_organisms_clock():
    state = ready_state()
    state, _ = report(state, "9901")
    assert state_of(state).state == "ACTIVE"
    state, _ = report(state, "9900")  # -1 % of $10000
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("HALTED", "daily_loss")
    assert eff.until == (T0 // DAY + 1) * DAY
    assert not any(o.origin == "flatten" for o in state.book("paper").open_orders.values())
    # still the same day, a minute later: halted
    minute = Now(clock=T0 + 60 * 10**9, wall=T0 + 60 * 10**9)
    state = _alive(state, minute)
    state, _ = engine.on_tick(state, minute)
    assert state_of(state, now=minute).state == "HALTED"
    # the next day (organism clock; the wall clock barely moved): lifted
    tomorrow = Now(clock=eff.until, wall=T0 + 61 * 10**9)
    state = _alive(state, tomorrow)
    state, _ = engine.on_tick(state, tomorrow)
    assert state_of(state, now=tomorrow).state == "ACTIVE"
    assert state.book("paper").day_start_pnl == D("-100")  # the new day starts where it ended


def test_daily_loss_without_next_day_resume_waits_for_the_operator():
    state = ready_state(daily_loss_resume_next_day=False)
    state, _ = report(state, "9800")
    assert state_of(state).until == 0
    tomorrow = Now(clock=T0 + DAY, wall=T0 + 1)
    state = _alive(state, tomorrow)
    state, _ = engine.on_tick(state, tomorrow)
    assert state_of(state, now=tomorrow).breaker == "daily_loss"
    state, _ = engine.on_control(state, _resume(), tomorrow)
    assert state_of(state, now=tomorrow).state == "ACTIVE"
    # resuming re-based the day: the same loss does not trip again
    state, _ = report(state, "9800", now=tomorrow)
    assert state_of(state, now=tomorrow).state == "ACTIVE"


def _alive(state, now):
    for account in ("paper", "live"):
        state = engine.on_status(state, status(account), now)
    state = engine.on_heartbeat(state, heartbeat("market_data"), now)
    for coin, mark in (("BTC", "60000"), ("ETH", "3000")):
        state = engine.on_market(state, ctx(coin, mark, t=now.clock), now)
    return state


def _resume(account="all"):
    return ResumeTrading(ts_event=T0, ts_init=T0, operator="me", reason="checked",
                         account=account)  # type: ignore[arg-type]


def test_stale_market_data_reduces_until_the_feed_is_live():
    state = ready_state()
    bad = FeedStatus(ts_event=T0, ts_init=T0, stream="book", coin="BTC", state="stale",
                     detail="no book push for 31 s")
    state = engine.on_market(state, bad, NOW)
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("REDUCING", "stale_market_data")
    assert state_of(state, "live").state == "REDUCING"  # the market is both accounts'
    _, d, _ = decide(state, intent(), NOW)
    assert d.reason == DenyReason.STALE_MARKET_DATA
    quiet = FeedStatus(ts_event=T0, ts_init=T0, stream="trades", coin="BTC", state="stale")
    assert state_of(engine.on_market(ready_state(), quiet, NOW)).state == "ACTIVE"
    ok = FeedStatus(ts_event=T0, ts_init=T0, stream="book", coin="BTC", state="live")
    assert state_of(engine.on_market(state, ok, NOW)).state == "ACTIVE"


def test_an_old_price_of_a_held_coin_reduces():
    state = ready_state(positions={"BTC": "0.01"})
    later = Now(clock=T0 + 61 * 10**9, wall=T0 + 1)
    assert state_of(state, now=later).breaker == "stale_market_data"
    assert state_of(ready_state(), now=later).state == "ACTIVE"  # nothing held


def test_silent_execution_or_market_data_halts():
    state = ready_state(heartbeat_timeout_s=10)
    later = Now(clock=T0 + 11 * 10**9, wall=T0 + 11 * 10**9)
    state = engine.on_market(state, ctx(t=later.clock), later)
    state = engine.on_status(state, status("live"), later)
    state = engine.on_heartbeat(state, heartbeat("market_data"), later)
    eff = state_of(state, now=later)
    assert (eff.state, eff.breaker) == ("HALTED", "agent_silent")
    assert "execution_paper" in eff.cause
    assert state_of(state, "live", now=later).state == "ACTIVE"
    # market data silent halts both
    state = engine.on_status(state, status("paper"), later)
    latest = Now(clock=T0 + 22 * 10**9, wall=T0 + 22 * 10**9)
    state = engine.on_status(engine.on_status(state, status("paper"), latest), status("live"),
                             latest)
    eff = state_of(state, now=latest)
    assert (eff.state, eff.breaker) == ("HALTED", "agent_silent") and "market_data" in eff.cause
    _, d, _ = decide(state, intent(t=latest.clock), latest)
    assert d.reason == DenyReason.AGENT_SILENT


def test_execution_not_ready_halts():
    for st in (status(state="reconciling", reason="reading the venue"),
               status(state="ready", vpn_ok=False)):
        state = engine.on_status(ready_state(), st, NOW)
        eff = state_of(state)
        assert (eff.state, eff.breaker) == ("HALTED", "execution_not_ready")
        _, d, _ = decide(state, intent(), NOW)
        assert d.reason == DenyReason.EXECUTION_NOT_READY
    assert "VPN down" in eff.cause
    draining = engine.on_heartbeat(ready_state(), heartbeat("execution_paper", "draining"), NOW)
    assert state_of(draining).state == "ACTIVE"  # draining does not refresh; silence will tell


def test_repeated_rejections_reduce_until_resumed():
    state = ready_state(max_rejections=3, rejection_window_s=60)
    for n in range(3):
        assert state_of(state).state == "ACTIVE"
        rejected = OrderRejected(ts_event=T0, ts_init=T0, correlation_id="c", command_id=f"c{n}",
                                 coin="BTC", cloid="0x" + "0" * 32, reason="Insufficient margin",
                                 account="paper")
        state, _ = engine.on_exec(state, rejected, 0, Now(clock=T0, wall=T0 + n))
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("REDUCING", "exchange_errors")
    _, d, _ = decide(state, intent(), NOW)
    assert d.reason == DenyReason.EXCHANGE_ERRORS
    state, _ = engine.on_control(state, _resume("paper"), NOW)
    assert state_of(state).state == "ACTIVE"


def test_kill_switch_halts_and_flattens_unless_told_not_to():
    state = ready_state(positions={"BTC": "0.05"})
    state, _, _ = decide(state, intent("0.01", kind="limit", limit_price=D("59000"),
                                       time_in_force="Gtc", intent_id="resting"), NOW)
    kill = KillSwitch(ts_event=T0, ts_init=T0, operator="me", reason="test", flatten=True,
                      account="paper")
    state, outs = engine.on_control(state, kill, NOW)
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("HALTED", "kill_switch")
    msgs = [o.message for o in outs]
    assert [type(m).__name__ for m in msgs] == ["CancelOrder", "SubmitOrder", "FlattenRequested"]
    assert isinstance(msgs[0], CancelOrder) and msgs[0].cloid == cloid_for("resting")
    assert msgs[1].side == "sell" and msgs[1].size == D("0.05")
    assert msgs[2].by == "operator"
    assert state_of(state, "live").state == "ACTIVE"
    _, d, _ = decide(state, intent(intent_id="later"), NOW)
    assert d.reason == DenyReason.KILL_SWITCH
    # --no-flatten
    quiet = KillSwitch(ts_event=T0, ts_init=T0, operator="me", reason="test", flatten=False)
    state2, outs = engine.on_control(ready_state(positions={"BTC": "0.05"}), quiet, NOW)
    assert outs == [] and state_of(state2, "live").breaker == "kill_switch"
    # a kill switch read long after it was given halts, never flattens
    old = msgspec.structs.replace(kill, ts_event=T0 - 7200 * 10**9)
    _, outs = engine.on_control(ready_state(positions={"BTC": "0.05"}), old, NOW)
    assert outs == []


def test_resume_lifts_what_is_latched_not_what_is_true():
    state = ready_state()
    state, _ = engine.on_control(state, KillSwitch(ts_event=T0, ts_init=T0, operator="me",
                                                   reason="x"), NOW)
    state = engine.on_status(state, status(state="reconciling"), NOW)
    state, _ = engine.on_control(state, _resume(), NOW)
    eff = state_of(state)
    assert (eff.state, eff.breaker) == ("HALTED", "execution_not_ready")
    state = engine.on_status(state, status(), NOW)
    assert state_of(state).state == "ACTIVE"


def test_while_halted_only_flattening_passes():
    state = ready_state(positions={"BTC": "0.05"})
    state, _ = engine.on_control(state, KillSwitch(ts_event=T0, ts_init=T0, operator="me",
                                                   reason="x", flatten=False), NOW)
    op = dict(strategy_id=OPERATOR)
    _, d, _ = decide(state, intent("0.02", "sell", **op), NOW)
    assert isinstance(d, OrderDenied) and d.reason == DenyReason.KILL_SWITCH  # only reduces
    _, d, cmd = decide(state, intent("0.05", "sell", **op), NOW)
    assert isinstance(d, OrderApproved) and cmd.size == D("0.05")  # closes it


def test_flatten_is_retried_until_nothing_is_held():
    state = ready_state(positions={"BTC": "0.05"}, flatten_retry_s=30)
    state, outs = engine.on_control(state, KillSwitch(ts_event=T0, ts_init=T0, operator="me",
                                                      reason="x", flatten=True), NOW)
    first = next(o.message for o in outs if isinstance(o.message, SubmitOrder))
    rejected = OrderRejected(ts_event=T0, ts_init=T0, correlation_id="c",
                             command_id=first.command_id, coin="BTC", cloid=first.cloid,
                             reason="no liquidity", account="paper")
    state, _ = engine.on_exec(state, rejected, 0, NOW)
    later = Now(clock=T0 + 31 * 10**9, wall=T0 + 31 * 10**9)
    state = _alive(state, later)
    state, outs = engine.on_tick(state, later)
    again = [o.message for o in outs if isinstance(o.message, SubmitOrder)]
    assert len(again) == 1 and again[0].intent_id != first.intent_id
    fill = OrderFilled(ts_event=T0, ts_init=T0, correlation_id="c", command_id=again[0].command_id,
                       coin="BTC", cloid=again[0].cloid, venue_order_id=2, fill_id="t-9",
                       side="sell", price=D("60000"), size=D("0.05"), fee=D("1"),
                       liquidity="taker", strategy_id="risk", account="paper")
    state, _ = engine.on_exec(state, fill, 0, later)
    state, outs = engine.on_tick(state, later)
    assert outs == [] and state.book("paper").flattening == ""


def test_a_strategy_past_k_times_its_validated_drawdown_is_deactivated():
    # validated max drawdown 5 %, k = 2: deactivated past 10 % of its capital
    # capital = default weight 0.1 x $10000 = $1000
    state = ready_state(deactivation_k=2.0)
    fill = OrderFilled(ts_event=T0, ts_init=T0, correlation_id="c", coin="BTC",
                       cloid="0x" + "0" * 32, venue_order_id=1, fill_id="t-1", side="buy",
                       price=D("60000"), size=D("0.01"), fee=D("0"), liquidity="taker",
                       strategy_id=SID, account="paper")
    state, outs = engine.on_exec(state, fill, 0, NOW)
    assert outs == []
    state = engine.on_market(state, ctx(mark="50100"), NOW)  # -$99: 9.9 %
    state, outs = engine.on_tick(state, NOW)
    assert not any(isinstance(o.message, DeactivationRequested) for o in outs)
    state = engine.on_market(state, ctx(mark="49900"), NOW)  # -$101: 10.1 %
    state, outs = engine.on_tick(state, NOW)
    deact = [o for o in outs if isinstance(o.message, DeactivationRequested)]
    assert len(deact) == 1 and deact[0].subject == f"risk.deactivate.{SID}"
    assert deact[0].message.limit == 0.1 and deact[0].message.validated_max_drawdown == 0.05
    _, d, _ = decide(state, intent(), NOW)
    assert d.reason == DenyReason.STRATEGY_DEACTIVATED
    _, d, _ = decide(state, intent("0.01", "sell"), NOW)  # it may still close what it holds
    assert isinstance(d, OrderApproved)
    state, outs = engine.on_tick(state, NOW)
    assert not any(isinstance(o.message, DeactivationRequested) for o in outs)  # asked once
    # the lifecycle sets the flag, later an operator clears it: risk lets it trade again
    flag = Flag(reason="risk asked", at=T0, by="lifecycle")
    state = engine.on_registry(state, entry(flags=Flags(deactivated=flag)), NOW)
    state = dataclasses.replace(state, registry={SID: entry()})
    state = engine.on_registry(state, entry(), NOW)
    assert state.book("paper").strategies[SID].deactivated == ""
    _, d, _ = decide(state, intent("0.001"), NOW)
    assert isinstance(d, OrderApproved)  # no longer deactivated


def test_state_changes_are_published_with_their_cause():
    state = ready_state()
    state, _ = engine.on_control(state, KillSwitch(ts_event=T0, ts_init=T0, operator="me",
                                                   reason="lunch", account="live"), NOW)
    state, msgs = settled(state)
    assert len(msgs) == 1 and isinstance(msgs[0], TradingStateChanged)
    m = msgs[0]
    assert (m.account, m.previous, m.state, m.breaker) == ("live", "ACTIVE", "HALTED",
                                                           "kill_switch")
    assert m.reason == "kill switch by me: lunch"
    state, msgs = settled(state)
    assert msgs == []  # no change, nothing said
    state, _ = engine.on_control(state, _resume("live"), NOW)
    state, msgs = settled(state)
    assert [(m.state, m.previous) for m in msgs] == [("ACTIVE", "HALTED")]
    assert state.book("live").state_seq == 2
