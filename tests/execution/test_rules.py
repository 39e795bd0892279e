"""The pure parts of execution: safe-side rounding, the order state machine, reconciliation's
comparisons, the signer's nonces."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.execution.orders import (
    TrackedOrder,
    after_reply,
    apply_fill,
    from_venue_status,
)
from agents.execution.reconcile import (
    missing_orders,
    net_transfers,
    parse_account,
    parse_fill,
    position_gap,
    stop_plan,
    unknown_orders,
)
from agents.execution.rounding import (
    UnroundableOrder,
    limit_price,
    market_price,
    round_size,
    trigger_price,
)
from agents.execution.venue_client import Signer, order_action, order_wire
from venue.rules import price_ok, size_ok, tick_of
from venue.signing import recover_signer

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200000"), places=6,
                     allow_nan=False, allow_infinity=False)
sizes = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000"), places=6,
                    allow_nan=False, allow_infinity=False)
sz_decimals = st.integers(min_value=0, max_value=5)


@given(sizes, sz_decimals)
def test_sizes_round_down_to_the_lot_never_up(size, dec):
    try:
        out = round_size(size, dec)
    except UnroundableOrder:
        assert size < Decimal(1).scaleb(-dec)
        return
    assert out <= size and size - out < Decimal(1).scaleb(-dec) and size_ok(out, dec)


@given(prices, sz_decimals, st.booleans())
def test_limits_round_to_the_grid_never_to_a_worse_price(px, dec, is_buy):
    try:
        out = limit_price(is_buy, px, dec)
    except UnroundableOrder:
        return  # a price below the smallest tick
    assert price_ok(out, dec)
    assert out <= px if is_buy else out >= px
    assert abs(out - px) <= tick_of(px, dec)


@given(prices, sz_decimals, st.booleans(), st.floats(min_value=1, max_value=500))
def test_market_orders_keep_their_slippage_cap(ref, dec, is_buy, bps):
    try:
        px = market_price(is_buy, ref, bps, dec)
    except UnroundableOrder:
        return
    cap = ref * (1 + Decimal(str(bps)) / 10_000) if is_buy else ref * (1 - Decimal(str(bps)) / 10_000)
    assert price_ok(px, dec)
    assert px <= cap if is_buy else px >= cap


@given(prices, sz_decimals, st.booleans())
def test_stop_triggers_round_toward_the_market(px, dec, closes_long):
    out = trigger_price(closes_long, px, dec)
    assert out >= px if closes_long else out <= px


def order(**kw) -> TrackedOrder:
    base = dict(cloid="0x" + "1" * 32, command_id="c", correlation_id="i", coin="ETH",
                side="buy", size=Decimal("1"))
    base.update(kw)
    return TrackedOrder(**base)


@pytest.mark.parametrize("kind,tif,word,status,end", [
    ("market", "Ioc", "open", "accepted", None),
    ("market", "Ioc", "filled", "filled", None),
    ("market", "Ioc", "canceled", "expired", "expired"),
    ("limit", "Gtc", "canceled", "canceled", "canceled"),
    ("limit", "Gtc", "scheduledCancel", "canceled", "canceled"),
    ("limit", "Gtc", "marginCanceled", "canceled", "canceled"),
    ("trigger", "Gtc", "triggered", "accepted", None),
    ("trigger", "Gtc", "reduceOnlyCanceled", "canceled", "canceled"),
    ("limit", "Alo", "badAloPxRejected", "rejected", "rejected"),
    ("limit", "Gtc", "somethingNew", "submitted", None),
])
def test_venue_words_move_the_state_machine(kind, tif, word, status, end):
    assert from_venue_status(order(kind=kind, tif=tif), word) == (status, end)


@given(st.lists(st.sampled_from(["open", "filled", "canceled", "rejected", "triggered",
                                 "scheduledCancel", "marginCanceled"]), max_size=8))
def test_an_order_that_ended_stays_ended(words):
    o = order(kind="limit", tif="Gtc")
    ended = None
    for word in words:
        o.status, end = from_venue_status(o, word)
        if ended is not None:
            assert o.status == ended and end is None
        elif o.done:
            ended = o.status


def test_replies_and_fills():
    o = order(size=Decimal("0.5"))
    assert after_reply(o, {"filled": {"totalSz": "0.2", "avgPx": "3000", "oid": 7}}) == (
        "expired", "expired", "IOC remainder not filled")
    assert o.oid == 7
    o = order(size=Decimal("0.5"))
    assert after_reply(o, {"filled": {"totalSz": "0.5", "avgPx": "3000", "oid": 8}})[0] == "filled"
    o = order(size=Decimal("0.5"), tif="Gtc", kind="limit")
    assert after_reply(o, {"resting": {"oid": 9}})[:2] == ("accepted", None)
    assert after_reply(o, {"error": "Order has invalid size. asset=1"}) == (
        "rejected", "rejected", "Order has invalid size. asset=1")
    o = order(size=Decimal("0.5"), tif="Gtc", kind="limit", status="accepted")
    assert apply_fill(o, Decimal("0.2")) == "partially_filled"
    assert apply_fill(o, Decimal("0.3")) == "filled" and o.remaining == 0


def test_net_transfers_count_money_in_and_out_only():
    me = "0xabc"
    ledger = [
        {"time": 1, "delta": {"type": "deposit", "usdc": "10000"}},
        {"time": 2, "delta": {"type": "withdraw", "usdc": "100", "fee": "1"}},
        {"time": 3, "delta": {"type": "liquidation", "accountValue": "5"}},
        {"time": 4, "delta": {"type": "internalTransfer", "usdc": "50", "destination": me}},
        {"time": 5, "delta": {"type": "internalTransfer", "usdc": "20", "fee": "1",
                              "destination": "0xdef"}},
        {"time": 6, "delta": {"type": "accountClassTransfer", "usdc": "30", "toPerp": False}},
    ]
    assert net_transfers(ledger, me) == Decimal("10000") - 101 + 50 - 21 - 30


def test_orders_younger_than_the_venue_lag_are_not_corrected_away():
    fresh = order(status="accepted", sent_ms=9_500)
    old = order(cloid="0x" + "2" * 32, status="accepted", sent_ms=1_000)
    listed = order(cloid="0x" + "3" * 32, status="accepted", sent_ms=1_000, oid=5)
    done = order(cloid="0x" + "4" * 32, status="filled", sent_ms=1_000)
    venue = [{"oid": 5, "cloid": None}]
    assert missing_orders([fresh, old, listed, done], venue, now_ms=10_000, lag_ms=2_000) == [old]


def test_unknown_orders_are_those_without_our_cloid_reported_once():
    ours = {"0x" + "1" * 32: order()}
    venue = [{"oid": 1, "cloid": "0x" + "1" * 32}, {"oid": 2, "cloid": None},
             {"oid": 3, "cloid": "0x" + "9" * 32}]
    assert [o["oid"] for o in unknown_orders(ours, venue, known_oids={3})] == [2]


def test_fills_and_positions_read_exactly():
    fill = parse_fill({"coin": "ETH", "px": "3000.5", "sz": "0.1", "side": "A", "time": 5,
                       "oid": 9, "tid": 77, "fee": "0.135", "crossed": True, "closedPnl": "1.5",
                       "cloid": "0xABC", "liquidation": {"markPx": "1"}})
    assert fill.signed == Decimal("-0.1") and fill.key == "77_5" and fill.liquidation
    assert fill.cloid == "0xabc"
    assert position_gap(Decimal("1"), [fill], Decimal("0.9")) == 0
    state = parse_account({"marginSummary": {"accountValue": "100.5", "totalMarginUsed": "1",
                                             "totalNtlPos": "3"}, "withdrawable": "99",
                           "time": 42, "assetPositions": [{"position": {
                               "coin": "ETH", "szi": "-0.1", "entryPx": "3000",
                               "leverage": {"type": "cross", "value": 3},
                               "liquidationPx": None, "unrealizedPnl": "0",
                               "marginUsed": "100"}}]})
    assert state.equity == Decimal("100.5") and state.positions["ETH"].szi == Decimal("-0.1")


def test_one_stop_follows_the_net_position():
    plan = stop_plan(Decimal("0.5"), Decimal("3000"), Decimal("0.15"), 4, [])
    assert plan.place and not plan.is_buy and plan.size == Decimal("0.5")
    assert plan.trigger_px == Decimal("2550")
    stop = order(cloid="0x" + "5" * 32, side="sell", size=Decimal("0.5"), kind="trigger",
                 trigger_px=Decimal("2550"), origin="protective", status="accepted")
    assert stop_plan(Decimal("0.5"), Decimal("3000"), Decimal("0.15"), 4, [stop]).place is False
    bigger = stop_plan(Decimal("0.8"), Decimal("3000"), Decimal("0.15"), 4, [stop])
    assert bigger.place and bigger.cancel == (stop.cloid,) and bigger.size == Decimal("0.8")
    flat = stop_plan(Decimal("0"), None, Decimal("0.15"), 4, [stop])
    assert not flat.place and flat.cancel == (stop.cloid,)
    short = stop_plan(Decimal("-2"), Decimal("100"), Decimal("0.15"), 2, [])
    assert short.is_buy and short.trigger_px == Decimal("115")


def test_the_signer_never_repeats_a_nonce_and_signs_as_the_sdk():
    key = "0x0123456789012345678901234567890123456789012345678901234567890123"
    signer = Signer(key, is_mainnet=False)
    nonces = [signer.next_nonce(1_700_000_000_000) for _ in range(5)]
    assert nonces == sorted(set(nonces)) and len(nonces) == 5
    assert key not in repr(signer) and key[2:] not in repr(signer)
    action = order_action([order_wire(1, True, Decimal("3000.5"), Decimal("0.01"), False,
                                      "0x" + "0" * 31 + "7", tif="Gtc")])
    body = signer.envelope(action, expires_after=None)
    assert recover_signer(action, body["signature"], body["nonce"]) == (
        "0x14791697260e4c9a71f18484c9f997b308e59325")
    # the test vector of ../shared/hyperliquid.md: our wire is the SDK's wire
    from hyperliquid.utils.signing import sign_l1_action
    from eth_account import Account

    expected = sign_l1_action(Account.from_key(key), action, None, 1700000000000, None, False)
    assert expected["r"] == "0xdf3ceabe210da5bde8583690ecba4c2e14309937492efcbf4143951497cc2985"


@given(st.integers(min_value=1, max_value=2**40), st.one_of(st.none(), st.integers(1, 2**40)),
       st.booleans(), st.text(max_size=20), st.decimals(min_value=Decimal("0.01"),
                                                        max_value=Decimal("99999"), places=2))
def test_the_fast_signature_is_the_sdks(nonce, expires, mainnet, text, px):
    from eth_account import Account
    from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action, sign_l1_action

    key = "0x" + "3" * 64
    action = {"type": "order", "orders": [order_wire(2, False, px, Decimal("1.5"), True,
                                                     "0x" + "a" * 32)], "grouping": "na",
              "note": text}
    ours = Signer(key, is_mainnet=mainnet).sign(action, nonce, expires)
    assert ours == sign_l1_action(Account.from_key(key), action, None, nonce, expires, mainnet)
    sig = {k: int(v, 16) if isinstance(v, str) else v for k, v in ours.items()}
    assert recover_signer(action, ours, nonce, None, expires, mainnet) == str(
        recover_agent_or_user_from_l1_action(action, sig, None, nonce, expires, mainnet)).lower()


def test_orders_that_ended_long_ago_leave_memory():
    from agents.execution.agent import ExecutionAgent

    agent = ExecutionAgent("paper")
    now = agent.venue_now_ms()
    old = order(cloid="0x" + "6" * 32, status="filled", sent_ms=now - 2 * 86_400_000, oid=6)
    working = order(cloid="0x" + "7" * 32, status="accepted", sent_ms=now - 2 * 86_400_000)
    recent = order(cloid="0x" + "8" * 32, status="filled", sent_ms=now - 1000)
    for o in (old, working, recent):
        agent.track(o)
    agent.forget_old()
    assert set(agent.orders) == {working.cloid, recent.cloid} and 6 not in agent.by_oid
