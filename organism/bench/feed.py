"""`organism bench feed`: how fast the market-data agent decodes and publishes, and how late a
closed candle reaches a subscriber.

A flood server in its own process speaks Hyperliquid's websocket format and pushes as fast as the
socket takes (trades, books, asset contexts); the real agent (FeedClient → convert → typed bus)
runs in this process against an embedded broker. Then, unloaded, the server pushes candles one at
a time; each push of a new open time closes the previous candle, and the latency is measured from
that push to a NATS subscriber's receipt (both clocks are this machine's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

NAME = "feed"
HELP = "market-data client: messages/s decoded and published, closed-candle latency p50/p99 (µs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--messages", type=int, default=100_000, help="pushes in the flood phase")
    p.add_argument("--candles", type=int, default=300, help="candles in the latency phase")


def _serve(port_q, go_q, flood: int, candles: int) -> None:
    """The flood server (child process): waits for one client, floods, then paces candles."""
    from aiohttp import web

    async def main() -> None:
        done = asyncio.Event()

        async def ws_handler(request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            subscribed = 0
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("method") == "subscribe":
                    subscribed += 1
                    if subscribed == 4:
                        break
            await asyncio.get_running_loop().run_in_executor(None, go_q.get)
            now = int(time.time() * 1000)
            trade = {"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": "60000.5",
                     "sz": "0.01", "hash": "0x00", "time": now, "tid": 1}]}
            book = {"channel": "l2Book", "data": {"coin": "BTC", "time": now, "levels": [
                [{"px": f"{60000 - i}", "sz": "1.5", "n": 2} for i in range(10)],
                [{"px": f"{60001 + i}", "sz": "1.5", "n": 2} for i in range(10)]]}}
            ctx = {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
                "funding": "0.0000125", "openInterest": "100", "markPx": "60000", "oraclePx": "60001",
                "midPx": "60000.5", "premium": "0.0001", "dayNtlVlm": "1000000"}}}
            texts = [json.dumps(m) for m in (trade, trade, trade, book, ctx)]
            for i in range(flood):
                await ws.send_str(texts[i % len(texts)])
            # latency phase: one candle at a time, each new open time closes the previous one
            await asyncio.get_running_loop().run_in_executor(None, go_q.get)
            t0 = 1_700_000_000_000
            for k in range(candles + 1):
                t = t0 + k * 60_000
                candle = {"channel": "candle", "data": {"t": t, "T": t + 59_999, "s": "BTC", "i": "1m",
                          "o": "1", "c": "1", "h": "1", "l": "1", "v": "1", "n": 1}}
                port_q.put(("push", t, time.time_ns()))
                await ws.send_str(json.dumps(candle))
                await asyncio.sleep(0.005)
            await ws.close()
            done.set()
            return ws

        app = web.Application()
        app.router.add_get("/ws", ws_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_q.put(("port", runner.addresses[0][1], 0))
        await done.wait()
        await runner.cleanup()

    asyncio.run(main())


def run(args: argparse.Namespace) -> dict:
    from bus.broker import EmbeddedBroker

    ctx = mp.get_context("spawn")
    port_q, go_q = ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_q, go_q, args.messages, args.candles), daemon=True)
    server.start()
    try:
        _, port, _ = port_q.get(timeout=30)
        with tempfile.TemporaryDirectory(prefix="organism-bench-feed-") as tmp:
            with EmbeddedBroker(store_dir=Path(tmp) / "js") as broker:
                return asyncio.run(_measure(broker.url, port, port_q, go_q, args, Path(tmp)))
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


async def _measure(url, port, port_q, go_q, args, tmp: Path) -> dict:
    from agents.market_data.agent import MarketDataAgent
    from bus import subjects
    from bus.connection import Bus, ConnectOptions, Delivery
    from bus.runtime import run_agent
    import agents.sections  # noqa: F401
    from settings import load_config
    from schemas import Candle

    config = load_config(env={
        "ORGANISM__ORGANISM__DATA_DIR": str(tmp / "data"),
        "ORGANISM__ORGANISM__LOG_LEVEL": "WARNING",
        "ORGANISM__METRICS__ENABLED": "false",
        "ORGANISM__MARKET__COINS": '["BTC"]',
        "ORGANISM__MARKET__INTERVALS": '["1m"]',
        "ORGANISM__MARKET_DATA__URL": f"http://127.0.0.1:{port}",
        "ORGANISM__MARKET_DATA__BACKFILL_MAX_BARS": "0",
        "ORGANISM__MARKET_DATA__CANDLE_GRACE_S": "3600",
    })
    agent = MarketDataAgent()
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(agent, config, url=url, stop=stop, handle_signals=False,
                                         log_to_file=False))
    while agent.feed is None or agent.feed.connects < 1:
        await asyncio.sleep(0.01)
    out = agent.ctx.bus.metrics.messages_out  # type: ignore[union-attr]

    def published() -> int:
        return sum(v for k, v in out.items() if k.startswith("md."))

    base = published()
    go_q.put("flood")
    while agent.feed.messages < 1:
        await asyncio.sleep(0.0005)
    t0 = time.perf_counter()
    first_pub = published()
    while published() - base < args.messages * 6 // 5 - 10 and time.perf_counter() - t0 < 120:
        await asyncio.sleep(0.001)
        if agent.feed.messages >= args.messages:
            break
    elapsed = time.perf_counter() - t0
    received = agent.feed.messages
    msgs_per_s = received / elapsed if elapsed > 0 else 0.0
    pub_per_s = (published() - first_pub) / elapsed if elapsed > 0 else 0.0

    # latency phase
    watcher = await Bus.connect(ConnectOptions(url=url, name="bench-feed-watcher"))
    receipt: dict[int, int] = {}

    async def on_candle(d: Delivery):
        receipt[d.message.open_time // 1_000_000] = time.time_ns()

    await watcher.subscribe(subjects.md_candle("BTC", "1m"), on_candle, message_type=Candle)
    await watcher.flush()
    # the latency phase is unloaded: let the flood's publishes reach the broker first
    await agent.ctx.bus.flush(timeout=60)  # type: ignore[union-attr]
    go_q.put("candles")
    pushes: dict[int, int] = {}
    deadline = time.monotonic() + 60
    while len(receipt) < args.candles and time.monotonic() < deadline:
        while not port_q.empty():
            kind, t, ns = port_q.get_nowait()
            pushes[t] = ns
        await asyncio.sleep(0.01)
    while not port_q.empty():
        kind, t, ns = port_q.get_nowait()
        pushes[t] = ns
    # candle t is closed by the push of t + 60 s: latency from that push to receipt
    lat = sorted((receipt[t] - pushes[t + 60_000]) / 1000 for t in receipt if t + 60_000 in pushes)
    await watcher.drain()
    stop.set()
    await asyncio.wait_for(task, 30)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))], 1) if lat else float("nan")

    return {
        "messages": received,
        "msgs_per_s": round(msgs_per_s),
        "published_per_s": round(pub_per_s),
        "candles_measured": len(lat),
        "candle_latency_p50_us": pct(0.5),
        "candle_latency_p99_us": pct(0.99),
    }
