"""Following the source of a mirror (`market = "mirror:URL"`): its meta before the exchange is
built, then its books, trades and asset contexts over a reconnecting websocket, REST behind it,
its hourly funding rows, and the clock that decides a coin is stale (venue.mirror says what then).

- `prepare(config)` (async, before `SimServer(config)`): each mirrored coin's lot, leverage and
  price from the source's `metaAndAssetCtxs`; a coin the source does not list stops start-up.
- `MirrorFeed(server)`: started and stopped with the server. One websocket (derived from the URL
  as the SDK does: `"ws" + url[4:] + "/ws"`) carries l2Book, trades and activeAssetCtx of every
  coin, pinging inside the source's 60 s idle limit and reconnecting with jittered backoff. A
  coin with no book push for `quiet_poll_s` is read over REST (a quiet book, or the socket
  down), the contexts after `ctx_poll_s`. Any book not older than the one held confirms the coin
  (it is the source's current book); a coin unconfirmed for `stale_after_s` is stale.
- Funding: when the source's clock (the books' time) passes the top of a funding interval, the
  source's fundingHistory is read until its row for that interval appears (backing off to a
  minute), and each new row is paid.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from loguru import logger

from venue.config import CoinSpec, SimConfig
from venue.mirror import (
    WAITING,
    MirrorMarket,
    apply_trades,
    is_mirror,
    pay_source_funding,
    source_url,
)

if TYPE_CHECKING:
    from venue.server import SimServer

FUNDING_RETRY_MAX_S = 60.0
FUNDING_LATE_S = 600.0  # a funding row this late is worth a warning


class MirrorError(RuntimeError):
    """The mirror cannot start: the source is unreachable or lacks a coin (the fix is named)."""


def ws_url(base_url: str) -> str:
    """The SDK's rule: 'ws' + base_url[4:] + '/ws' (http→ws, https→wss)."""
    return "ws" + base_url[4:] + "/ws"


async def _post(session: aiohttp.ClientSession, url: str, body: dict, timeout_s: float) -> Any:
    async with session.post(f"{url}/info", json=body,
                            timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
        text = await resp.text()
        if resp.status != 200:
            raise MirrorError(f"{url}/info {body.get('type')} answered {resp.status}: {text[:200]}")
        return json.loads(text)


async def prepare(config: SimConfig, attempts: int = 3) -> SimConfig:
    """The config a mirror runs with: every coin of `config.coins` with the source's lot size,
    maximum leverage and current mark (no synthetic history: candles come from the source's
    trades). Any other market is returned as it is."""
    if not is_mirror(config.market):
        return config
    url = source_url(config.market)
    own = {f"http://{host}:{config.port}" for host in (config.host, "127.0.0.1", "localhost")}
    if config.port and url in own:
        raise MirrorError(f"the local exchange would mirror itself ({url}): point mirror:URL at "
                          "another venue (venue.market_data or market_data.url)")
    timeout_s = config.mirror.request_timeout_s
    reply: Any = None
    async with aiohttp.ClientSession() as session:
        for attempt in range(attempts):
            try:
                reply = await _post(session, url, {"type": "metaAndAssetCtxs"}, timeout_s)
                break
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, MirrorError,
                    ValueError) as exc:
                if attempt == attempts - 1:
                    raise MirrorError(f"cannot read the meta of the mirror's source {url}: {exc!r}; "
                                      "check the URL and the network (the local exchange "
                                      "mirrors venue.market_data's venue)") from None
                await asyncio.sleep(0.5 * (attempt + 1))
    try:
        meta, ctxs = reply
        listed = {u["name"]: (u, ctx) for u, ctx in zip(meta["universe"], ctxs)
                  if not u.get("isDelisted")}
    except (TypeError, ValueError, KeyError) as exc:
        raise MirrorError(f"{url} answered metaAndAssetCtxs with something else than "
                          f"[meta, contexts]: {exc!r}") from None
    missing = [c.name for c in config.coins if c.name not in listed]
    if missing:
        raise MirrorError(f"the mirror's source {url} lists no {', '.join(missing)}: take "
                          f"{'them' if len(missing) > 1 else 'it'} out of market.coins and "
                          "venue.sim.coins")
    coins = []
    for spec in config.coins:
        u, ctx = listed[spec.name]
        px = ctx.get("markPx") or ctx.get("oraclePx") or spec.start_px
        coins.append(CoinSpec(name=spec.name, sz_decimals=int(u["szDecimals"]),
                              max_leverage=int(u["maxLeverage"]), start_px=str(px)))
    return msgspec.structs.replace(config, market=f"mirror:{url}", coins=tuple(coins),
                                   history_minutes=0, history_hours=0)


class MirrorFeed:
    """The source's market into the running exchange (see the module's docstring)."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.market: MirrorMarket = server.exchange.market  # type: ignore[assignment]
        self.cfg = server.config.mirror
        self.url = self.market.source
        self.ws_url = ws_url(self.url)
        self.coins = list(server.exchange.coins)
        self.stopping = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task] = []
        self.polls: dict[str, asyncio.Task] = {}
        self.ws_live = False
        self.ws_error = ""
        self.rest_error = ""
        self.connects = 0
        self.pushes = 0
        self.rest_reads = 0
        never = -1e18
        self.heard: dict[str, float] = {c: never for c in self.coins}  # last book answer
        self.confirmed: dict[str, float] = {c: never for c in self.coins}  # last newer book
        self.ctx_heard = never
        self.started = 0.0
        # funding: per coin the source time of the newest row known (None: not read yet)
        self.funding_known: dict[str, int | None] = {c: None for c in self.coins}
        self.funding_next: dict[str, float] = {c: 0.0 for c in self.coins}
        self.funding_wait: dict[str, float] = {c: 1.0 for c in self.coins}
        self.funding_late_said: set[str] = set()
        self.funding_paid = 0
        self.said_stale: set[str] = set()  # coins whose staleness was logged

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        # the websocket task reads every book and context first; the watch asks again later
        self.heard = {c: self.started for c in self.coins}
        self.ctx_heard = self.started
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.cfg.request_timeout_s))
        logger.info("mirror: following {} ({}) for {}", self.url, self.ws_url, ", ".join(self.coins))
        self.tasks = [asyncio.create_task(self._run_ws(), name="mirror-ws"),
                      asyncio.create_task(self._watch(), name="mirror-watch")]

    async def stop(self) -> None:
        self.stopping.set()
        for task in [*self.tasks, *self.polls.values()]:
            task.cancel()
        for task in [*self.tasks, *self.polls.values()]:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.session is not None:
            await self.session.close()

    def status(self) -> dict:
        """What the mirror knows of its source (admin `mirror` and `state`)."""
        now = asyncio.get_running_loop().time()
        m = self.market
        return {
            "source": self.url,
            "websocket": "live" if self.ws_live else f"down ({self.ws_error or 'connecting'})",
            "connects": self.connects,
            "pushes": self.pushes,
            "rest_reads": self.rest_reads,
            "rest_error": self.rest_error,
            "funding_paid": self.funding_paid,
            "funding_known": dict(self.funding_known),  # per coin, the newest source row (ms)
            "source_time": m.source_time_ms,
            "coins": {c: {"stale": m.stale.get(c), "book_time": m.book_time.get(c),
                          "confirmed_s_ago": round(now - self.confirmed[c], 3)
                          if self.confirmed[c] > -1e17 else None}
                      for c in self.coins},
        }

    async def _settle(self) -> None:
        """Let the exchange react to what changed (requote, triggers, liquidations) and push."""
        server = self.server
        server.exchange.tick(server.now_ms(), step_market=False)
        await server.push_market()
        await server.flush()

    # ------------------------------------------------------------------ websocket
    async def _run_ws(self) -> None:
        assert self.session is not None
        await asyncio.gather(*(self._read_book(c) for c in self.coins), self._read_ctx(),
                             self._check_meta())
        delay = self.cfg.backoff_initial_s
        while not self.stopping.is_set():
            try:
                async with self.session.ws_connect(
                    self.ws_url, heartbeat=None, autoping=True, max_msg_size=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                ) as ws:
                    for coin in self.coins:
                        # a venue may replay recent trades on subscribing: older ones are not news
                        self.market.trade_horizon[coin] = max(
                            self.market.trade_horizon.get(coin, 0),
                            self.market.book_time.get(coin, 0))
                        for kind in ("l2Book", "trades", "activeAssetCtx"):
                            await ws.send_str(json.dumps({"method": "subscribe",
                                                          "subscription": {"type": kind, "coin": coin}}))
                    self.connects += 1
                    self.ws_live, self.ws_error = True, ""
                    delay = self.cfg.backoff_initial_s
                    logger.info("mirror: websocket to {} {}", self.ws_url,
                                "reconnected" if self.connects > 1 else "connected")
                    await self._read(ws)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.ws_error = repr(exc)
            finally:
                self.ws_live = False
            if self.stopping.is_set():
                break
            wait = delay * random.uniform(0.5, 1.0)
            logger.warning("mirror: websocket to {} is down ({}): following over REST every {} s, "
                           "reconnecting in {:.1f} s", self.ws_url, self.ws_error or "closed",
                           self.cfg.quiet_poll_s, wait)
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, self.cfg.backoff_max_s)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # The source drops a connection that *sent* nothing for 60 s: ping by the time since
        # our last send, however much it pushes.
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self.cfg.ping_interval_s
        while not self.stopping.is_set():
            if loop.time() >= next_ping:
                await ws.send_str('{"method":"ping"}')
                next_ping = loop.time() + self.cfg.ping_interval_s
            try:
                msg = await ws.receive(timeout=max(0.0, next_ping - loop.time()))
            except asyncio.TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self._on_text(msg.data)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                self.ws_error = f"closed by the source ({msg.type.name})"
                return

    async def _on_text(self, text: str) -> None:
        if not text.startswith("{"):
            return  # "Websocket connection established."
        try:
            msg = json.loads(text)
            channel, data = msg.get("channel"), msg.get("data")
            if channel == "l2Book":
                self.pushes += 1
                await self._on_book(data)
            elif channel == "trades":
                self.pushes += 1
                await self._on_trades(data)
            elif channel == "activeAssetCtx":
                self.pushes += 1
                self._on_ctx(data.get("coin"), data.get("ctx"))
                await self._settle()
            elif channel == "error":
                logger.warning("mirror: the source said: {}", data)
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            logger.warning("mirror: a message from {} could not be read ({!r}): {}", self.url, exc,
                           text[:200])

    # ------------------------------------------------------------------ applying
    async def _on_book(self, data: dict) -> None:
        """A book from the source, pushed or read: a confirmation unless older than the one
        held (an unchanged quiet book read again is the source's current book); taken as the
        liquidity only when newer, so what an order took stays taken until the book moves."""
        coin = data.get("coin")
        if coin not in self.heard:
            return
        now = asyncio.get_running_loop().time()
        self.heard[coin] = now
        if int(data["time"]) < self.market.book_time.get(coin, -1):
            return
        self.confirmed[coin] = now
        changed = self.market.apply_book(data)
        was = self.market.stale.get(coin)
        self.said_stale.discard(coin)
        if self.market.set_fresh(coin):
            changed = True
            logger.info("mirror: {} follows {}{} (book time {})", coin, self.url,
                        "" if was == WAITING else " again", self.market.book_time[coin])
        if changed:
            await self._settle()

    async def _on_trades(self, data: list) -> None:
        if not data:
            return
        coin = data[0].get("coin")
        if coin not in self.heard:
            return
        filled = apply_trades(self.server.exchange, self.market, coin, data,
                              self.cfg.trade_through, self.server.now_ms())
        if filled:
            await self._settle()  # positions changed: margin, liquidation, the book's pushes
        else:
            await self.server.flush()  # the source's trades, on the mirror's trades channel

    def _on_ctx(self, coin: Any, ctx: Any) -> None:
        if coin in self.heard:
            self.ctx_heard = asyncio.get_running_loop().time()
            self.market.apply_ctx(coin, ctx)

    # ------------------------------------------------------------------ REST
    async def _info(self, body: dict) -> Any:
        assert self.session is not None
        try:
            reply = await _post(self.session, self.url, body, self.cfg.request_timeout_s)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, MirrorError, ValueError) as exc:
            self.rest_error = f"{body.get('type')}: {exc!r}"[:300]
            raise MirrorError(self.rest_error) from None
        self.rest_reads += 1
        self.rest_error = ""
        return reply

    async def _read_book(self, coin: str) -> None:
        try:
            data = await self._info({"type": "l2Book", "coin": coin})
        except MirrorError:
            return
        finally:  # asked: again after quiet_poll_s, whatever the answer
            self.heard[coin] = asyncio.get_running_loop().time()
        if isinstance(data, dict):
            await self._on_book(data)

    async def _read_ctx(self) -> None:
        try:
            meta, ctxs = await self._info({"type": "metaAndAssetCtxs"})
        except (MirrorError, ValueError, TypeError):
            return
        finally:
            self.ctx_heard = asyncio.get_running_loop().time()
        for u, ctx in zip(meta.get("universe", []), ctxs):
            self._on_ctx(u.get("name"), ctx)
        await self._settle()

    async def _check_meta(self) -> None:
        """The exchange was built with the source's lots (prepare): say so loudly if not."""
        try:
            meta = await self._info({"type": "meta"})
        except MirrorError:
            return
        ours = {c.name: c for c in self.server.config.coins}
        for u in meta.get("universe", []):
            spec = ours.get(u.get("name"))
            if spec is not None and spec.sz_decimals != int(u.get("szDecimals", -1)):
                logger.error("mirror: {} has szDecimals {} on {} but {} here: start the mirror "
                             "through `organism sim` (venue.mirror_feed.prepare)", spec.name,
                             u.get("szDecimals"), self.url, spec.sz_decimals)

    async def _read_funding(self, coin: str) -> None:
        """New funding rows of `coin` since the newest known, paid in time order."""
        loop = asyncio.get_running_loop()
        known = self.funding_known[coin]
        interval = self.server.config.funding_interval_ms
        source_now = self.market.source_time_ms
        start = known + 1 if known is not None else max(0, source_now - 2 * interval)
        try:
            rows = await self._info({"type": "fundingHistory", "coin": coin, "startTime": start})
        except MirrorError:
            self._funding_later(coin, loop.time())
            return
        rows = sorted((r for r in rows if isinstance(r, dict) and "time" in r),
                      key=lambda r: int(r["time"]))
        if known is None:
            # The baseline: what the source paid before we followed it is not ours to pay.
            last = int(rows[-1]["time"]) if rows else 0
            self.funding_known[coin] = max(last, source_now - source_now % interval)
            return
        new = [r for r in rows if int(r["time"]) > known]
        for row in new:
            pay_source_funding(self.server.exchange, self.market, row)
            self.funding_known[coin] = int(row["time"])
            self.funding_paid += 1
            logger.info("mirror: funding {} at {}: rate {} (the source's)", coin, row["time"],
                        row["fundingRate"])
        if new:
            self.funding_wait[coin] = 1.0
            self.funding_late_said.discard(coin)
            await self._settle()
        else:
            self._funding_later(coin, loop.time())

    def _funding_later(self, coin: str, now: float) -> None:
        self.funding_next[coin] = now + self.funding_wait[coin]
        self.funding_wait[coin] = min(self.funding_wait[coin] * 2, FUNDING_RETRY_MAX_S)

    def _funding_due(self, coin: str, now: float) -> bool:
        if now < self.funding_next[coin]:
            return False
        known = self.funding_known[coin]
        source_now = self.market.source_time_ms
        if known is None:
            return source_now > 0  # the baseline, once the source's clock is known
        interval = self.server.config.funding_interval_ms
        due = source_now - source_now % interval
        if due > known and coin not in self.funding_late_said and \
                (source_now - due) / 1000 > FUNDING_LATE_S:
            self.funding_late_said.add(coin)
            logger.warning("mirror: {} has published no funding for {} since {} s ago", self.url,
                           coin, round((source_now - due) / 1000))
        return due > known

    # ------------------------------------------------------------------ the clock
    async def _watch(self) -> None:
        cfg = self.cfg
        period = min(max(min(cfg.quiet_poll_s, cfg.stale_after_s, cfg.ctx_poll_s) / 4, 0.02), 0.5)
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            await asyncio.sleep(period)
            now = loop.time()
            try:
                for coin in self.coins:
                    self._spawn_when(f"book:{coin}", now - self.heard[coin] >= cfg.quiet_poll_s,
                                     lambda c=coin: self._read_book(c))
                    since = max(self.confirmed[coin], self.started)
                    if now - since >= cfg.stale_after_s and coin not in self.said_stale:
                        await self._go_stale(coin, now - since)
                    self._spawn_when(f"funding:{coin}", self._funding_due(coin, now),
                                     lambda c=coin: self._read_funding(c))
                self._spawn_when("ctx", now - self.ctx_heard >= cfg.ctx_poll_s, self._read_ctx)
            except Exception:  # the watch must outlive any one bad answer
                logger.exception("mirror: watching {} failed once", self.url)

    def _spawn_when(self, key: str, due: bool, make) -> None:
        task = self.polls.get(key)
        if not due or (task is not None and not task.done()):
            return
        self.polls[key] = asyncio.create_task(make(), name=f"mirror-{key}")

    async def _go_stale(self, coin: str, age_s: float) -> None:
        how = "websocket live but silent" if self.ws_live else \
            f"websocket down: {self.ws_error or 'connecting'}"
        if self.rest_error:
            how += f"; REST: {self.rest_error}"
        reason = f"no newer book for {age_s:.1f} s, {how}"
        self.said_stale.add(coin)
        self.market.set_stale(coin, reason)
        logger.error("mirror: {} is STALE ({}; source {}): its mirrored book is withdrawn and new "
                     "{} orders are refused until the source answers again", coin, reason,
                     self.url, coin)
        await self._settle()
