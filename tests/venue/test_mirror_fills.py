"""The mirror's fill rules on the pure core (no I/O): a source trade fills resting orders priced
strictly beyond it, at their own price, best price first, never more than the trade's size."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from venue.config import AccountSpec
from venue.engine import Exchange
from venue.mirror import MirrorMarket, apply_trades
from venue.testing import quiet_config

USER = "0x" + "11" * 20
NOW = 1_790_000_000_000


def mirrored_exchange() -> tuple[Exchange, MirrorMarket]:
    # a loopback URL nothing listens on: the core never contacts it, the feed does
    ex = Exchange(quiet_config(market="mirror:http://127.0.0.1:9",
                               accounts=(AccountSpec(address=USER, usdc="10000000"),)), NOW)
    market = ex.market
    assert isinstance(market, MirrorMarket)
    levels = [[{"px": str(3000 - i), "sz": "5", "n": 2} for i in range(1, 11)],
              [{"px": str(3000 + i), "sz": "5", "n": 3} for i in range(1, 11)]]
    assert market.apply_book({"coin": "ETH", "time": NOW, "levels": levels})
    market.set_fresh("ETH")
    ex.tick(NOW, step_market=False)
    return ex, market


def rest(ex: Exchange, is_buy: bool, px: int, sz: str) -> int:
    wire = {"a": 1, "b": is_buy, "p": str(px), "s": sz, "r": False, "t": {"limit": {"tif": "Gtc"}}}
    status = ex.place(ex.accounts[USER], wire, NOW)
    return status["resting"]["oid"]


def test_the_book_is_the_sources_with_its_order_counts_and_nothing_when_stale() -> None:
    ex, market = mirrored_exchange()
    bids, asks = ex.books["ETH"].levels(20)
    assert bids[0] == (Decimal(2999), Decimal(5), 2) and asks[-1] == (Decimal(3010), Decimal(5), 3)
    assert ex.books["BTC"].levels(20) == ([], [])  # no book from the source yet: none here
    market.set_stale("ETH", "a test")
    ex.tick(NOW + 1, step_market=False)
    assert ex.books["ETH"].levels(20) == ([], [])
    wire = {"a": 1, "b": True, "p": "3005", "s": "1", "r": False, "t": {"limit": {"tif": "Ioc"}}}
    assert "stale (a test; source http://127.0.0.1:9)" in ex.place(ex.accounts[USER], wire, NOW)["error"]


@settings(max_examples=60, deadline=None)
@given(
    orders=st.lists(st.tuples(st.integers(2980, 2999), st.integers(1, 40)), min_size=1, max_size=8),
    trade_px=st.integers(2975, 2999),
    trade_sz=st.integers(1, 200),
    sell=st.booleans(),
)
def test_a_trade_fills_only_what_it_passed(orders, trade_px, trade_sz, sell) -> None:
    ex, market = mirrored_exchange()
    # the same ladder mirrored for asks: a buyer's trade at 6000 - px passes asks below it
    sign = 1 if sell else -1
    placed = {}
    for px, tenths in orders:
        price = px if sell else 6000 - px
        placed[rest(ex, sell, price, str(Decimal(tenths) / 10))] = (Decimal(price), Decimal(tenths) / 10)
    price = Decimal(trade_px if sell else 6000 - trade_px)
    size = Decimal(trade_sz) / 10
    apply_trades(ex, market, "ETH", [{"coin": "ETH", "side": "A" if sell else "B", "px": str(price),
                                      "sz": str(size), "time": NOW + 1, "tid": 1, "hash": "0x1"}],
                 trade_through=True, now_ms=NOW + 1)
    fills = ex.fills.get(USER, [])
    passed = sum(sz for px, sz in placed.values() if sign * (px - price) > 0)
    assert sum(Decimal(f["sz"]) for f in fills) == min(size, passed)
    for f in fills:
        px, _ = placed[f["oid"]]
        assert Decimal(f["px"]) == px and sign * (px - price) > 0 and not f["crossed"]
    # best price first: an order got something only if every better one is filled
    got = {oid: sum(Decimal(f["sz"]) for f in fills if f["oid"] == oid) for oid in placed}
    for oid, amount in got.items():
        if amount:
            better = [o for o, (px, _) in placed.items() if sign * (px - placed[oid][0]) > 0]
            assert all(got[o] == placed[o][1] for o in better)
    # the same trade pushed again fills nothing more
    apply_trades(ex, market, "ETH", [{"coin": "ETH", "side": "A" if sell else "B", "px": str(price),
                                      "sz": str(size), "time": NOW + 1, "tid": 1, "hash": "0x1"}],
                 trade_through=True, now_ms=NOW + 2)
    assert len(ex.fills.get(USER, [])) == len(fills)


def test_a_stop_waits_while_its_coin_is_stale_then_fills_against_the_fresh_book() -> None:
    ex, market = mirrored_exchange()
    wire = {"a": 1, "b": True, "p": "3100", "s": "1", "r": False,
            "t": {"trigger": {"triggerPx": "3050", "isMarket": True, "tpsl": "sl"}}}
    oid = ex.place(ex.accounts[USER], wire, NOW)["resting"]["oid"]
    market.set_stale("ETH", "a test")
    market.apply_ctx("ETH", {"markPx": "3060", "oraclePx": "3060"})
    ex.tick(NOW + 1, step_market=False)
    assert oid in ex.triggers and not ex.fills.get(USER)  # no book to fill it: it waits
    levels = [[{"px": "3059", "sz": "5", "n": 1}], [{"px": "3061", "sz": "5", "n": 1}]]
    assert market.apply_book({"coin": "ETH", "time": NOW + 2, "levels": levels})
    market.set_fresh("ETH")
    ex.tick(NOW + 2, step_market=False)
    assert oid not in ex.triggers
    assert [(f["px"], f["sz"]) for f in ex.fills[USER]] == [("3061", "1")]
