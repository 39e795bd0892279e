"""TP/SL groups: `normalTpsl` children wait for their parent to fill; `positionTpsl` attaches to
the position; either way, when one fires its siblings are canceled."""

from __future__ import annotations

from hyperliquid.exchange import Exchange as SdkExchange

from tests.venue.conftest import statuses
from venue.testing import SimThread


def _order(is_buy: bool, sz: float, px: float, order_type: dict, reduce_only: bool = False) -> dict:
    return {"coin": "ETH", "is_buy": is_buy, "sz": sz, "limit_px": px, "order_type": order_type, "reduce_only": reduce_only}


TP = {"trigger": {"triggerPx": 3200.0, "isMarket": True, "tpsl": "tp"}}
SL = {"trigger": {"triggerPx": 2900.0, "isMarket": True, "tpsl": "sl"}}


def _triggers(exchange: SdkExchange, user: str) -> dict[str, dict]:
    return {o["orderType"]: o for o in exchange.info.frontend_open_orders(user) if o["isTrigger"]}


def test_normal_tpsl_with_a_filled_parent(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    reply = exchange.bulk_orders(
        [
            _order(True, 0.1, 3100.0, {"limit": {"tif": "Ioc"}}),
            _order(False, 0.1, 3100.0, TP, reduce_only=True),
            _order(False, 0.1, 2800.0, SL, reduce_only=True),
        ],
        grouping="normalTpsl",
    )
    first, tp, sl = statuses(reply)
    assert first["filled"]["totalSz"] == "0.1" and tp == sl == "waitingForTrigger"
    triggers = _triggers(exchange, wallet.address)
    assert set(triggers) == {"Take Profit Market", "Stop Market"}
    sim.jump("ETH", "2850")
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []
    tp_oid = triggers["Take Profit Market"]["oid"]
    assert exchange.info.query_order_by_oid(wallet.address, tp_oid)["order"]["status"] == "siblingFilledCanceled"
    assert _triggers(exchange, wallet.address) == {}


def test_normal_tpsl_children_wait_for_the_parent(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    reply = exchange.bulk_orders(
        [
            _order(True, 0.1, 2990.0, {"limit": {"tif": "Gtc"}}),
            _order(False, 0.1, 3100.0, TP, reduce_only=True),
            _order(False, 0.1, 2800.0, SL, reduce_only=True),
        ],
        grouping="normalTpsl",
    )
    parent, tp, sl = statuses(reply)
    assert "resting" in parent and tp == sl == "waitingForFill"
    assert _triggers(exchange, wallet.address) == {}
    sim.jump("ETH", "2980")  # the book comes down to the parent's price: it fills
    assert exchange.info.user_state(wallet.address)["assetPositions"][0]["position"]["szi"] == "0.1"
    assert set(_triggers(exchange, wallet.address)) == {"Take Profit Market", "Stop Market"}


def test_canceling_the_parent_drops_its_children(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    reply = exchange.bulk_orders(
        [_order(True, 0.1, 2990.0, {"limit": {"tif": "Gtc"}}), _order(False, 0.1, 2800.0, SL, reduce_only=True)],
        grouping="normalTpsl",
    )
    parent, _ = statuses(reply)
    assert statuses(exchange.cancel("ETH", parent["resting"]["oid"])) == ["success"]
    sim.jump("ETH", "2980")
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []
    assert exchange.info.frontend_open_orders(wallet.address) == []


def test_position_tpsl(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", False, 0.1))
    tp_short = {"trigger": {"triggerPx": 2900.0, "isMarket": True, "tpsl": "tp"}}
    sl_short = {"trigger": {"triggerPx": 3200.0, "isMarket": True, "tpsl": "sl"}}
    reply = exchange.bulk_orders(
        [_order(True, 0.1, 3000.0, tp_short, reduce_only=True), _order(True, 0.1, 3300.0, sl_short, reduce_only=True)],
        grouping="positionTpsl",
    )
    assert statuses(reply) == ["waitingForTrigger", "waitingForTrigger"]
    triggers = _triggers(exchange, wallet.address)
    assert all(o["isPositionTpsl"] is True for o in triggers.values())
    assert triggers["Stop Market"]["triggerCondition"] == "Price above 3200"
    sim.jump("ETH", "2890")
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []
    sl_oid = triggers["Stop Market"]["oid"]
    assert exchange.info.query_order_by_oid(wallet.address, sl_oid)["order"]["status"] == "siblingFilledCanceled"
