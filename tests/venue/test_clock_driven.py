"""What the clock brings: hourly funding, liquidation, the dead-man switch, determinism."""

from __future__ import annotations

from decimal import Decimal

from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info

from tests.venue.conftest import SDK_TIMEOUT_S, statuses, wait_for
from venue.config import SimConfig
from venue.engine import Exchange
from venue.testing import SimThread

GTC = {"limit": {"tif": "Gtc"}}


def test_hourly_funding_is_paid_by_longs(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    statuses(exchange.market_open("ETH", True, 0.1))
    before = sim.call(lambda ex: ex.accounts[wallet.address.lower()].cash)
    events: list[dict] = []
    info = Info(sim.url, skip_ws=False, timeout=SDK_TIMEOUT_S)
    try:
        info.subscribe({"type": "userEvents", "user": wallet.address}, events.append)
        mids: list[dict] = []
        info.subscribe({"type": "allMids"}, mids.append)
        # The allMids snapshot follows the userEvents subscription on the same socket: both are live.
        wait_for(lambda: mids, what="the allMids snapshot")
        sim.advance(3_600_000)
        funding = wait_for(lambda: [e["data"]["funding"] for e in list(events) if "funding" in e["data"]], what="funding event")[0]
    finally:
        info.disconnect_websocket()
    rate = Decimal("0.0001") / 8  # interest only: the synthetic book is centred on the oracle
    paid = Decimal("0.1") * Decimal(3000) * rate
    after = sim.call(lambda ex: ex.accounts[wallet.address.lower()].cash)
    assert before - after == paid
    assert funding["coin"] == "ETH" and Decimal(funding["usdc"]) == -paid and funding["szi"] == "0.1"
    assert Decimal(funding["fundingRate"]) == rate
    [pos] = exchange.info.user_state(wallet.address)["assetPositions"]
    assert Decimal(pos["position"]["cumFunding"]["allTime"]) == paid.quantize(Decimal("0.000001"))
    [row] = exchange.info.funding_history("ETH", 0)
    assert Decimal(row["fundingRate"]) == rate


def test_liquidation_when_margin_runs_out(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    [status] = statuses(exchange.market_open("ETH", True, 60.0))
    assert status["filled"]["totalSz"] == "60"
    [resting] = statuses(exchange.order("ETH", True, 0.01, 2000.0, GTC))
    [pos] = exchange.info.user_state(wallet.address)["assetPositions"]
    liq_px = Decimal(pos["position"]["liquidationPx"])
    assert Decimal(2850) < liq_px < Decimal(2900)
    sim.jump("ETH", str(liq_px + 5))
    assert exchange.info.user_state(wallet.address)["assetPositions"] != []
    sim.jump("ETH", str(liq_px - 5))
    state = exchange.info.user_state(wallet.address)
    assert state["assetPositions"] == []
    assert Decimal(state["marginSummary"]["accountValue"]) > 0
    status_after = exchange.info.query_order_by_oid(wallet.address, resting["resting"]["oid"])
    assert status_after["order"]["status"] == "liquidatedCanceled"
    close = exchange.info.user_fills(wallet.address)[0]
    assert close["dir"] == "Close Long" and close["sz"] == "60"
    assert close["liquidation"] == {"liquidatedUser": wallet.address.lower(), "markPx": str(liq_px - 5), "method": "market"}


def test_dead_man_switch_cancels_everything_and_counts_triggers(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    [a] = statuses(exchange.order("ETH", True, 0.1, 2900.0, GTC))
    [b] = statuses(exchange.order("BTC", False, 0.001, 65000.0, GTC))
    assert exchange.schedule_cancel(sim.now_ms() + 6_000)["status"] == "ok"
    sim.advance(10_000)
    assert exchange.info.open_orders(wallet.address) == []
    for resting in (a, b):
        order = exchange.info.query_order_by_oid(wallet.address, resting["resting"]["oid"])
        assert order["order"]["status"] == "scheduledCancel"
    # Ten triggers a day; the eleventh arming is refused.
    for _ in range(9):
        assert exchange.schedule_cancel(sim.now_ms() + 6_000)["status"] == "ok"
        sim.advance(10_000)
    reply = exchange.schedule_cancel(sim.now_ms() + 3_600_000)
    assert reply == {"status": "err", "response": "Too many scheduled cancels triggered today."}


def test_the_market_is_deterministic_under_a_seed() -> None:
    config = SimConfig(history_minutes=60, history_hours=0)
    one, two = Exchange(config, 1_800_000_000_000), Exchange(config, 1_800_000_000_000)
    for i in range(20):
        one.tick(1_800_000_000_000 + 500 * i)
        two.tick(1_800_000_000_000 + 500 * i)
    assert one.market.fair == two.market.fair
    assert one.market.fair != {c.name: Decimal(c.start_px) for c in config.coins}
    assert one.market.candles.snapshot("BTC", "1m", 0, 2**62) == two.market.candles.snapshot("BTC", "1m", 0, 2**62)
    other = Exchange(SimConfig(history_minutes=60, history_hours=0, seed=8), 1_800_000_000_000)
    other.tick(1_800_000_000_000)
    assert other.market.fair != one.market.fair


def test_dead_man_switch_tells_the_user_which_orders_it_canceled(sim: SimThread, exchange: SdkExchange, wallet) -> None:
    [a] = statuses(exchange.order("ETH", True, 0.1, 2900.0, GTC))
    info = Info(sim.url, skip_ws=False, timeout=SDK_TIMEOUT_S)
    events: list[dict] = []
    mids: list[dict] = []
    try:
        info.subscribe({"type": "userEvents", "user": wallet.address}, events.append)
        info.subscribe({"type": "allMids"}, mids.append)
        wait_for(lambda: mids, what="the allMids snapshot")
        assert exchange.schedule_cancel(sim.now_ms() + 6_000)["status"] == "ok"
        sim.advance(10_000)
        notice = wait_for(lambda: [e["data"] for e in list(events) if "nonUserCancel" in e["data"]], what="nonUserCancel")
    finally:
        info.disconnect_websocket()
    assert notice[0] == {"nonUserCancel": [{"coin": "ETH", "oid": a["resting"]["oid"]}]}
