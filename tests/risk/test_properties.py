"""Properties of `decide` over arbitrary accounts, positions, open orders, trading states and
sequences of intents:
- it never approves an intent that adds exposure past any limit (positions and approved orders
  not yet filled counted, measured here independently of checks.py);
- while REDUCING it approves only reductions (of the strategy's and the account's position);
- while HALTED it approves only intents that close the strategy's position (the account's, for
  the operator) without crossing zero.
"""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from agents.risk import engine
from agents.risk.book import Trip
from agents.risk.breakers import trading_state
from agents.risk.checks import decide
from schemas import OPERATOR, OrderApproved, OrderFilled
from tests.risk.factories import NOW, SID, T0, intent, ready_state

COINS = ("BTC", "ETH")
MARKS = {"BTC": D("60000"), "ETH": D("3000")}
sizes = st.decimals(min_value=D("0.001"), max_value=D("0.5"), places=3)


@st.composite
def scenario(draw):
    cfg = dict(
        max_strategy_notional_usd=str(draw(st.sampled_from([500, 2000, 500000]))),
        max_coin_notional_usd=str(draw(st.sampled_from([1000, 5000, 500000]))),
        max_equity_share=draw(st.sampled_from([0.1, 0.4, 1.0])),
        max_leverage=draw(st.sampled_from([0.5, 1.0, 3.0])),
        max_capital_at_risk=draw(st.sampled_from([0.002, 0.02, 1.0])),
        default_stop_distance=draw(st.sampled_from([0.01, 0.05])),
        min_liquidation_distance=draw(st.sampled_from([0.05, 0.2, 0.5])),
        max_orders=1000, max_trades_per_day=1000,
    )
    equity = str(draw(st.sampled_from([2000, 10000, 50000])))
    held = {c: str(draw(st.decimals(min_value=D("-0.3"), max_value=D("0.3"), places=2)
                        .map(lambda x, c=c: x if c == "BTC" else x * 10))) for c in COINS}
    state = ready_state(equity=equity, positions=held, **cfg)
    # the strategy's own fills (part of what the account holds)
    for n, coin in enumerate(COINS):
        q = draw(st.decimals(min_value=D("-0.1"), max_value=D("0.1"), places=2))
        if q:
            state, _ = engine.on_exec(state, OrderFilled(
                ts_event=T0, ts_init=T0, correlation_id="f", coin=coin, cloid="0x" + "0" * 32,
                venue_order_id=n, fill_id=f"t{n}", side="buy" if q > 0 else "sell",
                price=MARKS[coin], size=abs(q), fee=D(0), liquidity="taker", strategy_id=SID,
                account="paper"), 0, NOW)
    book = state.book("paper")
    state = state.with_book(msgspec.structs.replace(book, positions={c: D(q) for c, q in held.items()}))
    trading = draw(st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]))
    if trading != "ACTIVE":
        trip = Trip(breaker="kill_switch" if trading == "HALTED" else "exchange_errors",
                    state=trading, cause="test", since=T0)  # type: ignore[arg-type]
        book = state.book("paper")
        state = state.with_book(msgspec.structs.replace(book, trips={trip.breaker: trip}))
    return state


@st.composite
def intents(draw, state, n: int):
    """n intents; some close the strategy's position exactly (what HALTED lets through)."""
    out = []
    for i in range(n):
        coin = draw(st.sampled_from(COINS))
        sid = draw(st.sampled_from([SID, OPERATOR]))
        held = positions(state, sid)[0][coin]
        if held and draw(st.booleans()):
            out.append(intent(str(abs(held)), "sell" if held > 0 else "buy", coin=coin,
                              strategy_id=sid, intent_id=f"p-{i}"))
            continue
        kind = draw(st.sampled_from(["market", "limit"]))
        mark = MARKS[coin]
        fields = {}
        if kind == "limit":
            fields["limit_price"] = (mark * draw(st.decimals(min_value=D("0.9"), max_value=D("1.1"),
                                                             places=3))).quantize(D("0.1"))
        if draw(st.booleans()):
            fields["stop_price"] = (mark * draw(st.decimals(min_value=D("0.8"),
                                                            max_value=D("1.2"), places=3))
                                    ).quantize(D("0.1"))
        size = draw(sizes) * (1 if coin == "BTC" else 10)
        out.append(intent(str(size), draw(st.sampled_from(["buy", "sell"])), coin=coin,
                          strategy_id=sid, kind=kind, intent_id=f"p-{i}",
                          reduce_only=draw(st.sampled_from([False, False, False, True])),
                          **fields))
    return out


def positions(state, strategy_id):
    """(strategy's, account's) signed position per coin with every open order filled."""
    book = state.book("paper")
    acct, strat = {}, {}
    for c in COINS:
        pend = [o for o in book.open_orders.values() if o.coin == c]
        acct[c] = book.positions.get(c, D(0)) + sum((o.remaining for o in pend), D(0))
        own = book.strategies.get(strategy_id)
        strat[c] = (own.positions.get(c, D(0)) if own else D(0)) + sum(
            (o.remaining for o in pend if o.strategy_id == strategy_id), D(0))
    if strategy_id == OPERATOR:
        strat = dict(acct)
    return strat, acct


def is_reduction(before, delta):
    return before != 0 and (before > 0) != (delta > 0) and abs(delta) <= abs(before)


@given(st.data())
def test_never_approves_past_a_limit_and_respects_the_trading_state(data):
    state = data.draw(scenario())
    batch = data.draw(intents(state, 6))
    cfg = state.config
    equity = state.book("paper").equity
    for it in batch:
        s_before, a_before = positions(state, it.strategy_id)
        trading = trading_state(state, "paper", NOW).state
        new, decision, command = decide(state, it, NOW)
        if not isinstance(decision, OrderApproved):
            assert new is state
            continue
        delta = it.size if it.side == "buy" else -it.size
        c = it.coin
        reduction = is_reduction(s_before[c], delta) and is_reduction(a_before[c], delta)
        if trading == "REDUCING":
            assert reduction, (it, s_before, a_before)
        if trading == "HALTED":
            assert reduction and s_before[c] + delta == 0, (it, s_before, a_before)
        if it.reduce_only:
            assert is_reduction(a_before[c], delta)
        px = it.limit_price if it.kind == "limit" else MARKS[c]
        if it.limit_price is not None:
            assert abs(it.limit_price - MARKS[c]) / MARKS[c] <= D(str(cfg.price_band))
        if not it.reduce_only:
            assert it.size * px >= D(cfg.min_notional_usd)
        if not reduction:
            s_after = {**s_before, c: s_before[c] + delta}
            a_after = {**a_before, c: a_before[c] + delta}
            price = {**MARKS, c: px}
            s_val = {k: abs(v) * price[k] for k, v in s_after.items()}
            a_val = {k: abs(v) * price[k] for k, v in a_after.items()}
            assert s_val[c] <= D(cfg.max_strategy_notional_usd)
            assert a_val[c] <= cfg.coin_limit(c)
            assert sum(s_val.values()) <= D(str(cfg.max_equity_share)) * equity
            assert sum(a_val.values()) <= D(str(cfg.max_leverage)) * equity
            assert equity / sum(a_val.values()) - D(str(cfg.maintenance_margin)) >= \
                D(str(cfg.min_liquidation_distance))
            stop = D(str(cfg.default_stop_distance))
            at_risk = (abs(s_after[c]) * abs(px - it.stop_price) if it.stop_price is not None
                       else s_val[c] * stop)
            at_risk += sum(v for k, v in s_val.items() if k != c) * stop
            assert at_risk <= D(str(cfg.max_capital_at_risk)) * equity
        state = new  # approved orders stay open: the next intent sees them as exposure


@given(st.data())
def test_the_input_state_is_never_changed(data):
    state = data.draw(scenario())
    batch = data.draw(intents(state, 1))
    before = (dict(state.books), dict(state.live), state.market)
    decide(state, batch[0], NOW)
    assert (dict(state.books), dict(state.live), state.market) == before
