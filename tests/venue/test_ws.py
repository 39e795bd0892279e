"""Websocket subscriptions through the SDK's own WebsocketManager, and the server's ws rules."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import aiohttp
import pytest
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info

from tests.venue.conftest import SDK_TIMEOUT_S, statuses, wait_for
from venue.config import SimConfig
from venue.testing import SimThread, run_sim


class Inbox:
    """Collects SDK callbacks by channel (they arrive on the SDK's websocket thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_channel: dict[str, list[dict]] = defaultdict(list)

    def __call__(self, msg: dict) -> None:
        with self.lock:
            self.by_channel[msg["channel"]].append(msg)

    def get(self, channel: str) -> list[dict]:
        with self.lock:
            return list(self.by_channel[channel])


@pytest.fixture
def ws_info(sim: SimThread):
    info = Info(sim.url, skip_ws=False, timeout=SDK_TIMEOUT_S)
    try:
        yield info
    finally:
        info.disconnect_websocket()


def test_market_channels_reach_the_sdk(sim: SimThread, ws_info: Info) -> None:
    inbox = Inbox()
    ws_info.subscribe({"type": "allMids"}, inbox)
    ws_info.subscribe({"type": "l2Book", "coin": "ETH"}, inbox)
    ws_info.subscribe({"type": "bbo", "coin": "BTC"}, inbox)
    ws_info.subscribe({"type": "activeAssetCtx", "coin": "SOL"}, inbox)
    ws_info.subscribe({"type": "candle", "coin": "ETH", "interval": "1m"}, inbox)
    # A snapshot arrives on subscribe; each tick pushes again.
    wait_for(lambda: all(inbox.get(c) for c in ("allMids", "l2Book", "bbo", "activeAssetCtx", "candle")), what="snapshots")
    sim.tick()
    wait_for(lambda: len(inbox.get("l2Book")) >= 2, what="a pushed l2Book")
    mids = inbox.get("allMids")[-1]["data"]["mids"]
    assert mids == {"BTC": "60000", "ETH": "3000", "SOL": "150"}
    book = inbox.get("l2Book")[-1]["data"]
    assert book["coin"] == "ETH" and len(book["levels"][0]) == 10 and book["levels"][1][0]["px"] == "3000.3"
    bbo = inbox.get("bbo")[-1]["data"]
    assert bbo["coin"] == "BTC" and bbo["bbo"][0]["px"] == "59994" and bbo["bbo"][1]["px"] == "60006"
    ctx = inbox.get("activeAssetCtx")[-1]["data"]
    assert ctx["coin"] == "SOL" and ctx["ctx"]["oraclePx"] == "150" and ctx["ctx"]["markPx"] == "150"
    candle = inbox.get("candle")[-1]["data"]
    assert candle["s"] == "ETH" and candle["i"] == "1m" and candle["T"] == candle["t"] + 59_999


def test_trades_and_user_channels_reach_the_sdk(sim: SimThread, ws_info: Info, exchange: SdkExchange, wallet) -> None:
    inbox = Inbox()
    ws_info.subscribe({"type": "trades", "coin": "ETH"}, inbox)
    ws_info.subscribe({"type": "orderUpdates", "user": wallet.address}, inbox)
    ws_info.subscribe({"type": "userFills", "user": wallet.address}, inbox)
    ws_info.subscribe({"type": "userEvents", "user": wallet.address}, inbox)
    snapshot = wait_for(lambda: inbox.get("userFills"), what="the userFills snapshot")[0]["data"]
    assert snapshot == {"isSnapshot": True, "user": wallet.address.lower(), "fills": []}
    [status] = statuses(exchange.order("ETH", True, 0.1, 2900.0, {"limit": {"tif": "Gtc"}}))
    oid = status["resting"]["oid"]
    [filled] = statuses(exchange.market_open("ETH", True, 0.1))
    trades = wait_for(lambda: inbox.get("trades"), what="trades")[0]["data"]
    assert trades[0]["coin"] == "ETH" and trades[0]["side"] == "B" and trades[0]["px"] == "3000.3"
    assert trades[0]["users"][0] == wallet.address.lower()
    wait_for(lambda: len(inbox.get("orderUpdates")) >= 2, what="order updates")
    updates = [u for msg in inbox.get("orderUpdates") for u in msg["data"]]
    assert (updates[0]["order"]["oid"], updates[0]["status"]) == (oid, "open")
    assert (updates[1]["order"]["oid"], updates[1]["status"]) == (filled["filled"]["oid"], "filled")
    live = wait_for(lambda: inbox.get("userFills")[1:], what="a live userFills push")[0]["data"]
    assert live["isSnapshot"] is False and live["fills"][0]["oid"] == filled["filled"]["oid"]
    event = wait_for(lambda: inbox.get("user"), what="a userEvents push")[0]["data"]
    assert event["fills"][0]["tid"] == live["fills"][0]["tid"]


def test_dropped_websockets_end_sdk_subscriptions(sim: SimThread, ws_info: Info) -> None:
    inbox = Inbox()
    ws_info.subscribe({"type": "allMids"}, inbox)
    wait_for(lambda: inbox.get("allMids"), what="allMids")
    assert sim.drop_websockets() == 1
    wait_for(lambda: not ws_info.ws_manager.ws.keep_running, what="the SDK to see the close")


async def test_ping_pong_subscription_errors_and_idle_disconnect() -> None:
    config = SimConfig(port=0, market="frozen", tick_ms=3_600_000, history_minutes=5, history_hours=0, ws_idle_timeout_s=0.5)
    async with run_sim(config) as venue, aiohttp.ClientSession() as session:
        async with session.ws_connect(venue.ws_url) as ws:
            assert (await ws.receive_str(timeout=5)) == "Websocket connection established."
            await ws.send_str(json.dumps({"method": "ping"}))
            assert json.loads(await ws.receive_str(timeout=5)) == {"channel": "pong"}
            await ws.send_str(json.dumps({"method": "subscribe", "subscription": {"type": "nope"}}))
            error = json.loads(await ws.receive_str(timeout=5))
            assert error == {"channel": "error", "data": 'Invalid subscription {"type": "nope"}'}
            sub = {"type": "trades", "coin": "BTC"}
            await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
            ack = json.loads(await ws.receive_str(timeout=5))
            assert ack == {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}
            # Silence for longer than the idle limit: the server closes the connection.
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_websocket_message_budget_per_ip() -> None:
    config = SimConfig(port=0, market="frozen", tick_ms=3_600_000, history_minutes=5, history_hours=0, ws_messages_per_minute=3)
    async with run_sim(config) as venue, aiohttp.ClientSession() as session:
        async with session.ws_connect(venue.ws_url) as ws:
            assert (await ws.receive_str(timeout=5)) == "Websocket connection established."
            for _ in range(3):
                await ws.send_str(json.dumps({"method": "ping"}))
                assert json.loads(await ws.receive_str(timeout=5)) == {"channel": "pong"}
            await ws.send_str(json.dumps({"method": "ping"}))
            refused = json.loads(await ws.receive_str(timeout=5))
            assert refused == {"channel": "error", "data": "Too many messages sent; limit is 3 per minute"}
