"""Trader test set-up: a market in the candle store and on the bus, registry entries, the agent
on a real nats-server with the replay clock (candles decide when they arrive)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec
import pytest

from agents.market_data.convert import candle_msg_id
from agents.trader.agent import TraderAgent
from bus import subjects
from bus.codec import decode
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.registry import Registry
from bus.runtime import run_agent
from marketdata.store import CandleStore, candles_table
from quant.data import Dataset
from quant.genome import Strategy, format_strategy
from schemas import AccountReport, Candle, ClockTick, OrderIntent
from schemas.registry import Origin, RegistryEntry
from settings import ClockSection, MarketSection, MetricsSection, OrganismSection, default_config
from tests.bus.helpers import eventually

MS = 1_000_000


def trader_config(data_dir, coins=("BTC",), intervals=("1h",), **trader):
    cfg = default_config()
    t = msgspec.structs.replace(cfg.trader, **trader)
    return msgspec.structs.replace(
        cfg, organism=OrganismSection(data_dir=str(data_dir)),
        metrics=MetricsSection(enabled=False), clock=ClockSection(source="replay"),
        market=MarketSection(coins=list(coins), intervals=list(intervals)), trader=t)


def store_bars(data_dir, ds: Dataset, coin: str, stop: int, start: int = 0) -> None:
    rows = [dict(t=int(ds.time_ms[i]), o=float(ds.open[i]), h=float(ds.high[i]),
                 l=float(ds.low[i]), c=float(ds.close[i]), v=float(ds.volume[i]))
            for i in range(start, stop)]
    CandleStore(data_dir).append(coin, ds.interval, candles_table(rows))


def candle(ds: Dataset, coin: str, i: int) -> Candle:
    step = ds.bar_seconds * 1000
    t = int(ds.time_ms[i])
    close = (t + step) * MS - 1
    return Candle(ts_event=close, ts_init=close, coin=coin, interval=ds.interval,
                  open_time=t * MS, close_time=close, open=float(ds.open[i]),
                  high=float(ds.high[i]), low=float(ds.low[i]), close=float(ds.close[i]),
                  volume=float(ds.volume[i]))


async def publish_candle(bus: Bus, ds: Dataset, coin: str, i: int, data_dir=None) -> None:
    """Candle i closes: into the store (with data_dir, as the market-data agent does), then the
    replay clock's tick and the candle on md.candle."""
    if data_dir is not None:
        store_bars(data_dir, ds, coin, i + 1, start=i)
    c = candle(ds, coin, i)
    await bus.publish(subjects.sys_clock(), ClockTick(ts_event=c.close_time, ts_init=c.close_time,
                                                      now=c.close_time))
    await bus.publish_durable(subjects.md_candle(coin, ds.interval), c,
                              msg_id=candle_msg_id(coin, ds.interval, int(ds.time_ms[i])))


async def enter(bus: Bus, sid: str, strategy: Strategy, coin: str = "BTC", interval: str = "1h",
                stage: str = "paper", now: int = 1) -> None:
    reg = await Registry.open(bus, "operator")
    await reg.create(RegistryEntry(
        ts_event=now, ts_init=now, strategy_id=sid, dsl=format_strategy(strategy), coin=coin,
        interval=interval, stage="validated", account="paper", stage_since=now,
        origin=Origin(kind="user", algorithm="user", skipped_validation=True)), "test")
    if stage != "validated":
        await reg.move(sid, stage, "test", now)


async def equity(bus: Bus, account: str = "paper", usd: str = "1000000") -> None:
    await bus.publish_durable(subjects.exec_account(account), AccountReport(
        ts_event=1, ts_init=1, correlation_id=f"acct-{account}-{usd}", account=account,
        equity=Decimal(usd)), msg_id=f"acct:{account}:{usd}")


async def stored_intents(bus: Bus) -> list[OrderIntent]:
    """Every intent JetStream stored (a retried publish with the same id is stored once)."""
    sub = await bus.js.subscribe(subjects.order_intent("*", "*"), ordered_consumer=True)
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(decode(msg.data, OrderIntent))
    except Exception:
        pass
    finally:
        await sub.unsubscribe()
    return out


async def consumed(bus: Bus, durable: str = "trader", stream: str = "CANDLES") -> bool:
    """The durable has handled and acked the stream's last message (one it reads). Its pending
    counts alone can read 0 for a moment after a store, before the broker has told the consumer
    of the new message: the ack floor must also have reached the stream's last sequence."""
    try:
        ci = await bus.js.consumer_info(stream, durable)
        last = (await bus.js.stream_info(stream)).state.last_seq
    except Exception:
        return False
    return (ci.num_pending == 0 and ci.num_ack_pending == 0
            and ci.ack_floor.stream_seq >= last)


class RunningTrader:
    def __init__(self, config, url: str) -> None:
        self.stop = asyncio.Event()
        self.agent = TraderAgent()
        self.task = asyncio.create_task(run_agent(self.agent, config, url=url, stop=self.stop,
                                                  handle_signals=False, log_to_file=False))

    async def ready(self, bus: Bus) -> None:
        async def up():
            return all([await _exists(bus, s) for s in ("CANDLES", "EXEC_EVENTS", "ORDERS")])

        await eventually(up, timeout=30, what="the trader's consumers")

    async def close(self) -> int:
        self.stop.set()
        return await self.task


async def _exists(bus: Bus, stream: str) -> bool:
    try:
        await bus.js.consumer_info(stream, "trader")
        return True
    except Exception:
        return False


@pytest.fixture
async def bus(nats_server):
    b = await Bus.connect(ConnectOptions(url=nats_server.url, name="test", initial_attempts=3))
    await provision(b.js)
    yield b
    await b.drain()
