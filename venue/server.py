"""The exchange on loopback: aiohttp serving /info, /exchange, /ws and the /admin API.

A thin adapter: requests are decoded, handed to the pure core (venue.engine / venue.info) with the
current time, and the core's outbox is pushed to websocket subscribers. A background task steps the
market every `tick_ms` and pushes market data.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web
from loguru import logger

from venue import info as info_view
from venue.config import SimConfig
from venue.engine import Exchange, MalformedAction
from venue.faults import RequestFault
from venue.limits import IpWeightBudget, exchange_weight, info_weight
from venue.mirror import is_mirror
from venue.mirror_feed import MirrorFeed

MAX_WS_PER_IP = 100
MAX_SUBSCRIPTIONS_PER_IP = 1000
COIN_CHANNELS = ("l2Book", "trades", "candle", "bbo", "activeAssetCtx")
USER_CHANNELS = ("orderUpdates", "userFills", "userEvents")


def subscription_key(sub: dict[str, Any]) -> str | None:
    """A canonical key for a subscription; None if it is not one the venue serves."""
    kind = sub.get("type")
    if kind == "allMids":
        return "allMids"
    if kind in COIN_CHANNELS:
        coin = sub.get("coin")
        if not isinstance(coin, str):
            return None
        if kind == "candle":
            return f"candle:{coin}:{sub.get('interval')}"
        return f"{kind}:{coin}"
    if kind in USER_CHANNELS:
        user = sub.get("user")
        if not isinstance(user, str):
            return None
        return f"{kind}:{user.lower()}"
    return None


class _Client:
    def __init__(self, ws: web.WebSocketResponse, ip: str) -> None:
        self.ws = ws
        self.ip = ip
        self.subs: dict[str, dict[str, Any]] = {}


class SimServer:
    """The running venue: the core, its clock, the websocket clients and the fault switches."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock_offset_ms = 0
        self.exchange = Exchange(config, self.now_ms())
        self.weights = IpWeightBudget(config.ip_weight_per_minute)
        self.ws_messages = IpWeightBudget(config.ws_messages_per_minute)
        self.clients: set[_Client] = set()
        self.frozen = config.market == "frozen"
        self._ticker: asyncio.Task | None = None
        # market "mirror:URL": the source's book, trades and funding (start with prepare(config))
        self.mirror = MirrorFeed(self) if is_mirror(config.market) else None

    # ------------------------------------------------------------------ clock and control
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    async def tick(self, n: int = 1) -> None:
        """Run `n` market steps now and push what they produced."""
        for _ in range(n):
            self.exchange.tick(self.now_ms(), step_market=not self.frozen)
            await self.push_market()
            await self.flush()

    async def advance(self, ms: int) -> None:
        """Move the venue's clock forward by `ms` (funding, dead-man switches) and tick once."""
        self.clock_offset_ms += ms
        self.exchange.tick(self.now_ms(), step_market=False)
        await self.push_market()
        await self.flush()

    async def jump(self, coin: str, px: Decimal) -> None:
        self.exchange.jump(coin, px, self.now_ms())
        await self.push_market()
        await self.flush()

    def fund(self, address: str, usdc: Decimal) -> None:
        self.exchange.now_ms = self.now_ms()  # the ledger row's time
        self.exchange.fund(address, usdc)

    async def drop_websockets(self) -> int:
        clients = list(self.clients)
        for client in clients:
            await client.ws.close()
        return len(clients)

    def fail_requests(self, path: str = "*", count: int = 1, status: int = 500, delay_ms: int = 0, body: str = "") -> None:
        self.exchange.faults.requests.append(RequestFault(path=path, count=count, status=status, delay_ms=delay_ms, body=body))

    def reject_orders(self, count: int, text: str = "") -> None:
        self.exchange.faults.reject_orders = count
        self.exchange.faults.reject_text = text

    # ------------------------------------------------------------------ lifecycle
    async def start_ticker(self, app: web.Application) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())
        if self.mirror is not None:
            await self.mirror.start()

    async def stop_ticker(self, app: web.Application) -> None:
        if self.mirror is not None:
            await self.mirror.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        for client in list(self.clients):
            await client.ws.close()

    async def _tick_forever(self) -> None:
        period = self.config.tick_ms / 1000
        while True:
            await asyncio.sleep(period)
            try:
                await self.tick()
            except Exception:  # a bug in one tick must not stop the market
                logger.exception("market tick failed")

    # ------------------------------------------------------------------ HTTP
    async def _preflight(self, request: web.Request, path: str, weight: int) -> web.Response | None:
        fault = self.exchange.faults.next_request_fault(path)
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.status:
                return web.Response(status=fault.status, text=fault.body or _status_text(fault.status))
        ip = request.remote or "?"
        if not self.weights.take(ip, weight, self.now_ms()):
            return web.Response(status=429, text="null", content_type="application/json")
        return None

    async def handle_info(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        kind = body.get("type") if isinstance(body, dict) else None
        refusal = await self._preflight(request, "/info", info_weight(str(kind)))
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return web.Response(status=422, text=info_view.BAD_BODY)
        try:
            reply = info_view.handle_info(self.exchange, body, self.now_ms())
        except info_view.InfoError as exc:
            return web.Response(status=422, text=exc.text)
        if kind == "candleSnapshot" and isinstance(reply, list):
            # +1 weight per 60 candles returned, charged after the fact as Hyperliquid does.
            self.weights.charge(request.remote or "?", len(reply) // 60, self.now_ms())
        return web.json_response(reply)

    async def handle_exchange(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        # A request the venue received is processed even if its client goes away meanwhile (a
        # killed or timed-out client): Hyperliquid does not undo an action because nobody
        # waited for the answer, and execution's tests kill it at exactly that moment.
        return await asyncio.shield(self._exchange(request, body))

    async def _exchange(self, request: web.Request, body: Any) -> web.Response:
        action = body.get("action") if isinstance(body, dict) else None
        batch = 1
        if isinstance(action, dict):
            for key in ("orders", "cancels", "modifies"):
                if isinstance(action.get(key), list):
                    batch = len(action[key])
        refusal = await self._preflight(request, "/exchange", exchange_weight(batch))
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return web.Response(status=422, text=info_view.BAD_BODY)
        try:
            reply = self.exchange.handle_action(body, self.now_ms())
        except MalformedAction:
            return web.Response(status=422, text=info_view.BAD_BODY)
        await self.flush()
        return web.json_response(reply)

    # ------------------------------------------------------------------ websocket
    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        ip = request.remote or "?"
        if sum(1 for c in self.clients if c.ip == ip) >= MAX_WS_PER_IP:
            return web.Response(status=429, text="Too many websocket connections")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client = _Client(ws, ip)
        self.clients.add(client)
        try:
            await ws.send_str("Websocket connection established.")
            while True:
                try:
                    msg = await ws.receive(timeout=self.config.ws_idle_timeout_s)
                except asyncio.TimeoutError:
                    logger.debug("closing idle websocket from {}", ip)
                    break
                if msg.type != WSMsgType.TEXT:
                    break
                await self._on_ws_message(client, msg.data)
        finally:
            self.clients.discard(client)
            if not ws.closed:
                await ws.close()
        return ws

    async def _on_ws_message(self, client: _Client, text: str) -> None:
        if not self.ws_messages.take(client.ip, 1, self.now_ms()):
            # (unconfirmed text) Hyperliquid's own words for this limit were not found.
            await _send(client, {"channel": "error", "data": f"Too many messages sent; limit is {self.config.ws_messages_per_minute} per minute"})
            return
        try:
            msg = json.loads(text)
        except ValueError:
            await _send(client, {"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})
            return
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            await _send(client, {"channel": "pong"})
            return
        sub = msg.get("subscription") if isinstance(msg, dict) else None
        if method not in ("subscribe", "unsubscribe") or not isinstance(sub, dict):
            await _send(client, {"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})
            return
        key = subscription_key(sub)
        if key is None:
            await _send(client, {"channel": "error", "data": f"Invalid subscription {json.dumps(sub)}"})
            return
        if method == "unsubscribe":
            if client.subs.pop(key, None) is None:
                await _send(client, {"channel": "error", "data": f"Already unsubscribed: {json.dumps(sub)}"})
                return
            await _send(client, {"channel": "subscriptionResponse", "data": {"method": "unsubscribe", "subscription": sub}})
            return
        if key in client.subs:
            await _send(client, {"channel": "error", "data": f"Already subscribed: {json.dumps(sub)}"})
            return
        if sum(len(c.subs) for c in self.clients if c.ip == client.ip) >= MAX_SUBSCRIPTIONS_PER_IP:
            await _send(client, {"channel": "error", "data": "Cannot track more than 1000 total subscriptions"})
            return
        client.subs[key] = sub
        await _send(client, {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}})
        await self._snapshot(client, key, sub)

    async def _snapshot(self, client: _Client, key: str, sub: dict[str, Any]) -> None:
        """What a fresh subscriber receives at once."""
        ex, now = self.exchange, self.now_ms()
        kind = sub["type"]
        if kind == "userFills":
            user = sub["user"].lower()
            fills = list(reversed(ex.fills.get(user, [])[-2000:]))
            await _send(client, {"channel": "userFills", "data": {"isSnapshot": True, "user": user, "fills": fills}})
            return
        data = self._market_message(kind, sub, now)
        if data is not None:
            await _send(client, data)

    def _market_message(self, kind: str, sub: dict[str, Any], now: int) -> dict | None:
        ex = self.exchange
        coin = sub.get("coin")
        if kind == "allMids":
            return {"channel": "allMids", "data": {"mids": info_view.all_mids(ex)}}
        if coin not in ex.books:
            return None
        if kind == "l2Book":
            return {"channel": "l2Book", "data": info_view.l2_book(ex, coin, now)}
        if kind == "bbo":
            return {"channel": "bbo", "data": info_view.bbo(ex, coin, now)}
        if kind == "activeAssetCtx":
            return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": info_view.asset_ctx(ex, coin, now)}}
        if kind == "candle":
            candle = ex.market.candles.latest(coin, str(sub.get("interval")))
            return {"channel": "candle", "data": candle} if candle else None
        return None

    async def push_market(self) -> None:
        """Market-data pushes after a tick: every subscribed market channel gets its latest state."""
        if not self.clients:
            return
        now = self.now_ms()
        cache: dict[str, dict | None] = {}
        for client in list(self.clients):
            for key, sub in list(client.subs.items()):
                kind = sub["type"]
                if kind in ("trades",) or kind in USER_CHANNELS:
                    continue
                if key not in cache:
                    cache[key] = self._market_message(kind, sub, now)
                if cache[key] is not None:
                    await _send(client, cache[key])

    async def flush(self) -> None:
        """Push the core's outbox (trades, order updates, fills, user events) to subscribers."""
        outbox, self.exchange.outbox = self.exchange.outbox, []
        if not self.clients or not outbox:
            return
        by_key: dict[str, list[dict]] = defaultdict(list)
        for channel, key, data in outbox:
            if channel == "trades":
                by_key[f"trades:{key}"].append({"channel": "trades", "data": data})
            elif channel == "orderUpdates":
                by_key[f"orderUpdates:{key}"].append({"channel": "orderUpdates", "data": data})
            elif channel == "userFills":
                by_key[f"userFills:{key}"].append({"channel": "userFills", "data": data})
            elif channel == "user":
                by_key[f"userEvents:{key}"].append({"channel": "user", "data": data})
        for client in list(self.clients):
            for key in client.subs:
                for message in by_key.get(key, ()):
                    await _send(client, message)

    # ------------------------------------------------------------------ admin
    async def handle_admin(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await _json_body(request) if request.can_read_body else {}
        body = body if isinstance(body, dict) else {}
        try:
            result = await self.admin(name, body)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"error": f"bad admin request {name}: {exc}"}, status=400)
        return web.json_response({"ok": True, "result": result})

    async def admin(self, name: str, body: dict[str, Any]) -> Any:
        """The admin API, by name (the HTTP endpoint /admin/{name} and the test helpers share it)."""
        if name == "fund":
            self.fund(body["address"], Decimal(str(body["usdc"])))
        elif name == "jump":
            await self.jump(body["coin"], Decimal(str(body["px"])))
        elif name == "tick":
            await self.tick(int(body.get("n", 1)))
        elif name == "advance":
            await self.advance(int(body["ms"]))
        elif name == "freeze":
            self.frozen = bool(body.get("frozen", True))
        elif name == "drop_ws":
            return await self.drop_websockets()
        elif name == "fail_requests":
            self.fail_requests(
                body.get("path", "*"), int(body.get("count", 1)), int(body.get("status", 500)),
                int(body.get("delay_ms", 0)), str(body.get("body", "")),
            )
        elif name == "reject_orders":
            self.reject_orders(int(body.get("count", 1)), str(body.get("text", "")))
        elif name == "clear_faults":
            self.exchange.faults.clear()
        elif name == "state":
            ex = self.exchange
            return {"now": self.now_ms(), "mids": info_view.all_mids(ex), "frozen": self.frozen, "clients": len(self.clients),
                    "mirror": self.mirror.status() if self.mirror is not None else None}
        elif name == "mirror":
            return self.mirror.status() if self.mirror is not None else None
        else:
            raise KeyError(name)
        return None


def build_app(server: SimServer) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/info", server.handle_info)
    app.router.add_post("/exchange", server.handle_exchange)
    app.router.add_get("/ws", server.handle_ws)
    if server.config.admin:
        app.router.add_post("/admin/{name}", server.handle_admin)
    app.on_startup.append(server.start_ticker)
    app.on_shutdown.append(server.stop_ticker)
    return app


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text())
    except ValueError:
        return None


SEND_TIMEOUT_S = 5.0


async def _send(client: _Client, message: dict) -> None:
    """Send one message; a client that cannot take it within SEND_TIMEOUT_S is dropped."""
    if client.ws.closed:
        return
    try:
        await asyncio.wait_for(client.ws.send_str(json.dumps(message, separators=(",", ":"))), SEND_TIMEOUT_S)
    except asyncio.TimeoutError:
        logger.warning("dropping a websocket client that stopped reading ({})", client.ip)
        await client.ws.close()
    except (ConnectionError, RuntimeError):
        pass


def _status_text(status: int) -> str:
    if status == 429:
        return "null"
    return "Internal Server Error" if status >= 500 else "Bad Request"
