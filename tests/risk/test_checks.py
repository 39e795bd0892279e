"""Each pre-trade check on its own: the intent it refuses, with its reason code and numbers, and
the one just inside the limit it lets through (pure `decide`, no broker)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import msgspec
import pytest

from agents.risk import engine
from agents.risk.book import Now
from agents.risk.checks import decide
from schemas import OPERATOR, DenyReason, OrderApproved, OrderDenied, cloid_for
from schemas.registry import Flag, Flags, StrategyLimits
from tests.risk.factories import (
    NOW,
    SID,
    T0,
    account_report,
    ctx,
    entry,
    intent,
    ready_state,
    status,
    with_config,
)

R = DenyReason


def reason(state, it, now=NOW):
    _, decision, command = decide(state, it, now)
    if isinstance(decision, OrderDenied):
        assert command is None
        return decision.reason
    assert isinstance(decision, OrderApproved) and command is not None
    return "approved"


def test_an_ordinary_intent_is_approved_with_its_command():
    state = ready_state()
    new, decision, command = decide(state, intent("0.01"), NOW)
    assert isinstance(decision, OrderApproved)
    assert decision.command_id == command.command_id == "cmd-i-1"
    assert command.cloid == cloid_for("i-1") and command.origin == "intent"
    assert command.account == "paper" and command.size == D("0.01")
    assert decision.numbers["equity"] == "10000.00" and decision.numbers["notional"] == "600.00"
    # the approved order counts as exposure until execution ends it, and as a trade today
    book = new.book("paper")
    assert book.open_orders["cmd-i-1"].remaining == D("0.01")
    assert book.strategies[SID].trades_today == 1
    assert state.book("paper").open_orders == {}  # the input state is untouched


def test_stale_intent():
    state = ready_state(max_intent_age_s=60)
    assert reason(state, intent(t=T0 - 61 * 10**9)) == R.STALE_INTENT
    assert reason(state, intent(t=T0 - 59 * 10**9)) == "approved"


def test_invalid_orders():
    state = ready_state()
    assert reason(state, intent(kind="trigger")) == R.INVALID_ORDER
    assert reason(state, intent(kind="limit")) == R.INVALID_ORDER  # no limit price
    assert reason(state, intent(side="sell", reduce_only=True)) == R.INVALID_ORDER  # nothing held


def test_unknown_strategy_and_the_reserved_operator():
    state = ready_state()
    assert reason(state, intent(strategy_id="nobody")) == R.UNKNOWN_STRATEGY
    assert reason(state, intent(strategy_id=OPERATOR)) == "approved"  # no registry entry needed


def test_wrong_account():
    state = ready_state()
    assert reason(state, intent(account="live")) == R.WRONG_ACCOUNT


def test_a_strategy_that_moved_accounts_may_close_what_it_left_behind():
    state = _filled(ready_state(), "0.02")  # holds 0.02 BTC on paper
    promoted = entry(stage="live", account="live")
    state = dataclasses.replace(state, registry={SID: promoted})
    assert reason(state, intent("0.01")) == R.WRONG_ACCOUNT  # no more on paper
    assert reason(state, intent("0.03", "sell")) == R.WRONG_ACCOUNT  # nor a flip to short
    assert reason(state, intent("0.02", "sell")) == "approved"  # closing is fine


def test_subject_must_match_the_intent():
    state = ready_state()
    _, d, _ = engine.on_intent(state, intent(strategy_id=OPERATOR), f"order.intent.paper.{SID}",
                               NOW)
    assert d.reason == R.INVALID_ORDER
    _, d, _ = engine.on_intent(state, intent(), "order.intent.live." + SID, NOW)
    assert d.reason == R.INVALID_ORDER
    _, d, _ = engine.on_intent(state, intent(), "order.intent.paper." + SID, NOW)
    assert isinstance(d, OrderApproved)


def test_no_price():
    state = ready_state(marks={"ETH": "3000"})
    assert reason(state, intent()) == R.NO_PRICE


def test_min_notional_except_reduce_only():
    state = ready_state()
    assert reason(state, intent("0.0001")) == R.MIN_NOTIONAL  # $6
    assert reason(state, intent("0.0002")) == "approved"  # $12
    held = ready_state(positions={"BTC": "0.01"}, registry=[entry()])
    _, d, _ = decide(held, intent("0.0001", "sell", strategy_id=OPERATOR, reduce_only=True), NOW)
    assert isinstance(d, OrderApproved)


def test_price_band():
    state = ready_state(price_band=0.05)
    assert reason(state, intent(kind="limit", limit_price=D("63001"))) == R.PRICE_BAND
    _, d, _ = decide(state, intent(kind="limit", limit_price=D("63001")), NOW)
    assert d.numbers["limit"] == "0.050000" and D(d.numbers["value"]) > D("0.05")
    assert reason(state, intent(kind="limit", limit_price=D("62999"))) == "approved"


def test_order_rate_throttle_on_wall_time():
    state = ready_state(max_orders=3, order_window_s=1.0)
    for n in range(3):
        state, d, _ = decide(state, intent(intent_id=f"i-{n}"), NOW)
        assert isinstance(d, OrderApproved)
    assert reason(state, intent(intent_id="i-9")) == R.RATE_LIMIT
    later = Now(clock=T0, wall=T0 + 1_000_000_001)  # the window is wall time, not the clock
    assert reason(state, intent(intent_id="i-9", t=T0), later) == "approved"


def test_strategy_notional_with_the_registry_override():
    state = ready_state(max_strategy_notional_usd="1000", max_equity_share=1.0,
                        max_capital_at_risk=1.0)
    assert reason(state, intent("0.017")) == R.STRATEGY_NOTIONAL  # $1020
    assert reason(state, intent("0.016")) == "approved"
    limited = dataclasses.replace(state, registry={SID: entry(
        limits=StrategyLimits(max_notional_usd=D("500")))})
    assert reason(limited, intent("0.009")) == R.STRATEGY_NOTIONAL  # $540


def test_coin_notional_counts_the_whole_account():
    state = ready_state(max_coin_notional_usd="3000", positions={"BTC": "0.04"},
                        max_equity_share=1.0, max_capital_at_risk=1.0)
    # the account already holds $2400 of BTC (another strategy's): $600 more is the limit
    assert reason(state, intent("0.011")) == R.COIN_NOTIONAL
    assert reason(state, intent("0.01")) == "approved"
    per_coin = with_config(state, coin_notional_usd={"BTC": "2500"})
    assert reason(per_coin, intent("0.002")) == R.COIN_NOTIONAL


def test_equity_share_is_40_percent_by_default():
    state = ready_state(max_capital_at_risk=1.0)
    assert reason(state, intent("0.0667")) == R.EQUITY_SHARE  # $4002 of $10000
    assert reason(state, intent("0.0666")) == "approved"


def test_approved_orders_not_yet_filled_count_as_exposure():
    state = ready_state(max_capital_at_risk=1.0)
    state, d, _ = decide(state, intent("0.06", intent_id="a"), NOW)
    assert isinstance(d, OrderApproved)
    assert reason(state, intent("0.01", intent_id="b")) == R.EQUITY_SHARE


def test_account_leverage():
    state = ready_state(max_leverage=1.0, max_capital_at_risk=1.0, max_equity_share=1.0,
                        positions={"ETH": "2"})  # $6000 of ETH held
    assert reason(state, intent("0.07")) == R.LEVERAGE_LIMIT  # + $4200 = 1.02x
    assert reason(state, intent("0.06")) == "approved"


def test_distance_to_liquidation_from_the_estimate_and_the_venue():
    state = ready_state(max_leverage=10.0, max_equity_share=1.0, max_capital_at_risk=1.0,
                        max_strategy_notional_usd="1000000", max_coin_notional_usd="1000000",
                        min_liquidation_distance=0.2, positions={"ETH": "14"})
    # $42000 of ETH held; equity / notional - 2 % maintenance: $10000 / $50004 - 0.02 = 18 %
    assert reason(state, intent("0.1334")) == R.LIQUIDATION_DISTANCE
    assert reason(state, intent("0.05")) == "approved"  # $10000 / $45000 - 0.02 = 20.2 %
    from schemas import PositionReport

    held = ready_state(positions={"BTC": "0.01"}, max_capital_at_risk=1.0)
    held = engine.on_exec(held, PositionReport(
        ts_event=T0, ts_init=T0, correlation_id="p", coin="BTC", size=D("0.01"), account="paper",
        liquidation_price=D("51000")), 0, NOW)[0]
    assert reason(held, intent("0.01")) == R.LIQUIDATION_DISTANCE  # the venue says 15 % away


def test_capital_at_risk_from_the_stop_or_the_default_distance():
    state = ready_state()  # 2 % of $10000 = $200
    assert reason(state, intent("0.05", stop_price=D("55000"))) == R.CAPITAL_AT_RISK  # $250
    assert reason(state, intent("0.05", stop_price=D("56500"))) == "approved"  # $175
    # without a stop: notional x 5 % default stop distance
    wide = with_config(state, default_stop_distance=0.1)
    assert reason(wide, intent("0.034")) == R.CAPITAL_AT_RISK  # $2040 x 10 % = $204
    assert reason(wide, intent("0.033")) == "approved"


def test_trades_per_day_on_the_organisms_clock():
    state = ready_state(max_trades_per_day=2, max_orders=100)
    for n in range(2):
        state, d, _ = decide(state, intent(intent_id=f"i-{n}"), NOW)
        assert isinstance(d, OrderApproved)
    assert reason(state, intent(intent_id="i-3")) == R.DAILY_TRADES
    tomorrow = Now(clock=T0 + 86_400 * 10**9, wall=T0)  # the organism's day, not the wall's
    state = engine.on_market(state, ctx(t=tomorrow.clock), tomorrow)
    assert reason(state, intent(intent_id="i-3", t=tomorrow.clock), tomorrow) == "approved"
    limited = dataclasses.replace(ready_state(), registry={SID: entry(
        limits=StrategyLimits(max_trades_per_day=0))})
    assert reason(limited, intent()) == R.DAILY_TRADES


def test_minimum_volume_per_market_data_source():
    state = dataclasses.replace(ready_state(), feed="mainnet")  # $50M by default
    assert reason(state, intent()) == R.MIN_VOLUME  # md.ctx said 0
    state = engine.on_market(state, ctx(volume=60e6), NOW)
    assert reason(state, intent()) == "approved"
    sim = dataclasses.replace(ready_state(), feed="sim")  # the local exchange: off
    assert reason(sim, intent()) == "approved"


def test_stale_price_per_market_data_source():
    state = ready_state()
    later = Now(clock=T0 + 61 * 10**9, wall=T0)
    assert reason(state, intent(t=later.clock), later) == R.STALE_MARKET_DATA  # sim: 60 s
    replay = dataclasses.replace(state, feed="replay")  # candles only: off
    assert reason(replay, intent(t=later.clock), later) == "approved"


def test_action_budget():
    state = ready_state(min_actions_left=500)
    state = engine.on_status(state, status(actions_left=499), NOW)
    assert reason(state, intent()) == R.ACTION_BUDGET
    state = engine.on_status(state, status(actions_left=500), NOW)
    assert reason(state, intent()) == "approved"


def test_paused_deactivated_retired_and_not_yet_trading_strategies_may_only_reduce():
    flag = Flag(reason="operator", at=T0, by="operator")
    cases = {
        R.STRATEGY_PAUSED: entry(flags=Flags(paused=flag)),
        R.STRATEGY_DEACTIVATED: entry(flags=Flags(deactivated=flag)),
    }
    for code, e in cases.items():
        state = ready_state(registry=[e])
        assert reason(state, intent()) == code
    assert reason(ready_state(registry=[entry(stage="retired")]), intent()) == \
        R.STRATEGY_DEACTIVATED
    assert reason(ready_state(registry=[entry(stage="validated")]), intent()) == R.STRATEGY_PAUSED
    # a reduction passes: the strategy holds 0.02 BTC from its fills
    state = ready_state(registry=[entry(flags=Flags(paused=flag))])
    state = _filled(state, "0.02")
    assert reason(state, intent("0.01", "sell")) == "approved"


def test_no_account_report_yet_is_execution_not_ready():
    state = ready_state()
    state = dataclasses.replace(state, books={})
    assert reason(state, intent()) == R.EXECUTION_NOT_READY


def test_reductions_pass_the_exposure_checks():
    """A strategy over its limits can always get back under them."""
    state = ready_state(max_equity_share=0.4)
    state = _filled(state, "0.1")  # $6000: 60 % of equity, over the cap
    assert reason(state, intent("0.01")) == R.EQUITY_SHARE
    assert reason(state, intent("0.05", "sell")) == "approved"
    assert reason(state, intent("0.2", "sell")) == R.EQUITY_SHARE  # crossing zero adds exposure


def _filled(state, size: str, strategy_id: str = SID, coin: str = "BTC", price: str = "60000"):
    from schemas import OrderFilled

    fill = OrderFilled(ts_event=T0, ts_init=T0, correlation_id="f", command_id="", coin=coin,
                       cloid="0x" + "0" * 32, venue_order_id=1, fill_id=f"t-{size}",
                       side="buy" if D(size) > 0 else "sell", price=D(price), size=abs(D(size)),
                       fee=D("0"), liquidity="taker", strategy_id=strategy_id, account="paper")
    state, _ = engine.on_exec(state, fill, 0, NOW)
    book = state.book("paper")
    return state.with_book(msgspec.structs.replace(book, positions=dict(book.positions)))


def test_fills_count_once_per_stream_sequence():
    state = ready_state()
    from schemas import OrderFilled

    fill = OrderFilled(ts_event=T0, ts_init=T0, correlation_id="f", coin="BTC",
                       cloid="0x" + "0" * 32, venue_order_id=1, fill_id="t-1", side="buy",
                       price=D("60000"), size=D("0.01"), fee=D("0.27"), liquidity="taker",
                       strategy_id=SID, account="paper")
    state, _ = engine.on_exec(state, fill, 7, NOW)
    state, _ = engine.on_exec(state, fill, 7, NOW)  # redelivered after a restart
    assert state.book("paper").positions["BTC"] == D("0.01")
    assert state.book("paper").strategies[SID].positions["BTC"] == D("0.01")
    assert state.book("paper").strategies[SID].cash == D("-600.27")
    state, _ = engine.on_exec(state, account_report(positions={"BTC": "0.01"}), 8, NOW)
    assert state.book("paper").positions == {"BTC": D("0.01")}


@pytest.mark.parametrize("code", ["REDUCING", "HALTED"])
def test_state_codes_name_the_breaker(code):
    from agents.risk.book import Trip

    state = ready_state()
    trip = Trip(breaker="exchange_errors" if code == "REDUCING" else "max_drawdown",
                state=code, cause="test", since=T0)  # type: ignore[arg-type]
    book = state.book("paper")
    state = state.with_book(msgspec.structs.replace(book, trips={trip.breaker: trip}))
    expected = R.EXCHANGE_ERRORS if code == "REDUCING" else R.MAX_DRAWDOWN
    assert reason(state, intent()) == expected
    _ = account_report  # (factories used elsewhere)
