"""The market-data agent against the local exchange: dropped connections, silent streams and
restarts lead to reconnect, resubscribe and a candle stream with no gap and no duplicate."""

from __future__ import annotations

import asyncio


from agents.market_data.agent import MarketDataAgent
from bus import subjects
from bus.connection import Bus, ConnectOptions, Delivery
from bus.runtime import run_agent
from marketdata.store import CandleStore
from settings import load_config
from schemas import BookSnapshot, Candle, FeedStatus
from tests.bus.helpers import eventually
from venue.testing import quiet_config, run_sim

M = 60_000


def agent_config(tmp_path, sim_url: str, **extra):
    env = {
        "ORGANISM__ORGANISM__DATA_DIR": str(tmp_path / "data"),
        "ORGANISM__METRICS__ENABLED": "false",
        "ORGANISM__MARKET__COINS": '["BTC"]',
        "ORGANISM__MARKET__INTERVALS": '["1m"]',
        "ORGANISM__MARKET_DATA__URL": sim_url,
        "ORGANISM__MARKET_DATA__BOOK": "bbo",
        "ORGANISM__MARKET_DATA__TRADES": "false",
        "ORGANISM__MARKET_DATA__BACKFILL_MAX_BARS": "10",
        "ORGANISM__MARKET_DATA__BACKOFF_INITIAL_S": "0.05",
        "ORGANISM__MARKET_DATA__BACKOFF_MAX_S": "0.2",
        "ORGANISM__MARKET_DATA__STALE_AFTER_S": "0.6",
        "ORGANISM__MARKET_DATA__CANDLE_GRACE_S": "0.2",
        **extra,
    }
    return load_config(env=env)


class Running:
    """The agent in this event loop, stoppable like SIGTERM would."""

    def __init__(self, config, url):
        self.agent = MarketDataAgent()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(run_agent(self.agent, config, url=url, stop=self.stop,
                                                  handle_signals=False, log_to_file=False))

    async def close(self):
        self.stop.set()
        assert await asyncio.wait_for(self.task, 20) == 0


async def _collect_candles(bus: Bus, into: list[Candle]):
    async def on(d: Delivery):
        into.append(d.message)

    await bus.subscribe(subjects.md_candle("BTC", "1m"), on, message_type=Candle)
    await bus.flush()


async def _minutes(sim, n: int):
    for _ in range(n):
        await sim.advance(M)
        await sim.tick()


def _open_minutes(candles: list[Candle]) -> list[int]:
    return [c.open_time // 1_000_000 for c in candles]


async def test_reconnect_and_restart_leave_no_gap_and_no_duplicate(nats_server, tmp_path):
    async with run_sim(quiet_config()) as sim:
        watcher = await Bus.connect(ConnectOptions(url=nats_server.url, name="watcher"))
        candles: list[Candle] = []
        statuses: list[FeedStatus] = []
        books: list[BookSnapshot] = []
        await _collect_candles(watcher, candles)

        async def on_status(d: Delivery):
            statuses.append(d.message)

        async def on_book(d: Delivery):
            books.append(d.message)

        await watcher.subscribe(subjects.md_status(), on_status, message_type=FeedStatus)
        await watcher.subscribe(subjects.md_book("BTC"), on_book, message_type=BookSnapshot)
        config = agent_config(tmp_path, sim.url)
        running = Running(config, nats_server.url)
        await eventually(lambda: running.agent.feed and running.agent.feed.connects == 1, what="connect")

        # 1. live: each minute that passes closes the previous candle, once
        await _minutes(sim, 4)
        await eventually(lambda: len(candles) >= 3, what="live candles")
        await eventually(lambda: books, what="a book")
        # 2. the venue drops us; four minutes pass while we are away; reconnect + backfill
        before = len(candles)
        await sim.admin("drop_ws")
        await _minutes(sim, 4)
        await eventually(lambda: running.agent.feed.connects >= 2, timeout=15, what="reconnect")
        await _minutes(sim, 1)
        await eventually(lambda: len(candles) >= before + 4, timeout=15, what="backfilled candles")
        # 3. a silent stream is reported stale, then live again
        await eventually(lambda: any(s.state == "stale" and s.stream == "candle" for s in statuses),
                         timeout=10, what="a stale report")
        await _minutes(sim, 1)
        await eventually(lambda: any(s.state == "live" and s.stream == "candle" for s in statuses),
                         timeout=10, what="live again")
        await running.close()
        # 4. restart: the new agent starts from the store and repeats nothing
        count = len(candles)
        await _minutes(sim, 3)
        running = Running(config, nats_server.url)
        await eventually(lambda: len(candles) >= count + 2, timeout=15, what="candles after restart")
        await _minutes(sim, 1)
        await eventually(lambda: len(candles) >= count + 3, timeout=15, what="live after restart")
        await running.close()
        await watcher.drain()

    minutes = _open_minutes(candles)
    assert minutes == sorted(set(minutes)), "a duplicate or an out-of-order candle"
    steps = {b - a for a, b in zip(minutes, minutes[1:])}
    assert steps == {M}, f"a gap in the candle stream: steps {sorted(steps)}"
    assert any(s.stream == "ws" and s.state == "reconnecting" for s in statuses)
    # every published candle is in the store, once
    stored = CandleStore(tmp_path / "data").read("BTC", "1m").column("t").to_pylist()
    assert set(minutes) <= set(stored) and len(stored) == len(set(stored))


async def test_a_busy_feed_keeps_pinging_and_is_not_dropped_as_idle():
    # The venue (like Hyperliquid) closes a connection that has sent nothing for its idle
    # limit, however much it pushes. Pushes arrive more often than the ping interval here, so
    # a client that pinged only after a quiet spell was dropped at every idle limit.
    from marketdata.hyperliquid import FeedClient, ws_url

    async with run_sim(quiet_config(ws_idle_timeout_s=1.0)) as sim:
        got: list[str] = []

        async def on_message(channel, data):
            got.append(channel)

        feed = FeedClient(ws_url(sim.url), [{"type": "bbo", "coin": "BTC"}], on_message,
                          ping_interval_s=0.3, backoff_initial_s=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        await eventually(lambda: feed.connects == 1, what="connect")
        loop = asyncio.get_running_loop()
        end = loop.time() + 3.5  # three and a half idle limits
        px = 50_000
        while loop.time() < end:
            px += 1
            await sim.jump("BTC", str(px))  # a new best bid/offer: a push
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(got) > 15
    assert feed.connects == 1, f"dropped as idle: {feed.connects} connections"


async def test_hourly_funding_reaches_the_store_and_the_backtests(nats_server, tmp_path):
    import numpy as np

    from marketdata.datasets import store_funding

    async with run_sim(quiet_config()) as sim:
        config = agent_config(tmp_path, sim.url, ORGANISM__MARKET_DATA__FUNDING_REFRESH_S="0.2")
        running = Running(config, nats_server.url)
        await eventually(lambda: running.agent.feed and running.agent.feed.connects == 1,
                         what="connect")
        for _ in range(3):
            await sim.jump("BTC", "60300")  # a premium, so the rate is not just the interest
            await sim.advance(3_600_000)  # the venue pays funding at each hour mark
        paid = [(r["time"], float(r["fundingRate"])) for r in sim.exchange.funding_history["BTC"]]
        assert len(paid) >= 3
        store = CandleStore(tmp_path / "data")
        await eventually(lambda: store.last_ctx_time("BTC") == paid[-1][0], timeout=10,
                         what="the last payment stored")
        assert await running.agent.backfill_funding() == 0  # asks only for what is new
        await running.close()
    # a bar closing at an hour mark pays the rate of that mark, in a backtest on store: data
    marks = np.array([t for t, _ in paid], dtype=np.int64)
    got = store_funding(tmp_path / "data", "BTC", marks - 3_600_000, 3_600_000)
    np.testing.assert_allclose(got, [rate for _, rate in paid])


async def test_pushes_that_skip_candles_are_filled_over_rest_in_order(nats_server, tmp_path):
    """A push for a later candle while the open one is older than the minute before it (pushes
    lost, or minutes passed between the subscription and the first push): the skipped candles
    come from REST before anything later is published, so the stream has no gap. (Without
    this, the closer published the old open candle and went on after the hole.)"""
    async with run_sim(quiet_config()) as sim:
        watcher = await Bus.connect(ConnectOptions(url=nats_server.url, name="watcher"))
        candles: list[Candle] = []

        async def on(d: Delivery):
            candles.append(d.message)

        # ETH: the broker is shared with the tests above, whose BTC candles run ahead in time
        await watcher.subscribe(subjects.md_candle("ETH", "1m"), on, message_type=Candle)
        await watcher.flush()
        config = agent_config(tmp_path, sim.url, ORGANISM__MARKET__COINS='["ETH"]')
        running = Running(config, nats_server.url)
        await eventually(lambda: running.agent.feed and running.agent.feed.connects == 1,
                         what="connect")
        await _minutes(sim, 2)
        await eventually(lambda: len(candles) >= 9 + 1, what="live candles")
        # three minutes trade on the venue but their pushes never reach us, then pushes resume
        last = _open_minutes(candles)[-1]
        for _ in range(3):
            sim.server.clock_offset_ms += M
            sim.exchange.tick(sim.server.now_ms(), step_market=True)  # no push_market()
        await _minutes(sim, 2)
        await eventually(lambda: _open_minutes(candles)[-1] >= last + 5 * M, timeout=10,
                         what="the candles after the silent minutes")
        await running.close()
        await watcher.drain()
    minutes = _open_minutes(candles)
    steps = {b - a for a, b in zip(minutes, minutes[1:])}
    assert steps == {M}, f"a gap in the candle stream: steps {sorted(steps)}"
