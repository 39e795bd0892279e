"""A trader killed (SIGKILL) and restarted mid-session sends no second intent for a bar it
handled, and its decisions still follow the backtest bar for bar across the restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import numpy as np

from bus import subjects
from bus.codec import decode
from quant.data import synthetic
from quant.dsl import parse_strategy
from quant.signals import IndicatorCache, compile_signals
from schemas import OrderIntent
from tests.bus.helpers import eventually
from tests.trader.conftest import consumed, enter, equity, publish_candle, store_bars, stored_intents
from tests.trader.parity import backtest_sides
from tests.trader.test_agent_parity import sides_from_intents

STORED, LIVE = 200, 60
TEXTS = [
    "(strategy (long-entry (> close (sma close 5))) (long-exit (< close (sma close 5)))"
    " (short-entry (< close (sma close 20))) (short-exit (> close (sma close 20))))",
    "(strategy (long-entry (cross-above (ema close 3) (ema close 12))) (long-exit (< (rsi close"
    " 7) 45)) (stop-loss 0.004) (max-hold 6))",
    "(strategy (short-entry (> (zscore close 10) 0.5)) (short-exit (< (zscore close 10) 0))"
    " (size (vol-target 0.5 12)) (trailing-stop 0.003))",
]


def start_trader(tmp_path, url: str) -> subprocess.Popen:
    cfg = tmp_path / "organism.toml"
    cfg.write_text(
        f'[organism]\ndata_dir = "{tmp_path}"\n[metrics]\nenabled = false\n'
        '[clock]\nsource = "replay"\n[market]\ncoins = ["BTC"]\nintervals = ["1h"]\n')
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "organism.cli.main", "agent", "trader", "--url", url,
         "--config", str(cfg)], env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "trader.log", "ab"))


async def test_killed_and_restarted_mid_session(nats_server, bus, tmp_path):
    ds = synthetic(seed=5, bars=STORED + LIVE + 1, interval="1h")
    store_bars(tmp_path, ds, "BTC", STORED)
    strategies = [parse_strategy(t) for t in TEXTS]
    for i, s in enumerate(strategies):
        await enter(bus, f"r_{i}", s)
    cache = IndicatorCache(ds)
    want = [backtest_sides(s, compile_signals(s, cache), ds, STORED)[0] for s in strategies]
    # kill at a bar where the first strategy changes side, right after its intent is out
    kill_at = next(t for t in range(STORED + 20, STORED + LIVE - 10)
                   if want[0][t] != want[0][t - 1])
    heard: list[OrderIntent] = []

    async def on_intent(msg):
        heard.append(decode(msg.data, OrderIntent))

    sub = await bus.nc.subscribe(subjects.order_intent("*", "*"), cb=on_intent)
    proc = start_trader(tmp_path, nats_server.url)
    try:
        async def up():
            try:
                await bus.js.consumer_info("EXEC_EVENTS", "trader")
                return True
            except Exception:
                return False

        await eventually(up, timeout=60, what="the trader's consumers")
        await equity(bus)
        await asyncio.sleep(0)  # the equity is consumed before the first candle decides
        for i in range(STORED, kill_at):
            await publish_candle(bus, ds, "BTC", i, tmp_path)
            await eventually(lambda: consumed(bus), timeout=60, what=f"candle {i}")
        bar_ns = int(ds.time_ms[kill_at]) * 1_000_000
        await publish_candle(bus, ds, "BTC", kill_at, tmp_path)
        await eventually(lambda: any(x.bar_time == bar_ns for x in heard), timeout=30,
                         what="the intent of the bar before the kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = start_trader(tmp_path, nats_server.url)
        for i in range(kill_at + 1, STORED + LIVE):
            await publish_candle(bus, ds, "BTC", i, tmp_path)
            await eventually(lambda: consumed(bus), timeout=60, what=f"candle {i}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    intents = await stored_intents(bus)
    # the core subscriber hears every publish, re-sends included; let it catch up
    await eventually(lambda: {x.intent_id for x in heard} >= {x.intent_id for x in intents},
                     what="every stored intent heard")
    await sub.unsubscribe()
    decided = {}
    for it in intents:
        decided.setdefault((it.strategy_id, it.bar_time), []).append(it.intent_id)
    assert all(len(ids) == 1 for ids in decided.values()), \
        {k: v for k, v in decided.items() if len(v) > 1}
    # anything re-sent at the restart carried an id already stored (JetStream kept one)
    assert {x.intent_id for x in heard} == {x.intent_id for x in intents}
    for i, s in enumerate(strategies):
        got = sides_from_intents([x for x in intents if x.strategy_id == f"r_{i}"], ds, STORED)
        stop = STORED + LIVE - 1
        assert np.array_equal(want[i][STORED:stop], got[STORED:stop]), TEXTS[i]
