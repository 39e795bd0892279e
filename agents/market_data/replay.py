"""Replay: stored candles published in time order with the replay clock on `sys.clock`.

Deterministic: candles are ordered by close time, then coin, then interval. Pacing is by a speed
factor (market seconds per wall second; 3600 = an hour a second) or by consumers: with
`pace_consumers`, each candle waits until every named durable consumer of the CANDLES stream has
acknowledged it, so the organism can live through months of market as fast as it can think.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger
from nats.js.errors import NotFoundError

from agents.market_data import convert
from agents.market_data.convert import candle_msg_id
from bus import subjects
from bus.runtime import AgentContext
from marketdata.candles import Bar
from marketdata.store import CandleStore, interval_ms
from schemas import ClockTick, FeedStatus

MS = 1_000_000


def replay_order(store: CandleStore, coins: list[str], intervals: list[str], start_ms: int = 0,
                 end_ms: int = 0) -> list[tuple[str, str, Bar]]:
    """Every stored candle of the given series in the order replay publishes them."""
    events = []
    for coin in coins:
        for interval in intervals:
            step = interval_ms(interval) or 0
            table = store.read(coin, interval, start_ms or None, end_ms or None)
            cols = {name: table.column(name).to_pylist() for name in table.column_names}
            for i in range(table.num_rows):
                t = cols["t"][i]
                bar = Bar(t=t, T=t + step - 1, o=cols["o"][i], h=cols["h"][i], l=cols["l"][i],
                          c=cols["c"][i], v=cols["v"][i], n=cols["n"][i])
                events.append((bar.T, coin, interval, bar))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return [(coin, interval, bar) for _, coin, interval, bar in events]


async def replay_candles(ctx: AgentContext, store: CandleStore) -> None:
    cfg = ctx.config.market_data.replay
    events = replay_order(store, ctx.config.market.coins, ctx.config.market.intervals,
                          cfg.start_ms, cfg.end_ms)
    if not events:
        logger.warning("replay: no stored candles for {} × {}; fill the store first "
                       "(`organism data synth`, `organism data import` or a live run)",
                       ctx.config.market.coins, ctx.config.market.intervals)
        return
    logger.info("replay: {} candles at speed {}{}", len(events), cfg.speed,
                f", paced by {cfg.pace_consumers}" if cfg.pace_consumers else "")
    wall0 = time.monotonic()
    market0 = events[0][2].T
    for n, (coin, interval, bar) in enumerate(events, 1):
        if ctx.stopping.is_set():
            return
        if cfg.speed > 0:
            due = wall0 + (bar.T - market0) / 1000.0 / cfg.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        close_ns = (bar.T + 1) * MS - 1
        await ctx.bus.publish(subjects.sys_clock(), ClockTick(
            ts_event=close_ns, ts_init=time.time_ns(), now=close_ns, source="replay", speed=cfg.speed))
        ack = await ctx.bus.publish_durable(
            subjects.md_candle(coin, interval), convert.candle(coin, interval, bar, time.time_ns()),
            msg_id=candle_msg_id(coin, interval, bar.t))
        for durable in cfg.pace_consumers:
            await _wait_for_consumer(ctx, durable, ack.seq)
    now = time.time_ns()
    await ctx.bus.publish(subjects.md_status(), FeedStatus(
        ts_event=now, ts_init=now, stream="replay", state="down",
        detail=f"replay finished: {len(events)} candles"))
    logger.info("replay finished: {} candles", len(events))


async def _wait_for_consumer(ctx: AgentContext, durable: str, seq: int) -> None:
    while not ctx.stopping.is_set():
        try:
            info = await ctx.bus.js.consumer_info("CANDLES", durable)
            if info.ack_floor.stream_seq >= seq:
                return
        except NotFoundError:
            pass  # the consumer has not started yet: wait for it
        await asyncio.sleep(0.01)
