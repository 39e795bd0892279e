"""The trader on a real nats-server, driven by closed candles on md.candle: its intents follow the
backtest's decisions bar for bar, for strategies covering every primitive; a strategy that is
paused, on a blocked coin or not in paper/live sends nothing."""

from __future__ import annotations

import numpy as np

from quant.data import synthetic
from quant.signals import IndicatorCache, compile_signals
from tests.bus.helpers import eventually
from tests.trader.conftest import (
    RunningTrader,
    consumed,
    enter,
    equity,
    publish_candle,
    store_bars,
    stored_intents,
    trader_config,
)
from tests.trader.parity import backtest_sides
from tests.trader.test_model import covering_strategies

STORED, LIVE = 300, 120


def sides_from_intents(intents, ds, start):
    """The trader's side after each close: the sign of the target of its last intent."""
    side = np.zeros(len(ds), dtype=np.int64)
    index = {int(t): i for i, t in enumerate(ds.time_ms)}
    for it in sorted(intents, key=lambda x: x.bar_time):
        i = index[it.bar_time // 1_000_000]
        side[i:] = int(np.sign(it.target_position))
    return side


async def test_intents_follow_the_backtest_bar_for_bar(nats_server, bus, tmp_path):
    ds = synthetic(seed=11, bars=STORED + LIVE + 1, interval="1h")
    store_bars(tmp_path, ds, "BTC", STORED)
    strategies = covering_strategies(max_window=60)
    for i, s in enumerate(strategies):
        await enter(bus, f"t_{i}", s)
    await enter(bus, "t_validated", strategies[0], stage="validated")
    trader = RunningTrader(trader_config(tmp_path), nats_server.url)
    try:
        await trader.ready(bus)
        await equity(bus)
        await eventually(lambda: trader.agent.equity.get("paper") is not None, what="equity")
        for i in range(STORED, STORED + LIVE):  # paced like replay's pace_consumers
            await publish_candle(bus, ds, "BTC", i)
            await eventually(lambda: consumed(bus), timeout=60, what=f"candle {i} decided")
    finally:
        assert await trader.close() == 0
    intents = await stored_intents(bus)
    by = {}
    for it in intents:
        by.setdefault(it.strategy_id, []).append(it)
    assert "t_validated" not in by
    assert len({it.intent_id for it in intents}) == len(intents)
    cache = IndicatorCache(ds)
    changes = 0
    for i, s in enumerate(strategies):
        sig = compile_signals(s, cache)
        want, _ = backtest_sides(s, sig, ds, STORED)
        got = sides_from_intents(by.get(f"t_{i}", []), ds, STORED)
        stop = STORED + LIVE - 1  # the last live close: the backtest decides nothing there
        bad = np.flatnonzero(want[STORED:stop] != got[STORED:stop])
        assert bad.size == 0, (f"t_{i} {s}: bar {STORED + bad[0]}: backtest "
                               f"{want[STORED + bad[0]]}, trader {got[STORED + bad[0]]}")
        changes += int(np.count_nonzero(np.diff(want[STORED:stop])))
    assert changes > 100
    # every intent carries what risk and the lifecycle need
    it = intents[0]
    assert it.account == "paper" and it.reference_price > 0 and it.bar_time > 0
    assert it.correlation_id == it.intent_id and it.reason
