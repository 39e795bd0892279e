"""`organism bench trader`: closed candle → decision and → intent latency with many strategies.

One run: an embedded broker, a candle store with `--history` hourly bars of BTC and ETH (a
seeded random walk), `--strategies` random strategies (the generator evolution starts from:
stops, take-profits, trailing stops, holding limits, both sizings) in paper, half on each coin,
and `organism agent trader` as a process, as `organism up` runs it, on the replay clock. This
process plays market data: at each close it publishes the clock tick and both coins' candles
(`md.candle`), then times
- every intent from just before the candles' publish to its arrival (`intent_*`),
- the close until every strategy's book in KV `trader` says the bar is decided (`decided_*`),
- the trader's CPU time (user + system) per close, from /proc via psutil.
Closes are paced like replay's `pace_consumers`: the next close waits for the trader. The first
`--warmup` closes (the store loaded, kernels compiled) are not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

NAME = "trader"
HELP = ("closed candle → intent and → every strategy decided, p50/p99 (ms), with N strategies "
        "on 2 coins, and the trader's CPU per close")
ROOT = Path(__file__).resolve().parents[2]
COINS = ("BTC", "ETH")
INTERVAL = "1h"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategies", type=int, default=100, help="strategies in paper (half a coin)")
    p.add_argument("--closes", type=int, default=60, help="candle closes timed (2 candles each)")
    p.add_argument("--warmup", type=int, default=3, help="closes first, not timed")
    p.add_argument("--history", type=int, default=5000, help="stored bars per coin before them")
    p.add_argument("--seed", type=int, default=1, help="strategies' and market's seed")


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def run(args: argparse.Namespace) -> dict:
    from loguru import logger

    from bus.broker import EmbeddedBroker

    logger.remove()  # the registry's lines would bury the JSON
    logger.add(sys.stderr, level="ERROR")
    if args.strategies < 2 or args.closes < 1 or args.warmup < 0 or args.history < 100:
        raise SystemExit("organism bench trader: --strategies >= 2, --closes >= 1, "
                         "--history >= 100")
    with tempfile.TemporaryDirectory(prefix="organism-bench-trader-") as tmp:
        root = Path(tmp)
        with EmbeddedBroker(store_dir=root / "js") as broker:
            return asyncio.run(_measure(root, broker.url, args))


def _market(args):
    from quant.data import synthetic

    n = args.history + args.warmup + args.closes
    return {c: synthetic(seed=args.seed + i, bars=n, interval=INTERVAL,
                         annual_vol=0.6) for i, c in enumerate(COINS)}


def _store(data: Path, markets, stop: int) -> None:
    from marketdata.store import CandleStore, candles_table

    store = CandleStore(data)
    for coin, ds in markets.items():
        store.append(coin, INTERVAL, candles_table([
            dict(t=int(ds.time_ms[i]), o=float(ds.open[i]), h=float(ds.high[i]),
                 l=float(ds.low[i]), c=float(ds.close[i]), v=float(ds.volume[i]))
            for i in range(stop)]))


async def _measure(root: Path, url: str, args: argparse.Namespace) -> dict:
    import msgspec
    import numpy as np
    import psutil

    from agents.market_data.convert import candle_msg_id
    from bus import subjects
    from bus.codec import decode
    from bus.connection import Bus, ConnectOptions
    from bus.jetstream import provision
    from bus.registry import Registry
    from quant.genome import format_strategy
    from quant.random_genome import random_strategy
    from schemas import AccountReport, Candle, ClockTick, OrderIntent
    from schemas.registry import Origin, RegistryEntry

    data = root / "data"
    markets = _market(args)
    _store(data, markets, args.history)
    config = root / "bench.toml"
    config.write_text(
        f'[organism]\ndata_dir = "{data}"\n[nats]\nurl = "{url}"\n[metrics]\nenabled = false\n'
        f'[clock]\nsource = "replay"\n[market]\ncoins = {list(COINS)!r}\n'
        f'intervals = ["{INTERVAL}"]\n'.replace("'", '"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    env["ORGANISM_CONFIG"] = str(config)
    bus = await Bus.connect(ConnectOptions(url=url, name="bench-trader", initial_attempts=5))
    await provision(bus.js)

    reg = await Registry.open(bus, "operator")
    rng = np.random.default_rng(args.seed)
    ids = []
    for k in range(args.strategies):
        coin = COINS[k % len(COINS)]
        sid = f"bench_{k}"
        now = time.time_ns()
        await reg.create(RegistryEntry(
            ts_event=now, ts_init=now, strategy_id=sid,
            dsl=format_strategy(random_strategy(rng, depth=4, max_window=200)), coin=coin,
            interval=INTERVAL, stage="validated", account="paper", stage_since=now,
            origin=Origin(kind="user", algorithm="user", skipped_validation=True)), "bench")
        await reg.move(sid, "paper", "bench", now)
        ids.append(sid)

    log = (root / "trader.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "organism.cli.main", "agent", "trader", env=env, cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        return await _drive(bus, proc, markets, ids, args, candle_msg_id, subjects, decode,
                            msgspec, psutil, AccountReport, Candle, ClockTick, OrderIntent)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                proc.kill()
        await bus.drain()


async def _drive(bus, proc, markets, ids, args, candle_msg_id, subjects, decode, msgspec,
                 psutil, AccountReport, Candle, ClockTick, OrderIntent) -> dict:
    from agents.trader.agent import BUCKET
    from agents.trader.book import Book

    deadline = time.monotonic() + 120
    while True:  # the trader's consumers exist: it is ready
        try:
            await bus.js.consumer_info("EXEC_EVENTS", "trader")
            break
        except Exception:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise SystemExit("organism bench trader: the trader did not start (see its log)")
            await asyncio.sleep(0.1)
    await bus.publish_durable(subjects.exec_account("paper"), AccountReport(
        ts_event=1, ts_init=1, correlation_id="bench-equity", account="paper",
        equity=Decimal("1000000")), msg_id="bench-equity")

    sent_at = [0.0]
    intents: list[float] = []
    per_close_intents: list[int] = []
    counted = [0]

    async def on_intent(msg) -> None:
        intents.append(time.perf_counter() - sent_at[0])
        counted[0] += 1

    isub = await bus.nc.subscribe(subjects.order_intent("*", "*"), cb=on_intent)
    kv = await bus.kv(BUCKET)
    decided: dict[str, int] = {}
    watcher = await kv.watch("s.>")

    async def follow() -> None:
        async for item in watcher:
            if item is None or item.value is None:
                continue
            b = msgspec.json.decode(item.value, type=Book)
            decided[b.strategy_id] = b.last_bar

    follower = asyncio.create_task(follow())
    ps = psutil.Process(proc.pid)
    history = args.history
    decide_ms: list[float] = []
    cpu_ms: list[float] = []
    intent_lat: list[float] = []
    for k in range(args.warmup + args.closes):
        i = history + k
        t0 = int(markets[COINS[0]].time_ms[i])
        close_ns = (t0 + 3_600_000) * 1_000_000 - 1
        cpu0 = sum(ps.cpu_times()[:2])
        n0 = len(intents)
        await bus.publish(subjects.sys_clock(), ClockTick(ts_event=close_ns, ts_init=close_ns,
                                                          now=close_ns))
        sent_at[0] = time.perf_counter()
        for coin, ds in markets.items():
            c = Candle(ts_event=close_ns, ts_init=close_ns, coin=coin, interval=INTERVAL,
                       open_time=t0 * 1_000_000, close_time=close_ns, open=float(ds.open[i]),
                       high=float(ds.high[i]), low=float(ds.low[i]), close=float(ds.close[i]),
                       volume=float(ds.volume[i]))
            await bus.publish_durable(subjects.md_candle(coin, INTERVAL), c,
                                      msg_id=candle_msg_id(coin, INTERVAL, t0))
        deadline = time.monotonic() + 60
        while not all(decided.get(s) == t0 for s in ids):
            if time.monotonic() > deadline or proc.returncode is not None:
                raise SystemExit(f"organism bench trader: close {k} not decided within 60 s")
            await asyncio.sleep(0.0005)
        done = time.perf_counter() - sent_at[0]
        await asyncio.sleep(0.05)  # intents published with the books arrive; CPU settles
        cpu1 = sum(ps.cpu_times()[:2])
        if k >= args.warmup:
            decide_ms.append(done * 1e3)
            cpu_ms.append((cpu1 - cpu0) * 1e3)
            intent_lat.extend(x * 1e3 for x in intents[n0:])
            per_close_intents.append(len(intents) - n0)
    await isub.unsubscribe()
    await watcher.stop()
    follower.cancel()
    load = os.getloadavg()
    return {
        "strategies": len(ids), "coins": len(COINS), "interval": INTERVAL,
        "history_bars": history, "closes": args.closes, "warmup": args.warmup,
        "intents": len(intent_lat),
        "intents_per_close_mean": round(sum(per_close_intents) / max(1, len(per_close_intents)), 2),
        "intent_latency_p50_ms": round(_pct(intent_lat, 0.5), 2),
        "intent_latency_p99_ms": round(_pct(intent_lat, 0.99), 2),
        "decided_p50_ms": round(_pct(decide_ms, 0.5), 2),
        "decided_p99_ms": round(_pct(decide_ms, 0.99), 2),
        "decided_max_ms": round(max(decide_ms), 2),
        "cpu_per_close_ms_p50": round(_pct(cpu_ms, 0.5), 2),
        "cpu_per_close_ms_p99": round(_pct(cpu_ms, 0.99), 2),
        "goal_every_strategy_decided_within_1s": max(decide_ms) < 1000.0,
        "load_avg_1m": round(load[0], 2), "cpus": os.cpu_count(),
    }
