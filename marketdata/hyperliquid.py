"""Talking to Hyperliquid (or the local exchange) for market data: REST candle history and a
websocket feed that reconnects by itself.

The SDK's websocket manager never reconnects, so the feed has its own client: jittered
exponential backoff, resubscription, a ping well inside the 60 s idle limit, and a hook after
every reconnect so the caller can backfill what it missed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
from loguru import logger

from marketdata.candles import Bar

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
MAX_FUNDING_ROWS = 500  # fundingHistory answers at most this many rows per call
MAX_CANDLES = 5000  # Hyperliquid keeps (and returns) at most this many per coin and interval


_decode = msgspec.json.Decoder().decode  # plain JSON → dicts, faster than json.loads


def ws_url(base_url: str) -> str:
    """The SDK's rule: 'ws' + base_url[4:] + '/ws' (http→ws, https→wss)."""
    return "ws" + base_url[4:] + "/ws"


class InfoError(RuntimeError):
    pass


class InfoClient:
    """POST /info with timeouts and retries on 429 / 5xx / connection errors."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, *, timeout_s: float = 10.0,
                 retries: int = 4) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries

    async def post(self, body: dict) -> Any:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                async with self.session.post(f"{self.base_url}/info", json=body, timeout=self.timeout) as resp:
                    if resp.status == 200:
                        return await resp.json(content_type=None)
                    text = (await resp.text())[:300]
                    if resp.status not in (429, 500, 502, 503, 504) or attempt == self.retries:
                        raise InfoError(f"/info {body.get('type')} answered {resp.status}: {text}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if attempt == self.retries:
                    raise InfoError(f"/info {body.get('type')} failed: {exc!r}") from None
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 10.0)
        raise InfoError("unreachable")

    async def _paged(self, request: Callable[[int], dict], start_ms: int, end_ms: int,
                     page_cap: int, time_of: Callable[[dict], int]) -> list[dict]:
        """Every row with time in [start_ms, end_ms] of a time-range query the venue answers
        at most `page_cap` rows at a time: the next page starts after the last time returned.
        Rows in time order, one per time (a repeat replaces the earlier row)."""
        out: dict[int, dict] = {}
        start = start_ms
        while start <= end_ms:
            rows = await self.post(request(start))
            if not rows:
                break
            for r in rows:
                t = time_of(r)
                if start_ms <= t <= end_ms:
                    out[t] = r
            last = max(time_of(r) for r in rows)
            if last < start or len(rows) < page_cap:
                break
            start = last + 1
        return [out[t] for t in sorted(out)]

    async def candles(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[Bar]:
        """All candles with open time in [start_ms, end_ms], paging past the 5000-per-call cap.
        Only the newest 5000 per interval exist on the exchange: older ones come back empty."""
        rows = await self._paged(
            lambda start: {"type": "candleSnapshot", "req": {
                "coin": coin, "interval": interval, "startTime": start, "endTime": end_ms}},
            start_ms, end_ms, MAX_CANDLES, lambda r: int(r["t"]))
        return [Bar.from_wire(r) for r in rows]

    async def funding_history(self, coin: str, start_ms: int, end_ms: int) -> list[dict]:
        """Hourly funding payments with time in [start_ms, end_ms] as dicts {t, funding,
        premium} (floats; `funding` is the hourly rate), paging past the 500-per-call cap."""
        rows = await self._paged(
            lambda start: {"type": "fundingHistory", "coin": coin, "startTime": start,
                           "endTime": end_ms},
            start_ms, end_ms, MAX_FUNDING_ROWS, lambda r: int(r["time"]))
        return [{"t": int(r["time"]), "funding": float(r["fundingRate"]),
                 "premium": float(r.get("premium") or 0.0)} for r in rows]


Handler = Callable[[str, Any], Awaitable[None]]
StateHandler = Callable[[str, str], Awaitable[None]]


class FeedClient:
    """One websocket connection carrying many subscriptions; reconnects forever until stopped.

    `on_message(channel, data)` gets every push; `on_state(state, detail)` gets "live",
    "reconnecting" and "down"; `on_connected()` runs after each (re)subscription (backfill here).
    """

    def __init__(
        self,
        url: str,
        subscriptions: list[dict],
        on_message: Handler,
        on_state: StateHandler | None = None,
        on_connected: Callable[[bool], Awaitable[None]] | None = None,
        *,
        ping_interval_s: float = 20.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.on_state = on_state
        self.on_connected = on_connected
        self.ping_interval_s = ping_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self.connects = 0
        self.messages = 0

    async def _state(self, state: str, detail: str = "") -> None:
        if self.on_state is not None:
            await self.on_state(state, detail)

    async def run(self, stopping: asyncio.Event) -> None:
        delay = self.backoff_initial_s
        async with aiohttp.ClientSession() as session:
            while not stopping.is_set():
                try:
                    async with session.ws_connect(
                        self.url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                        heartbeat=None, autoping=True, max_msg_size=0,
                    ) as ws:
                        for sub in self.subscriptions:
                            await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                        self.connects += 1
                        delay = self.backoff_initial_s
                        await self._state("live", f"connected to {self.url}")
                        if self.on_connected is not None:
                            await self.on_connected(self.connects > 1)
                        await self._read(ws, stopping)
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    logger.warning("market feed {}: {!r}", self.url, exc)
                if stopping.is_set():
                    break
                wait = delay * random.uniform(0.5, 1.0)
                await self._state("reconnecting", f"reconnecting in {wait:.1f} s")
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, self.backoff_max_s)
        await self._state("down", "stopped")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stopping: asyncio.Event) -> None:
        # Stopping closes the socket, which ends the receive below: no per-message task or wait.
        # The server closes a connection that has *sent* nothing for 60 s, however much it
        # pushes, so the ping follows the time since our last send, not since the last push
        # (a busy feed was dropped every minute).
        closer = asyncio.create_task(self._close_when(stopping, ws))
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self.ping_interval_s
        try:
            while True:
                if loop.time() >= next_ping:
                    await ws.send_str('{"method":"ping"}')
                    next_ping = loop.time() + self.ping_interval_s
                try:
                    msg = await ws.receive(timeout=max(0.0, next_ping - loop.time()))
                except asyncio.TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._dispatch(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    if not stopping.is_set():
                        logger.warning("market feed closed by the server ({})", msg.type.name)
                    return
        finally:
            closer.cancel()

    @staticmethod
    async def _close_when(stopping: asyncio.Event, ws: aiohttp.ClientWebSocketResponse) -> None:
        await stopping.wait()
        await ws.close()

    async def _dispatch(self, text: str) -> None:
        if not text.startswith("{"):
            return  # "Websocket connection established."
        try:
            msg = _decode(text)
        except msgspec.DecodeError:
            logger.warning("market feed sent malformed JSON: {}", text[:200])
            return
        channel = msg.get("channel", "")
        if channel in ("pong", "subscriptionResponse"):
            return
        if channel == "error":
            logger.warning("market feed error: {}", msg.get("data"))
            return
        self.messages += 1
        await self.on_message(channel, msg.get("data"))
