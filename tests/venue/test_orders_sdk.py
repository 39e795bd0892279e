"""The order path, driven by the real, unmodified hyperliquid-python-sdk against the venue."""

from __future__ import annotations

from decimal import Decimal

import eth_account
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.utils.types import Cloid

from tests.venue.conftest import SDK_TIMEOUT_S, statuses
from venue.testing import SimThread

GTC = {"limit": {"tif": "Gtc"}}
IOC = {"limit": {"tif": "Ioc"}}
ALO = {"limit": {"tif": "Alo"}}
TAKER = Decimal("0.00045")
MAKER = Decimal("0.00015")


def test_market_open_fills_and_books_position_margin_fees_and_fill(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    reply = exchange.market_open("ETH", True, 0.1)
    [status] = statuses(reply)
    filled = status["filled"]
    assert filled["totalSz"] == "0.1" and filled["avgPx"] == "3000.3"
    state = exchange.info.user_state(wallet.address)
    [pos] = state["assetPositions"]
    assert pos["type"] == "oneWay"
    p = pos["position"]
    assert (p["coin"], p["szi"], p["entryPx"], p["leverage"]) == ("ETH", "0.1", "3000.3", {"type": "cross", "value": 20})
    assert p["positionValue"] == "300" and p["marginUsed"] == "15" and p["unrealizedPnl"] == "-0.03"
    fee = Decimal("300.03") * TAKER
    [fill] = exchange.info.user_fills(wallet.address)
    assert fill["oid"] == filled["oid"] and fill["crossed"] is True and fill["side"] == "B"
    assert Decimal(fill["fee"]) == fee.quantize(Decimal("0.000001"))
    assert fill["dir"] == "Open Long" and fill["startPosition"] == "0" and fill["closedPnl"] == "0"
    assert fill["feeToken"] == "USDC" and fill["hash"].startswith("0x") and isinstance(fill["tid"], int)
    assert Decimal(state["marginSummary"]["accountValue"]) == Decimal(10000) - Decimal("0.03") - Decimal(fill["fee"])
    assert state["marginSummary"]["totalMarginUsed"] == "15"
    assert state["marginSummary"]["totalNtlPos"] == "300"


def test_market_close_realises_pnl(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", True, 0.2))
    sim.jump("ETH", "3100")
    [status] = statuses(exchange.market_close("ETH"))
    assert status["filled"]["totalSz"] == "0.2"
    close = exchange.info.user_fills(wallet.address)[0]
    assert close["dir"] == "Close Long" and close["startPosition"] == "0.2"
    assert Decimal(close["closedPnl"]) == Decimal("0.2") * (Decimal(close["px"]) - Decimal("3000.3"))
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []


def test_resting_order_lifecycle_with_cloid(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    cloid = Cloid.from_int(7)
    [status] = statuses(exchange.order("ETH", True, 0.1, 2900.0, GTC, cloid=cloid))
    oid = status["resting"]["oid"]
    assert status["resting"]["cloid"] == cloid.to_raw()
    [open_order] = exchange.info.open_orders(wallet.address)
    assert open_order["oid"] == oid and open_order["limitPx"] == "2900" and open_order["side"] == "B"
    assert open_order["sz"] == "0.1"
    [front] = exchange.info.frontend_open_orders(wallet.address)
    assert front["orderType"] == "Limit" and front["tif"] == "Gtc" and front["reduceOnly"] is False
    assert front["cloid"] == cloid.to_raw() and front["origSz"] == "0.1" and front["isTrigger"] is False
    by_oid = exchange.info.query_order_by_oid(wallet.address, oid)
    by_cloid = exchange.info.query_order_by_cloid(wallet.address, cloid)
    assert by_oid == by_cloid
    assert by_oid["status"] == "order" and by_oid["order"]["status"] == "open"
    assert statuses(exchange.cancel_by_cloid("ETH", cloid)) == ["success"]
    assert exchange.info.query_order_by_oid(wallet.address, oid)["order"]["status"] == "canceled"
    assert exchange.info.open_orders(wallet.address) == []
    assert exchange.info.query_order_by_oid(wallet.address, 123456789) == {"status": "unknownOid"}


def test_cancel_by_oid(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    [status] = statuses(exchange.order("ETH", False, 0.1, 3100.0, GTC))
    oid = status["resting"]["oid"]
    assert statuses(exchange.cancel("ETH", oid)) == ["success"]
    assert exchange.info.query_order_by_oid(wallet.address, oid)["order"]["status"] == "canceled"


def test_bulk_orders_answer_one_status_each(sim: SimThread, exchange: SdkExchange) -> None:
    reply = exchange.bulk_orders(
        [
            {"coin": "ETH", "is_buy": True, "sz": 0.1, "limit_px": 2900.0, "order_type": GTC, "reduce_only": False},
            {"coin": "BTC", "is_buy": True, "sz": 0.001, "limit_px": 61000.0, "order_type": IOC, "reduce_only": False},
            {"coin": "SOL", "is_buy": True, "sz": 0.01, "limit_px": 150.0, "order_type": GTC, "reduce_only": False},
        ]
    )
    first, second, third = statuses(reply)
    assert "resting" in first
    assert second["filled"]["totalSz"] == "0.001" and second["filled"]["avgPx"] == "60006"
    assert third == {"error": "Order must have minimum value of $10. asset=2"}


def test_modify_order_replaces_price_and_size(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    cloid = Cloid.from_int(42)
    [status] = statuses(exchange.order("ETH", True, 0.1, 2900.0, GTC, cloid=cloid))
    oid = status["resting"]["oid"]
    reply = exchange.modify_order(oid, "ETH", True, 0.2, 2950.0, GTC, cloid=cloid)
    assert reply["response"]["type"] == "batchModify"
    [modified] = statuses(reply)
    new_oid = modified["resting"]["oid"]
    [order] = exchange.info.open_orders(wallet.address)
    assert (order["oid"], order["limitPx"], order["sz"]) == (new_oid, "2950", "0.2")
    # By cloid too; a modify of an order that is gone is refused.
    [again] = statuses(exchange.modify_order(cloid, "ETH", True, 0.2, 2960.0, GTC, cloid=cloid))
    assert exchange.info.open_orders(wallet.address)[0]["limitPx"] == "2960"
    assert "resting" in again
    [gone] = statuses(exchange.modify_order(oid, "ETH", True, 0.2, 2960.0, GTC))
    assert gone == {"error": "Cannot modify canceled or filled order"}


def test_partial_fill_price_time_priority_and_maker_taker_fees(
    sim: SimThread, exchange: SdkExchange, other_exchange: SdkExchange, wallet, other_wallet
) -> None:
    third = eth_account.Account.create()
    sim.fund(third.address, "10000")
    taker = SdkExchange(third, sim.url, timeout=SDK_TIMEOUT_S)
    # Two sellers inside the synthetic spread (2999.7 / 3000.3) at one price: first come, first served.
    [first] = statuses(exchange.order("ETH", False, 0.3, 3000.2, GTC))
    [second] = statuses(other_exchange.order("ETH", False, 0.3, 3000.2, GTC))
    [took] = statuses(taker.order("ETH", True, 0.5, 3000.2, IOC))
    assert took["filled"] == {"totalSz": "0.5", "avgPx": "3000.2", "oid": took["filled"]["oid"]}
    assert exchange.info.query_order_by_oid(wallet.address, first["resting"]["oid"])["order"]["status"] == "filled"
    rest = exchange.info.open_orders(other_wallet.address)
    assert [(o["oid"], o["sz"]) for o in rest] == [(second["resting"]["oid"], "0.1")]
    maker_fill = exchange.info.user_fills(wallet.address)[0]
    assert maker_fill["crossed"] is False and maker_fill["sz"] == "0.3" and maker_fill["side"] == "A"
    assert Decimal(maker_fill["fee"]) == (Decimal("0.3") * Decimal("3000.2") * MAKER).quantize(Decimal("0.000001"))
    taker_fills = taker.info.user_fills(third.address)
    assert sorted(f["sz"] for f in taker_fills) == ["0.2", "0.3"]
    assert all(f["crossed"] is True for f in taker_fills)
    assert {f["tid"] for f in taker_fills} == {maker_fill["tid"], other_exchange.info.user_fills(other_wallet.address)[0]["tid"]}


def test_alo_rests_when_it_does_not_cross(sim: SimThread, exchange: SdkExchange) -> None:
    [status] = statuses(exchange.order("ETH", True, 0.1, 2999.0, ALO))
    assert "resting" in status


def test_a_moving_market_fills_resting_orders_as_maker(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    [status] = statuses(exchange.order("ETH", True, 0.1, 2990.0, GTC))
    sim.jump("ETH", "2980")
    order = exchange.info.query_order_by_oid(wallet.address, status["resting"]["oid"])
    assert order["order"]["status"] == "filled"
    [fill] = exchange.info.user_fills(wallet.address)
    assert (fill["px"], fill["crossed"]) == ("2990", False)


def test_stop_loss_trigger_closes_the_position(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", True, 0.1))
    sl = {"trigger": {"triggerPx": 2950.0, "isMarket": True, "tpsl": "sl"}}
    tp = {"trigger": {"triggerPx": 3200.0, "isMarket": True, "tpsl": "tp"}}
    [sl_status] = statuses(exchange.order("ETH", False, 0.1, 2800.0, sl, reduce_only=True))
    [tp_status] = statuses(exchange.order("ETH", False, 0.1, 3150.0, tp, reduce_only=True))
    fronts = {o["oid"]: o for o in exchange.info.frontend_open_orders(wallet.address)}
    sl_view = fronts[sl_status["resting"]["oid"]]
    assert sl_view["isTrigger"] is True and sl_view["orderType"] == "Stop Market"
    assert sl_view["triggerPx"] == "2950" and sl_view["triggerCondition"] == "Price below 2950"
    assert fronts[tp_status["resting"]["oid"]]["orderType"] == "Take Profit Market"
    sim.jump("ETH", "2940")
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []
    sl_after = exchange.info.query_order_by_oid(wallet.address, sl_status["resting"]["oid"])
    assert sl_after["order"]["status"] == "filled"
    close = exchange.info.user_fills(wallet.address)[0]
    assert close["dir"] == "Close Long" and close["sz"] == "0.1"
    # The take-profit is left without a position; once its price comes it cannot increase one.
    sim.jump("ETH", "3250")
    tp_after = exchange.info.query_order_by_oid(wallet.address, tp_status["resting"]["oid"])
    assert tp_after["order"]["status"] == "reduceOnlyCanceled"


def test_update_leverage(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    assert exchange.update_leverage(5, "ETH") == {"status": "ok", "response": {"type": "default"}}
    statuses(exchange.market_open("ETH", True, 0.1))
    [pos] = exchange.info.user_state(wallet.address)["assetPositions"]
    assert pos["position"]["leverage"] == {"type": "cross", "value": 5}
    assert pos["position"]["marginUsed"] == "60"


def test_an_approved_api_wallet_trades_for_its_master(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    reply, agent_key = exchange.approve_agent()
    assert reply == {"status": "ok", "response": {"type": "default"}}
    agent = eth_account.Account.from_key(agent_key)
    as_agent = SdkExchange(agent, sim.url, account_address=wallet.address, timeout=SDK_TIMEOUT_S)
    [status] = statuses(as_agent.market_open("ETH", True, 0.1))
    assert status["filled"]["totalSz"] == "0.1"
    [pos] = as_agent.info.user_state(wallet.address)["assetPositions"]
    assert pos["position"]["szi"] == "0.1"
    [closed] = statuses(as_agent.market_close("ETH"))  # reads the master's position via account_address
    assert closed["filled"]["totalSz"] == "0.1"


def test_a_resting_reduce_only_order_is_canceled_once_its_position_is_gone(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", True, 0.1))
    [resting] = statuses(exchange.order("ETH", False, 0.1, 3100.0, GTC, reduce_only=True))
    statuses(exchange.market_close("ETH"))
    sim.jump("ETH", "3200")  # the book now reaches 3100: the reduce-only sell would open a short
    order = exchange.info.query_order_by_oid(wallet.address, resting["resting"]["oid"])
    assert order["order"]["status"] == "reduceOnlyCanceled"
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []
