"""Every refusal answers with Hyperliquid's reply shape and text (per-order errors end " asset=N")."""

from __future__ import annotations

import time

import pytest
import requests
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.utils.error import ClientError
from hyperliquid.info import Info

from tests.venue.conftest import SDK_TIMEOUT_S, quiet_config, signed_post, statuses
from venue.limits import NonceBook
from venue.testing import SimThread

GTC = {"limit": {"tif": "Gtc"}}
IOC = {"limit": {"tif": "Ioc"}}
ALO = {"limit": {"tif": "Alo"}}


def order_action(asset: int, is_buy: bool, px: str, sz: str, tif: str = "Gtc", reduce_only: bool = False) -> dict:
    wire = {"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}
    return {"type": "order", "orders": [wire], "grouping": "na"}


@pytest.mark.parametrize(
    ("is_buy", "sz", "px", "order_type", "reduce_only", "error"),
    [
        (True, 0.01, 3000.55, GTC, False, "Price must be divisible by tick size. asset=1"),
        (True, 0.00001, 3000.0, GTC, False, "Order has invalid size. asset=1"),
        (True, 0.003, 3000.0, GTC, False, "Order must have minimum value of $10. asset=1"),
        (True, 100.0, 3000.0, GTC, False, "Insufficient margin to place order. asset=1"),
        (False, 0.01, 3000.0, GTC, True, "Reduce only order would increase position. asset=1"),
        (True, 0.01, 3001.0, ALO, False, "Post only order would have immediately matched, bbo was 2999.7@3000.3. asset=1"),
        (True, 0.01, 2900.0, IOC, False, "Order could not immediately match against any resting orders. asset=1"),
        (False, 0.01, 5500.0, GTC, False, "Order price cannot be more than 80% away from the reference price asset=1"),
    ],
    ids=["tick", "size", "notional", "margin", "reduce-only", "alo", "ioc", "far-from-oracle"],
)
def test_order_refusals(exchange: SdkExchange, is_buy, sz, px, order_type, reduce_only, error) -> None:
    reply = exchange.order("ETH", is_buy, sz, px, order_type, reduce_only=reduce_only)
    assert reply == {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": error}]}}}


def test_reduce_only_that_would_flip_is_refused_and_one_that_reduces_fills(exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", True, 0.1))
    [grow] = statuses(exchange.order("ETH", True, 0.1, 3100.0, IOC, reduce_only=True))
    assert grow == {"error": "Reduce only order would increase position. asset=1"}
    # Larger than the position: only the position is closed, never flipped.
    [closed] = statuses(exchange.order("ETH", False, 0.5, 2900.0, IOC, reduce_only=True))
    assert closed["filled"]["totalSz"] == "0.1"
    assert exchange.info.user_state(wallet.address)["assetPositions"] == []


def test_bad_trigger_price(exchange: SdkExchange) -> None:
    sl = {"trigger": {"triggerPx": 2950.123, "isMarket": True, "tpsl": "sl"}}
    reply = exchange.order("ETH", False, 0.01, 2900.0, sl, reduce_only=True)
    assert statuses(reply) == [{"error": "Invalid TP/SL price. asset=1"}]


def test_unknown_asset(sim: SimThread, wallet) -> None:
    reply = signed_post(sim.url, wallet, order_action(99, True, "3000", "0.01"))
    assert statuses(reply) == [{"error": "Unknown asset 99."}]


def test_cancel_of_an_unknown_order(exchange: SdkExchange) -> None:
    reply = exchange.cancel("ETH", 987654321)
    assert reply == {
        "status": "ok",
        "response": {"type": "cancel", "data": {"statuses": [{"error": "Order was never placed, already canceled, or filled. asset=1"}]}},
    }


def test_duplicate_nonce(sim: SimThread, wallet) -> None:
    nonce = int(time.time() * 1000)
    action = order_action(1, True, "2900", "0.01")
    assert "resting" in statuses(signed_post(sim.url, wallet, action, nonce))[0]
    assert signed_post(sim.url, wallet, action, nonce) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}


def test_stale_and_future_nonces(sim: SimThread, wallet) -> None:
    action = order_action(1, True, "2900", "0.01")
    stale = int(time.time() * 1000) - 3 * 86_400_000
    reply = signed_post(sim.url, wallet, action, stale)
    assert reply["status"] == "err" and reply["response"].startswith(f"Invalid nonce: nonce too low {stale} < ")
    future = int(time.time() * 1000) + 2 * 86_400_000
    reply = signed_post(sim.url, wallet, action, future)
    assert reply["status"] == "err" and reply["response"].startswith(f"Invalid nonce: nonce too high {future} > ")


def test_only_the_hundred_highest_nonces_are_kept() -> None:
    book, now = NonceBook(), 1_700_000_000_000
    for i in range(100):
        assert book.check_and_use("0xa", now + 10 + i, now) is None
    assert book.check_and_use("0xa", now + 5, now) == f"Invalid nonce: nonce too low {now + 5} < {now + 10}"
    assert book.check_and_use("0xa", now + 200, now) is None  # evicts now+10
    assert book.check_and_use("0xa", now + 10, now) == f"Invalid nonce: nonce too low {now + 10} < {now + 11}"
    assert book.check_and_use("0xb", now + 5, now) is None  # nonces are per signer


def test_unfunded_signer_does_not_exist(sim: SimThread) -> None:
    import eth_account

    stranger = eth_account.Account.create()
    reply = signed_post(sim.url, stranger, order_action(1, True, "2900", "0.01"))
    assert reply == {"status": "err", "response": f"User or API Wallet {stranger.address.lower()} does not exist."}


def test_per_address_action_budget(wallet) -> None:
    with SimThread(quiet_config(wallet, address_initial_actions=3)) as venue:
        ex = SdkExchange(wallet, venue.url, timeout=SDK_TIMEOUT_S)
        for _ in range(3):
            statuses(ex.order("ETH", True, 0.01, 2900.0, GTC))
        assert ex.order("ETH", True, 0.01, 2900.0, GTC) == {
            "status": "err",
            "response": "Too many cumulative requests sent (4 > 3) for cumulative volume traded $0."
            " Place taker orders to free up 1 request per USDC traded.",
        }


def test_trading_frees_address_budget(wallet) -> None:
    with SimThread(quiet_config(wallet, address_initial_actions=1)) as venue:
        ex = SdkExchange(wallet, venue.url, timeout=SDK_TIMEOUT_S)
        statuses(ex.market_open("ETH", True, 0.01))  # $30 traded: 30 more actions
        for _ in range(30):
            assert ex.cancel("ETH", 1)["status"] == "ok"
        reply = ex.cancel("ETH", 1)
        assert reply["status"] == "err" and reply["response"].startswith("Too many cumulative requests sent (32 > 31)")


def test_per_ip_weight_budget_answers_429(wallet) -> None:
    with SimThread(quiet_config(wallet, ip_weight_per_minute=60)) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)  # spotMeta + meta: 40
        for _ in range(10):
            info.all_mids()  # 2 each
        with pytest.raises(ClientError) as caught:
            info.all_mids()
        assert caught.value.status_code == 429


def test_candles_cost_weight_by_the_60(wallet) -> None:
    with SimThread(quiet_config(wallet, ip_weight_per_minute=70, history_minutes=5200)) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)  # 40
        candles = info.candles_snapshot("BTC", "1m", 0, int(time.time() * 1000) + 60_000)  # 20, then +83
        assert len(candles) == 5000
        with pytest.raises(ClientError) as caught:
            info.all_mids()
        assert caught.value.status_code == 429


def test_schedule_cancel_rules(exchange: SdkExchange) -> None:
    now = int(time.time() * 1000)
    assert exchange.schedule_cancel(now + 1000) == {
        "status": "err",
        "response": "Scheduled cancel time too early, must be at least 5 seconds from now.",
    }
    assert exchange.schedule_cancel(now + 60_000) == {"status": "ok", "response": {"type": "default"}}
    assert exchange.schedule_cancel(None) == {"status": "ok", "response": {"type": "default"}}


def test_schedule_cancel_needs_volume_when_configured(wallet) -> None:
    with SimThread(quiet_config(wallet, schedule_cancel_min_volume_usd="1000000")) as venue:
        ex = SdkExchange(wallet, venue.url, timeout=SDK_TIMEOUT_S)
        assert ex.schedule_cancel(int(time.time() * 1000) + 60_000) == {
            "status": "err",
            "response": "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $0.",
        }


def test_leverage_above_the_maximum_is_refused(exchange: SdkExchange) -> None:
    assert exchange.update_leverage(26, "ETH") == {"status": "err", "response": "Invalid leverage value"}


def test_malformed_info_query_is_422(sim: SimThread) -> None:
    reply = requests.post(sim.url + "/info", json={"type": "noSuchQuery"}, timeout=SDK_TIMEOUT_S)
    assert reply.status_code == 422
    assert reply.text == "Failed to deserialize the JSON body into the target type"


def test_malformed_exchange_body_is_422(sim: SimThread) -> None:
    reply = requests.post(sim.url + "/exchange", json={"action": {"type": "order"}}, timeout=SDK_TIMEOUT_S)
    assert reply.status_code == 422
    assert reply.text == "Failed to deserialize the JSON body into the target type"


def test_a_rejected_order_with_a_cloid_answers_its_rejection_status(exchange: SdkExchange, wallet) -> None:
    from hyperliquid.utils.types import Cloid

    cloid = Cloid.from_int(99)
    [error] = statuses(exchange.order("ETH", True, 0.01, 2900.0, IOC, cloid=cloid))
    assert error == {"error": "Order could not immediately match against any resting orders. asset=1"}
    status = exchange.info.query_order_by_cloid(wallet.address, cloid)
    assert status["status"] == "order" and status["order"]["status"] == "iocCancelRejected"
    tick = Cloid.from_int(100)
    statuses(exchange.order("ETH", True, 0.01, 3000.55, GTC, cloid=tick))
    assert exchange.info.query_order_by_cloid(wallet.address, tick)["order"]["status"] == "tickRejected"


def test_an_expired_action_is_refused(exchange: SdkExchange, sim: SimThread) -> None:
    exchange.set_expires_after(sim.now_ms() - 1_000)
    assert exchange.order("ETH", True, 0.01, 2900.0, GTC) == {"status": "err", "response": "Action expired"}
    exchange.set_expires_after(sim.now_ms() + 60_000)
    assert "resting" in statuses(exchange.order("ETH", True, 0.01, 2900.0, GTC))[0]
