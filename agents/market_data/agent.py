"""The market-data agent: Hyperliquid (or the local exchange) → `md.*`, and the candle store.

Live: one reconnecting websocket for candles, books (l2Book or bbo), trades and asset contexts of
the configured coins; closed candles are published once on `md.candle.{coin}.{interval}`
(JetStream, de-duplicated by message id) and appended to the store; after every reconnect a REST
backfill fills the candles missed meanwhile; a silent stream is reported on `md.status`.
Replay: stored candles in time order with the replay clock on `sys.clock`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import aiohttp
import pyarrow as pa
from loguru import logger
from nats.js.errors import NotFoundError

from agents.market_data import convert
from agents.market_data.convert import candle_msg_id
from agents.market_data.replay import replay_candles
from bus import subjects
from bus.runtime import Agent, AgentContext
from marketdata.candles import Bar, CandleCloser
from marketdata.hyperliquid import FeedClient, InfoClient, InfoError, ws_url
from marketdata.store import CandleStore, candles_table, interval_ms, warm_up
from bus.codec import DecodeFailure, decode
from schemas import Candle, FeedStatus

MS = 1_000_000


def rest_url(config) -> str:
    md = config.market_data
    if md.url:
        return md.url.rstrip("/")
    return config.venue.url(config.venue.market_data)


class MarketDataAgent(Agent):
    name = "market_data"

    def __init__(self) -> None:
        self.ctx: AgentContext | None = None
        self.store: CandleStore | None = None
        self.closers: dict[tuple[str, str], CandleCloser] = {}
        self.last_seen: dict[tuple[str, str], float] = {}  # (stream, coin) -> monotonic time
        self.stale: set[tuple[str, str]] = set()
        self.unpublished: deque = deque()
        self._flush_lock = asyncio.Lock()  # pushes and the housekeeping timer both flush
        self.info: InfoClient | None = None
        self.session: aiohttp.ClientSession | None = None
        self.feed: FeedClient | None = None
        # One writer thread: store appends (and their occasional compaction) stay off the loop,
        # in order, one at a time.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="candle-store")
        self.stored_last: dict[tuple[str, str], int | None] = {}

    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        md = ctx.config.market_data
        self.store = CandleStore(ctx.data_dir)
        if md.mode == "off":
            logger.info("market data is off (market_data.mode = 'off')")
            return
        if md.mode == "replay":
            ctx.spawn(replay_candles(ctx, self.store), "replay")
            return
        self.writer.submit(warm_up)
        grace_ms = int(md.candle_grace_s * 1000)
        for coin in ctx.config.market.coins:
            for interval in ctx.config.market.intervals:
                step = interval_ms(interval)
                if step is None:
                    raise ValueError("market.intervals: '1M' cannot be streamed live; use 1w or shorter")
                stored = self.store.last_open_time(coin, interval)
                published = await self._last_published(ctx, coin, interval)
                self.stored_last[(coin, interval)] = stored
                last = max((x for x in (stored, published) if x is not None), default=None)
                self.closers[(coin, interval)] = CandleCloser(step, grace_ms, last_closed=last)
        base = rest_url(ctx.config)
        self.session = aiohttp.ClientSession()
        self.info = InfoClient(base, self.session)
        self.feed = FeedClient(
            ws_url(base), self._subscriptions(), self._on_message, self._on_state,
            self._on_connected, ping_interval_s=md.ping_interval_s,
            backoff_initial_s=md.backoff_initial_s, backoff_max_s=md.backoff_max_s,
        )
        ctx.spawn(self.feed.run(ctx.stopping), "feed")
        ctx.spawn(self._housekeeping(), "housekeeping")
        if md.funding_days:
            ctx.spawn(self._funding_loop(), "funding")
        logger.info("market data from {} for {} × {}", base, ctx.config.market.coins,
                    ctx.config.market.intervals)

    async def stop(self) -> None:
        if self.ctx is not None:
            await self._flush_unpublished()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.shutdown, True)
        if self.session is not None:
            await self.session.close()

    @staticmethod
    async def _last_published(ctx: AgentContext, coin: str, interval: str) -> int | None:
        """Open time (ms) of the last candle on the CANDLES stream for this series, if any."""
        try:
            msg = await ctx.bus.js.get_last_msg("CANDLES", subjects.md_candle(coin, interval))
        except NotFoundError:
            return None
        try:
            return decode(msg.data, Candle).open_time // MS
        except DecodeFailure:
            return None

    # --- subscriptions and pushes ---------------------------------------------------------------
    def _subscriptions(self) -> list[dict]:
        md = self.ctx.config.market_data  # type: ignore[union-attr]
        subs: list[dict] = []
        for coin in self.ctx.config.market.coins:  # type: ignore[union-attr]
            for interval in self.ctx.config.market.intervals:  # type: ignore[union-attr]
                subs.append({"type": "candle", "coin": coin, "interval": interval})
            if md.book != "none":
                subs.append({"type": md.book, "coin": coin})
            if md.trades:
                subs.append({"type": "trades", "coin": coin})
            if md.asset_ctx:
                subs.append({"type": "activeAssetCtx", "coin": coin})
        return subs

    async def _on_message(self, channel: str, data) -> None:
        ctx = self.ctx
        assert ctx is not None
        now = ctx.now_ns()
        try:
            if channel == "candle":
                coin, interval = data["s"], data["i"]
                self._seen("candle", coin)
                closer = self.closers.get((coin, interval))
                if closer is not None:
                    bar = Bar.from_wire(data)
                    if closer.skips(bar):
                        # pushes jumped over candles (lost, or minutes passed before the
                        # subscription took): fetch them before anything later is published
                        await self._backfill(coin, interval, closer,
                                             " skipped by the pushes")
                    await self._publish_closed(coin, interval, closer.on_push(bar, now // MS))
            elif channel == "l2Book":
                self._seen("book", data["coin"])
                await ctx.bus.publish(subjects.md_book(data["coin"]), convert.book(data, now))
            elif channel == "bbo":
                self._seen("book", data["coin"])
                await ctx.bus.publish(subjects.md_book(data["coin"]), convert.bbo(data, now))
            elif channel == "trades":
                for trade in convert.trades(data, now):
                    self._seen("trades", trade.coin)
                    await ctx.bus.publish(subjects.md_trade(trade.coin), trade)
            elif channel == "activeAssetCtx":
                self._seen("ctx", data["coin"])
                await ctx.bus.publish(subjects.md_ctx(data["coin"]), convert.asset_ctx(data, now))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            ctx.bus.metrics.error("feed_decode")
            logger.warning("cannot read a {} push ({!r}): {}", channel, exc, str(data)[:300])

    def _seen(self, stream: str, coin: str) -> None:
        self.last_seen[(stream, coin)] = time.monotonic()

    async def _on_state(self, state: str, detail: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        now = ctx.now_ns()
        status = FeedStatus(ts_event=now, ts_init=now, stream="ws", state=state,  # type: ignore[arg-type]
                            last_message_ns=now, detail=detail)
        try:
            await ctx.bus.publish(subjects.md_status(), status)
        except Exception as exc:
            logger.debug("feed status not published: {}", exc)

    async def _on_connected(self, reconnected: bool) -> None:
        """After (re)subscribing: fetch the closed candles missed while away, publish them once."""
        for (coin, interval), closer in self.closers.items():
            await self._backfill(coin, interval, closer,
                                 " after a reconnect" if reconnected else "")

    async def _backfill(self, coin: str, interval: str, closer: CandleCloser, why: str) -> None:
        """Fetch the candles from the last one closed (or the store's, or backfill_max_bars
        back) over REST and publish the closed ones not published yet, in order."""
        ctx = self.ctx
        assert ctx is not None and self.info is not None
        now_ms = ctx.now_ns() // MS
        md = ctx.config.market_data
        stored = self.stored_last.get((coin, interval))
        start = closer.backfill_from()
        if stored is not None and start is not None and stored + closer.interval_ms < start:
            start = stored + closer.interval_ms  # the store lags the stream: fill it too
        if start is None:
            if not md.backfill_max_bars:
                return
            start = now_ms - md.backfill_max_bars * closer.interval_ms
        try:
            # ask a day past our clock: the venue's clock decides what exists
            bars = await self.info.candles(coin, interval, start, now_ms + 86_400_000)
        except InfoError as exc:
            ctx.bus.metrics.error("backfill")
            logger.warning("backfill of {} {} failed: {}", coin, interval, exc)
            return
        published_before = closer.last_closed
        if published_before is not None:  # already on the bus, missing from the store
            self._store([b for b in bars if b.t <= published_before], coin, interval)
        closed = closer.on_backfill(bars, now_ms)
        logger.debug("backfill {} {} from {}: {} bars from REST, {} newly closed", coin,
                     interval, start, len(bars), len(closed))
        if closed:
            logger.info("{} {}: backfilled {} closed candle(s){}", coin, interval, len(closed),
                        why)
        await self._publish_closed(coin, interval, closed)

    # --- closed candles: publish (JetStream, idempotent), then store off the loop -----------------
    async def _publish_closed(self, coin: str, interval: str, bars: list[Bar]) -> None:
        if not bars:
            return
        for bar in bars:
            self.unpublished.append((coin, interval, bar))
        await self._flush_unpublished()
        self._store(bars, coin, interval)

    def _store(self, bars: list[Bar], coin: str, interval: str) -> None:
        """Append off the loop, in order (the store skips open times it already has)."""
        if not bars:
            return
        rows = [dict(t=b.t, o=b.o, h=b.h, l=b.l, c=b.c, v=b.v, n=b.n) for b in bars]
        stored = self.stored_last.get((coin, interval))
        self.stored_last[(coin, interval)] = max([stored or 0] + [b.t for b in bars])
        assert self.store is not None
        fut = self.writer.submit(self.store.append, coin, interval, candles_table(rows))
        fut.add_done_callback(self._written)  # stop() waits for the writer to finish

    def _written(self, fut: Future) -> None:
        if fut.exception() is not None:
            if self.ctx is not None:
                self.ctx.bus.metrics.error("store")
            logger.opt(exception=fut.exception()).error("appending candles to the store failed")

    async def _flush_unpublished(self) -> None:
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        while self.unpublished:
            coin, interval, bar = self.unpublished[0]
            msg = convert.candle(coin, interval, bar, ctx.now_ns())
            try:
                await ctx.bus.publish_durable(subjects.md_candle(coin, interval), msg,
                                              msg_id=candle_msg_id(coin, interval, bar.t))
            except Exception as exc:  # broker away: keep it, retry from housekeeping
                ctx.bus.metrics.error("publish")
                logger.warning("closed candle {} {} {} not yet published: {}", coin, interval, bar.t, exc)
                return
            self.unpublished.popleft()

    # --- funding history: hourly payments into the store's asset contexts -------------------------
    async def _funding_loop(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        md = ctx.config.market_data
        while True:
            try:
                await self.backfill_funding()
            except Exception:  # a failed round is retried at the next one
                ctx.bus.metrics.error("funding")
                logger.exception("storing funding history failed; retrying in {:.0f} s",
                                 md.funding_refresh_s)
            await asyncio.sleep(md.funding_refresh_s)

    async def backfill_funding(self) -> int:
        """Fetch the funding payments since the last one stored (or `funding_days` back) for
        every coin and append them to the store; returns the rows written."""
        ctx = self.ctx
        assert ctx is not None and self.info is not None and self.store is not None
        md = ctx.config.market_data
        now_ms = ctx.now_ns() // MS
        loop = asyncio.get_running_loop()
        written = 0
        for coin in ctx.config.market.coins:
            last = await loop.run_in_executor(self.writer, self.store.last_ctx_time, coin)
            start = now_ms - md.funding_days * 86_400_000 if last is None else last + 1
            try:
                rows = await self.info.funding_history(coin, start, now_ms + 86_400_000)
            except InfoError as exc:
                ctx.bus.metrics.error("funding")
                logger.warning("funding history of {} not fetched: {}", coin, exc)
                continue
            if rows:
                table = pa.Table.from_pylist(rows, schema=pa.schema(
                    [("t", pa.int64()), ("funding", pa.float64()), ("premium", pa.float64())]))
                written += await loop.run_in_executor(self.writer, self.store.append_ctx, coin,
                                                      table)
        if written:
            logger.info("stored {} hourly funding payment(s)", written)
        return written

    # --- timers: grace closing, stale streams, retries --------------------------------------------
    async def _housekeeping(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        md = ctx.config.market_data
        while True:
            await asyncio.sleep(min(1.0, md.candle_grace_s or 1.0, md.stale_after_s / 3))
            try:
                now_ms = ctx.now_ns() // MS
                for (coin, interval), closer in self.closers.items():
                    await self._publish_closed(coin, interval, closer.on_timer(now_ms))
                await self._flush_unpublished()
                await self._check_stale(md.stale_after_s)
            except Exception:  # one bad round must not end grace closing and stale checks
                ctx.bus.metrics.error("housekeeping")
                logger.exception("market-data housekeeping failed; continuing")

    async def _check_stale(self, stale_after_s: float) -> None:
        ctx = self.ctx
        assert ctx is not None
        mono = time.monotonic()
        for key, seen in self.last_seen.items():
            silent = mono - seen
            was_stale = key in self.stale
            if silent > stale_after_s and not was_stale:
                self.stale.add(key)
                state, detail = "stale", f"no {key[0]} push for {silent:.0f} s"
            elif silent <= stale_after_s and was_stale:
                self.stale.discard(key)
                state, detail = "live", f"{key[0]} pushes resumed"
            else:
                continue
            now = ctx.now_ns()
            logger.log("WARNING" if state == "stale" else "INFO", "{} {}: {}", key[1], key[0], detail)
            await ctx.bus.publish(subjects.md_status(), FeedStatus(
                ts_event=now, ts_init=now, stream=key[0], coin=key[1], state=state,  # type: ignore[arg-type]
                last_message_ns=now - int(silent * 1e9), detail=detail))
