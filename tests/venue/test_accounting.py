"""Money is conserved: a property test over random order sequences on the pure core."""

from __future__ import annotations

from decimal import Decimal

import eth_account
from hypothesis import given, settings
from hypothesis import strategies as st
from hyperliquid.utils.signing import sign_l1_action

from venue.config import AccountSpec, SimConfig
from venue.engine import Exchange

NOW = 1_800_000_000_000
WALLETS = [eth_account.Account.from_key("0x" + f"{i + 1:064x}") for i in range(3)]
COINS = {"BTC": (0, "60000", 5), "ETH": (1, "3000", 4), "SOL": (2, "150", 2)}

order_st = st.tuples(
    st.integers(0, len(WALLETS) - 1),  # who
    st.sampled_from(sorted(COINS)),
    st.booleans(),  # buy?
    st.integers(-30, 30),  # price offset in bps from the fair price
    st.one_of(st.integers(1, 400), st.integers(1_000, 16_000)),  # notional in units of $5
    st.sampled_from(["Gtc", "Gtc", "Ioc", "Ioc", "Alo"]),
    st.sampled_from([False, False, False, True]),  # reduce only
)
step_st = st.one_of(
    order_st.map(lambda o: ("order", o)),
    order_st.map(lambda o: ("order", o)),
    order_st.map(lambda o: ("order", o)),
    st.tuples(st.sampled_from(sorted(COINS)), st.integers(-1500, 1500)).map(lambda j: ("jump", j)),
    st.integers(0, len(WALLETS) - 1).map(lambda w: ("cancel_all", w)),
    st.just(("fund_hour", None)),
)


def _price(fair: Decimal, bps: int) -> str:
    px = fair * (1 + Decimal(bps) / 10_000)
    return str(px.quantize(Decimal(1)) if px >= 1000 else px.quantize(Decimal("0.01")))


def _signed(ex: Exchange, wallet, action: dict, nonce: int) -> dict:
    sig = sign_l1_action(wallet, action, None, nonce, None, False)
    return ex.handle_action({"action": action, "nonce": nonce, "signature": sig}, NOW + nonce % 10**6)


def _check(ex: Exchange, initial: Decimal) -> None:
    marks = ex.marks()
    accounts = list(ex.accounts.values())
    # Every position has a counterparty, so position values cancel and cash + fees is the money.
    for coin in COINS:
        assert sum((a.szi(coin) for a in accounts), Decimal(0)) == 0
    # Money in = money held (cash + position value at any mark) + fees paid to the venue; exact up
    # to the 28-digit rounding of average entry prices.
    fees = sum((a.fees_paid for a in accounts), Decimal(0))
    value = sum((a.account_value(marks) for a in accounts), Decimal(0))
    assert abs(value + fees - initial) < Decimal("1e-12")
    for acct in accounts:
        if acct.exempt:
            continue
        fills = ex.fills.get(acct.address, [])
        closed = sum((Decimal(f["closedPnl"]) for f in fills), Decimal(0))
        paid = sum((Decimal(f["fee"]) for f in fills), Decimal(0))
        # Fees are exact; realised PnL carries the 28-digit rounding of average entry prices.
        expected = acct.deposits + closed - paid - acct.funding_paid + acct.bad_debt_covered
        assert abs(acct.cash - expected) < Decimal("1e-15")
        assert paid == acct.fees_paid
        for coin in COINS:
            # The position is the sum of signed fill sizes.
            signed = sum((Decimal(f["sz"]) * (1 if f["side"] == "B" else -1) for f in fills if f["coin"] == coin), Decimal(0))
            assert signed == acct.szi(coin)


def _conservation_config() -> SimConfig:
    """A frozen market with a thin maker book and every test wallet funded with 5000 USDC."""
    return SimConfig(
        market="frozen",
        history_minutes=0,
        history_hours=0,
        mm_levels=3,
        mm_level_usd="30000",
        accounts=tuple(AccountSpec(address=w.address, usdc="5000") for w in WALLETS),
    )


@settings(max_examples=40)
@given(st.lists(step_st, min_size=5, max_size=25))
def test_cash_positions_and_fees_are_conserved(steps) -> None:
    config = _conservation_config()
    ex = Exchange(config, NOW)
    initial = sum((a.cash for a in ex.accounts.values()), Decimal(0))
    nonce = NOW
    clock = NOW
    for kind, arg in steps:
        nonce += 1
        if kind == "order":
            who, coin, is_buy, bps, units, tif, reduce_only = arg
            asset, _, sz_dec = COINS[coin]
            px = _price(ex.market.fair[coin], bps)
            sz = (Decimal(units * 5) / Decimal(px)).quantize(Decimal(1).scaleb(-sz_dec))
            if sz <= 0:
                continue
            wire = {"a": asset, "b": is_buy, "p": px, "s": str(sz), "r": reduce_only, "t": {"limit": {"tif": tif}}}
            reply = _signed(ex, WALLETS[who], {"type": "order", "orders": [wire], "grouping": "na"}, nonce)
            assert reply["status"] == "ok", reply
        elif kind == "jump":
            coin, bps = arg
            fair = ex.market.fair[coin]
            ex.jump(coin, Decimal(_price(fair, bps)), clock)
        elif kind == "cancel_all":
            wallet = WALLETS[arg]
            cancels = [{"a": o.asset, "o": o.oid} for o in ex.open_by_user.get(wallet.address.lower(), {}).values()]
            if cancels:
                reply = _signed(ex, wallet, {"type": "cancel", "cancels": cancels}, nonce)
                assert all(s == "success" for s in reply["response"]["data"]["statuses"])
        else:
            clock += 3_600_000
            ex.tick(clock, step_market=False)
        _check(ex, initial)


junk = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.text(max_size=8), st.floats(allow_nan=True))
wire_st = st.fixed_dictionaries(
    {},
    optional={
        "a": st.one_of(st.integers(-2, 5), junk),
        "b": st.one_of(st.booleans(), junk),
        "p": st.one_of(st.sampled_from(["3000", "2999.5", "0", "-1", "1e3", "NaN", "3000.123456"]), junk),
        "s": st.one_of(st.sampled_from(["0.01", "0", "1", "0.000001", "Infinity"]), junk),
        "r": st.one_of(st.booleans(), junk),
        "t": st.one_of(
            st.just({"limit": {"tif": "Gtc"}}),
            st.just({"limit": {"tif": "Nope"}}),
            st.just({"trigger": {"triggerPx": "2900", "isMarket": True, "tpsl": "sl"}}),
            st.just({"trigger": {"triggerPx": None}}),
            junk,
        ),
        "c": st.one_of(st.just("0x" + "0" * 31 + "1"), junk),
    },
)


@settings(max_examples=60)
@given(st.lists(wire_st, min_size=1, max_size=4))
def test_malformed_order_wires_never_break_the_core(wires) -> None:
    from venue.actions import MalformedAction

    config = SimConfig(market="frozen", history_minutes=0, history_hours=0, mm_levels=2, accounts=(AccountSpec(address=WALLETS[0].address, usdc="5000"),))
    ex = Exchange(config, NOW)
    acct = ex.accounts[WALLETS[0].address.lower()]
    for wire in wires:
        try:
            reply = ex.place(acct, wire, NOW)
        except MalformedAction:
            continue
        assert isinstance(reply, dict) and len(reply) == 1 and set(reply) <= {"error", "resting", "filled"}
    assert acct.cash <= Decimal(5000)


def test_money_is_conserved_through_a_liquidation() -> None:
    config = _conservation_config()
    ex = Exchange(config, NOW)
    initial = sum((a.cash for a in ex.accounts.values()), Decimal(0))
    wire = {"a": 1, "b": True, "p": "3100", "s": "20", "r": False, "t": {"limit": {"tif": "Ioc"}}}
    reply = _signed(ex, WALLETS[0], {"type": "order", "orders": [wire], "grouping": "na"}, NOW + 1)
    assert reply["response"]["data"]["statuses"][0]["filled"]["totalSz"] == "20"
    _check(ex, initial)
    ex.jump("ETH", Decimal("2600"), NOW + 10)  # −13%: far below maintenance
    acct = ex.accounts[WALLETS[0].address.lower()]
    assert acct.szi("ETH") == 0
    assert acct.cash == 0 and acct.bad_debt_covered > 0  # the loss beyond its money is the backstop's
    assert ex.fills[acct.address][-1]["liquidation"]["method"] == "market"
    _check(ex, initial)
