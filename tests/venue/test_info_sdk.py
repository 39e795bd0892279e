"""/info through the SDK's Info: meta, contexts, mids, books, candles, fills by time, funding."""

from __future__ import annotations

import time

import requests
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info

from tests.venue.conftest import SDK_TIMEOUT_S, quiet_config, statuses
from venue.testing import SimThread


def test_meta_spot_meta_and_asset_contexts(sim: SimThread) -> None:
    info = Info(sim.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
    universe = info.meta()["universe"]
    assert [(u["name"], u["szDecimals"], u["maxLeverage"]) for u in universe] == [
        ("BTC", 5, 40),
        ("ETH", 4, 25),
        ("SOL", 2, 20),
    ]
    assert info.spot_meta() == {"universe": [], "tokens": []}
    assert info.name_to_asset("ETH") == 1
    meta, ctxs = info.meta_and_asset_ctxs()
    assert meta["universe"] == universe and len(ctxs) == 3
    eth = ctxs[1]
    assert set(eth) == {
        "funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm",
    }
    assert eth["oraclePx"] == "3000" and eth["midPx"] == "3000" and eth["impactPxs"] == ["2999.7", "3000.3"]
    assert all(isinstance(v, str) for k, v in eth.items() if k != "impactPxs")


def test_all_mids_and_l2_book(sim: SimThread) -> None:
    info = Info(sim.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
    assert info.all_mids() == {"BTC": "60000", "ETH": "3000", "SOL": "150"}
    book = info.l2_snapshot("BTC")
    assert book["coin"] == "BTC" and isinstance(book["time"], int)
    bids, asks = book["levels"]
    assert len(bids) == len(asks) == 10
    assert [b["px"] for b in bids[:2]] == ["59994", "59982"]
    assert [a["px"] for a in asks[:2]] == ["60006", "60018"]
    assert all(isinstance(level["n"], int) and level["n"] == 1 for level in bids + asks)
    assert float(bids[0]["px"]) > float(bids[-1]["px"]) and float(asks[0]["px"]) < float(asks[-1]["px"])


def test_candle_snapshot_keeps_only_the_latest_5000(wallet) -> None:
    with SimThread(quiet_config(wallet, history_minutes=5200)) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        now = int(time.time() * 1000)
        candles = info.candles_snapshot("ETH", "1m", 0, now + 60_000)
        assert len(candles) == 5000
        assert all(c["T"] == c["t"] + 59_999 and c["s"] == "ETH" and c["i"] == "1m" for c in candles)
        assert [c["t"] for c in candles] == sorted(c["t"] for c in candles)
        assert set(candles[0]) == {"t", "T", "s", "i", "o", "c", "h", "l", "v", "n"}
        hourly = info.candles_snapshot("ETH", "1h", now - 6 * 3_600_000, now)
        assert 6 <= len(hourly) <= 7
        assert all(float(c["l"]) <= float(c["o"]) <= float(c["h"]) for c in hourly)


def test_user_fills_by_time_and_funding_history(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    start = int(time.time() * 1000)
    statuses(exchange.market_open("ETH", True, 0.1))
    statuses(exchange.market_open("ETH", False, 0.05))
    fills = exchange.info.user_fills_by_time(wallet.address, start)
    assert [f["dir"] for f in fills] == ["Open Long", "Close Long"]  # oldest first
    assert exchange.info.user_fills_by_time(wallet.address, start, start - 1) == []
    newest_first = exchange.info.user_fills(wallet.address)
    assert [f["tid"] for f in newest_first] == [f["tid"] for f in reversed(fills)]
    sim.advance(3_600_000)
    history = exchange.info.funding_history("ETH", start)
    assert len(history) == 1
    row = history[0]
    assert row["coin"] == "ETH" and row["time"] % 3_600_000 == 0 and isinstance(row["fundingRate"], str)


def test_info_answers_a_stranger_with_an_empty_account(sim: SimThread) -> None:
    info = Info(sim.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
    stranger = "0x" + "12" * 20
    state = info.user_state(stranger)
    assert state["assetPositions"] == [] and state["marginSummary"]["accountValue"] == "0"
    assert info.open_orders(stranger) == [] and info.user_fills(stranger) == []
    reply = requests.post(sim.url + "/info", json={"type": "l2Book", "coin": "DOGE"}, timeout=SDK_TIMEOUT_S)
    assert reply.status_code == 200 and reply.json() is None


def test_asset_context_counts_the_last_day_of_trading(sim: SimThread, exchange: SdkExchange) -> None:
    statuses(exchange.market_open("ETH", True, 0.1))
    _, ctxs = exchange.info.meta_and_asset_ctxs()
    eth = ctxs[1]
    assert eth["dayNtlVlm"] == "300.03" and eth["dayBaseVlm"] == "0.1"
    assert eth["openInterest"] == "0.1"
    sim.advance(86_400_000 + 60_000)
    _, ctxs = exchange.info.meta_and_asset_ctxs()
    assert ctxs[1]["dayNtlVlm"] == "0" and ctxs[1]["prevDayPx"] == "3000"


def test_user_funding_history_orders_and_rate_limit(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    start = sim.now_ms()
    statuses(exchange.market_open("ETH", True, 0.1))
    [resting] = statuses(exchange.order("ETH", True, 0.1, 2900.0, {"limit": {"tif": "Gtc"}}))
    statuses(exchange.cancel("ETH", resting["resting"]["oid"]))
    sim.advance(2 * 3_600_000)
    rows = exchange.info.user_funding_history(wallet.address, start)
    assert len(rows) == 2 and all(r["delta"]["type"] == "funding" and r["delta"]["coin"] == "ETH" for r in rows)
    assert rows[0]["delta"]["usdc"] == "-0.00375" and rows[0]["delta"]["szi"] == "0.1"
    history = exchange.info.historical_orders(wallet.address)
    assert [h["status"] for h in history] == ["canceled", "filled"]
    assert exchange.info.spot_user_state(wallet.address) == {"balances": []}
    limits = exchange.info.user_rate_limit(wallet.address)
    assert limits == {"cumVlm": "300.03", "nRequestsUsed": 3, "nRequestsCap": 10_300}
