"""`organism data status | synth | backfill` and replay through the market-data agent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bus import subjects
from bus.connection import Bus, ConnectOptions, Delivery
from bus.runtime import run_agent
from agents.market_data.agent import MarketDataAgent
from marketdata.store import CandleStore
from settings import load_config
from marketdata.datasets import load_dataset
from quant.synth import SynthSpec, generate
from schemas import Candle, ClockTick
from tests.bus.helpers import eventually
from venue.testing import SimThread, quiet_config

ROOT = Path(__file__).resolve().parents[2]


def organism(*args: str, env: dict) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "organism.cli.main", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_synth_writes_the_same_market_as_the_data_spec(tmp_path):
    env = {"ORGANISM__ORGANISM__DATA_DIR": str(tmp_path)}
    r = organism("data", "synth", "--coin", "SYN", "--bars", "3000", "--seed", "4", "--edge", "2",
                 "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["written"] == 3000 and out["mode"] == "edge" and "(sma close 50)" in out["oracle_dsl"]
    stored = load_dataset("store:SYN/1h", tmp_path)
    direct = load_dataset("synthetic:seed=4,bars=3000,edge=2")
    assert np.array_equal(stored.close, direct.close) and np.array_equal(stored.time_ms, direct.time_ms)
    status = json.loads(organism("data", "status", "--json", env=env).stdout)
    assert status["series"] == [{"coin": "SYN", "interval": "1h", "first": int(direct.time_ms[0]),
                                 "last": int(direct.time_ms[-1]), "rows": 3000, "gaps": 0,
                                 "missing": 0, "files": 1}]
    again = organism("data", "synth", "--coin", "SYN", "--bars", "3000", "--seed", "4",
                     "--edge", "2", "--json", env=env)
    assert again.returncode == 2 and "already holds 3,000 bars" in again.stderr  # not silent
    replaced = json.loads(organism("data", "synth", "--coin", "SYN", "--bars", "3000", "--seed",
                                   "4", "--edge", "2", "--json", "--replace", env=env).stdout)
    assert replaced["written"] == 3000 and replaced["replaced"] == 3000


def test_backfill_pages_the_venue_and_fills_gaps(tmp_path):
    with SimThread(quiet_config(history_minutes=600)) as sim:
        env = {"ORGANISM__ORGANISM__DATA_DIR": str(tmp_path), "ORGANISM__MARKET_DATA__URL": sim.url}
        first = organism("data", "backfill", "--coin", "ETH", "--interval", "1m", "--bars", "300",
                         "--json", env=env)
        assert first.returncode == 0, first.stderr
        out = json.loads(first.stdout)
        assert out["written"] >= 290 and out["gaps_after"] == 0
        # punch a hole in the store, backfill again: only the hole is written
        store = CandleStore(tmp_path)
        table = store.read("ETH", "1m")
        keep = np.ones(table.num_rows, bool)
        keep[100:110] = False
        import pyarrow as pa

        for f in store.files("ETH", "1m"):
            f.unlink()
        store = CandleStore(tmp_path)
        store.append("ETH", "1m", table.filter(pa.array(keep)))
        assert len(store.coverage("ETH", "1m").gaps) == 1
        second = json.loads(organism("data", "backfill", "--coin", "ETH", "--interval", "1m",
                                     "--bars", "300", "--json", env=env).stdout)
        assert second["gaps_before"] == 1 and second["gaps_after"] == 0
        assert second["written"] >= 10


async def test_replay_publishes_in_order_with_the_replay_clock_paced_by_a_consumer(nats_server, tmp_path):
    market = generate(SynthSpec(seed=8, bars=60, interval="1h"))
    store = CandleStore(tmp_path / "data")
    from marketdata.store import candles_table

    d = market.dataset
    for coin, shift in (("AAA", 1.0), ("BBB", 2.0)):
        store.append(coin, "1h", candles_table([
            dict(t=int(d.time_ms[i]), o=d.open[i] * shift, h=d.high[i] * shift, l=d.low[i] * shift,
                 c=d.close[i] * shift, v=float(d.volume[i])) for i in range(len(d))]))
    config = load_config(env={
        "ORGANISM__ORGANISM__DATA_DIR": str(tmp_path / "data"),
        "ORGANISM__METRICS__ENABLED": "false",
        "ORGANISM__MARKET__COINS": '["AAA", "BBB"]',
        "ORGANISM__MARKET__INTERVALS": '["1h"]',
        "ORGANISM__MARKET_DATA__MODE": "replay",
        "ORGANISM__MARKET_DATA__REPLAY__SPEED": "0",
        "ORGANISM__MARKET_DATA__REPLAY__PACE_CONSUMERS": '["probe"]',
    })
    probe = await Bus.connect(ConnectOptions(url=nats_server.url, name="probe"))
    from bus.jetstream import provision

    await provision(probe.js)
    got: list[Candle] = []
    ticks: list[int] = []
    overrun: list[tuple[int, int]] = []

    async def on_tick(dl: Delivery):
        ticks.append(dl.message.now)

    async def on_candle(dl: Delivery):
        info = await probe.js.stream_info("CANDLES")
        if info.state.last_seq != dl.stream_seq:  # replay ran ahead of its pacing consumer
            overrun.append((info.state.last_seq, dl.stream_seq))
        got.append(dl.message)

    await probe.subscribe(subjects.sys_clock(), on_tick, message_type=ClockTick)
    await probe.consume("CANDLES", "probe", on_candle, message_type=Candle,
                        filter_subject=subjects.md_candle("*", "1h"), batch=1)
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(MarketDataAgent(), config, url=nats_server.url, stop=stop,
                                         handle_signals=False, log_to_file=False))
    await eventually(lambda: len(got) == 120, timeout=30, what="120 replayed candles")
    stop.set()
    assert await asyncio.wait_for(task, 20) == 0
    await probe.drain()
    assert not overrun
    closes = [c.close_time for c in got]
    assert closes == sorted(closes)
    assert [c.coin for c in got[:4]] == ["AAA", "BBB", "AAA", "BBB"]  # same close time: coin order
    assert ticks == sorted(ticks) and ticks[-1] == closes[-1]
    assert got[0].close == d.close[0] and got[1].close == d.close[0] * 2.0


def test_bench_feed_runs_and_reports_its_keys(tmp_path):
    """The benchmark itself (figures are in the issue note, not asserted here)."""
    r = organism("bench", "feed", "--messages", "2000", "--candles", "20", "--json",
                 env={"ORGANISM__ORGANISM__DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["messages"] == 2000 and out["candles_measured"] == 20
    assert out["msgs_per_s"] > 0 and 0 < out["candle_latency_p50_us"] <= out["candle_latency_p99_us"]
