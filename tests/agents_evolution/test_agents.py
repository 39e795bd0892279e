"""The evaluator queue group and the evolution agent on a real nats-server."""

from __future__ import annotations

import asyncio
import time

import msgspec

from agents.evaluator.agent import QUEUE, EvaluatorAgent
from agents.evolution.agent import EvolutionAgent
from agents.evolution.config import EvolutionConfig
from agents.evolution.remote import RemoteEvaluation
from bus import subjects
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.runtime import run_agent
from settings import HeartbeatSection, MarketSection, MetricsSection, OrganismSection, default_config
from marketdata.datasets import load_dataset
from quant.gp.fitness import dataset_digest
from quant.gp.pool import LocalPool
from quant.gp.search import Search, SearchConfig
from quant.sim import SimConfig
from schemas import (
    Candle,
    DeathReport,
    EvaluationBatch,
    EvolutionProgress,
    Heartbeat,
    StrategyCandidate,
)
from tests.bus.helpers import eventually

SPEC = "planted:seed=3,bars=1500"


def _config(tmp_path, **evolution):
    return msgspec.structs.replace(
        default_config(), organism=OrganismSection(data_dir=str(tmp_path)),
        metrics=MetricsSection(enabled=False), evolution=EvolutionConfig(**evolution))


def _start(agent, config, url, stop):
    return asyncio.create_task(run_agent(agent, config, url=url, stop=stop, handle_signals=False,
                                         log_to_file=False))


async def _wait_until_serving(bus, agents) -> None:
    """Every agent started (subscribed), and a later heartbeat proves the broker has its SUB."""
    beats: list[int] = []

    async def on_beat(d):
        if d.message.state == "running" and all(a.worker is not None for a in agents):
            beats.append(1)

    sub = await bus.subscribe(subjects.sys_heartbeat("evaluator"), on_beat,
                              message_type=Heartbeat)
    await eventually(lambda: len(beats) >= len(agents), timeout=30, what="evaluators serving")
    await sub.unsubscribe()


async def test_queue_group_results_equal_local_and_a_dead_worker_costs_a_retry(nats_server,
                                                                               tmp_path):
    config = msgspec.structs.replace(_config(tmp_path), heartbeat=HeartbeatSection(
        interval_s=0.2))
    stop = asyncio.Event()
    evaluators = [EvaluatorAgent(), EvaluatorAgent()]
    workers = [_start(a, config, nats_server.url, stop) for a in evaluators]
    bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="test-evolution"))
    dead: list[str] = []

    async def die_mid_batch(d):  # takes batches, never answers, leaves the group
        dead.append(d.message.batch_id)
        if len(dead) == 1:
            await dead_sub.unsubscribe()

    try:
        # the timeouts below assume compiled kernels (make install warms them; so does this)
        from quant.warmup import warm_up

        await asyncio.to_thread(warm_up, 100)
        await _wait_until_serving(bus, evaluators)
        dead_sub = await bus.subscribe(subjects.eval_batch(), die_mid_batch,
                                       message_type=EvaluationBatch, queue=QUEUE)
        ds = load_dataset(SPEC)
        search = Search(SearchConfig(population=12, islands=2, seed=1, max_window=60,
                                     min_trades=5))
        with LocalPool(ds, workers=1) as local:
            remote = RemoteEvaluation(bus, local.evaluate, batch_size=3, timeout_s=3.0,
                                      retries=8)
            batches = 0
            for gen in range(6):
                requests = search.ask()
                got = await remote.evaluate(
                    requests, tag=f"t.{gen}", data_spec=SPEC, dataset=ds,
                    digest=dataset_digest(ds), in_sample=0.6, config=SimConfig(),
                    now_ns=time.time_ns())
                assert got == local.evaluate(requests)  # identical, none lost, none doubled
                batches += -(-len(requests) // 3)
                search.tell(got)
                if dead and gen >= 1:
                    break
        assert dead, "the dying worker never got a batch"
        assert remote.retried >= len(dead) >= 1
        assert remote.remote_batches + remote.local_batches == batches
        assert remote.local_batches == 0

        # a batch for history this worker does not have is refused, not answered wrongly
        with LocalPool(ds, workers=1) as local:
            strict = RemoteEvaluation(bus, local.evaluate, batch_size=50, timeout_s=5, retries=1)
            requests = [("k" * 64, "(strategy (long-entry (> close (sma close 10))))")]
            out = await strict.evaluate(requests, tag="wrong", data_spec=SPEC, dataset=ds,
                                        digest="0" * 16, in_sample=0.6, config=SimConfig(),
                                        now_ns=time.time_ns())
        assert strict.local_batches == 1 and out == local.evaluate(requests)
    finally:
        stop.set()
        assert await asyncio.gather(*workers) == [0, 0]
        await bus.drain()


async def test_evolution_agent_publishes_progress_and_candidates_and_heeds_deaths(nats_server,
                                                                                  tmp_path):
    config = msgspec.structs.replace(
        _config(tmp_path, data=[SPEC], population=8, islands=1, workers=1, remote=True,
                batch_size=8, batch_timeout_s=10, min_bars=200, min_trades=1,
                candidate_min_bars=100, candidate_min_sharpe=-100.0,
                candidate_max_drawdown=1.0, candidate_min_win_rate=0.0, templates=True),
        market=MarketSection(coins=["BTC"], intervals=["1h"]))
    stop = asyncio.Event()
    agent = EvolutionAgent()
    tasks = [_start(EvaluatorAgent(), config, nats_server.url, stop),
             _start(agent, config, nats_server.url, stop)]
    bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="test-lifecycle"))
    progress: list[EvolutionProgress] = []
    try:
        await provision(bus.js)
        sub = await bus.subscribe(subjects.evo_progress(), lambda d: _append(progress, d),
                                  message_type=EvolutionProgress)
        await eventually(lambda: len(progress) >= 3, timeout=60, what="three progress reports")
        p = progress[-1]
        assert p.run_id.startswith("data0-") and p.trials > 0 and p.evals_per_s > 0
        assert set(p.operator_rates) >= {"cx_subtree", "mut_uniform"}
        assert abs(sum(p.operator_rates.values()) - 1.0) < 1e-3
        assert len(p.island_best) == 1 and p.island_best[0] == p.best_fitness

        # candidates are stored once each, with the trial count and the Sharpe variance
        js_sub = await bus.js.subscribe(subjects.evo_candidate(), ordered_consumer=True)
        cands: dict[str, StrategyCandidate] = {}

        async def drain_candidates():
            try:
                while True:
                    msg = await js_sub.next_msg(timeout=0.2)
                    c = msgspec.json.decode(msg.data, type=StrategyCandidate)
                    assert c.strategy_id not in cands, "candidate published twice"
                    cands[c.strategy_id] = c
            except Exception:
                return len(cands) > 0

        await eventually(drain_candidates, timeout=60, what="candidates")
        c = next(iter(cands.values()))
        assert c.trial_count > 0 and c.sharpe_variance > 0 and c.data_spec == SPEC
        assert c.algorithm_type == "gp" and c.strategy_id.startswith(f"gp_{c.generation}_")
        assert c.in_sample.bars == 900 and c.family

        # closed candles extend the BTC history until a run starts on it
        t0 = 1_704_067_200_000_000_000
        hour = 3_600_000_000_000
        px = 30_000.0
        for i in range(220):
            px *= 1.0 + 0.002 * ((i * 7919) % 11 - 5) / 5
            await bus.publish(subjects.md_candle("BTC", "1h"), Candle(
                ts_event=t0 + (i + 1) * hour, ts_init=t0 + (i + 1) * hour, coin="BTC",
                interval="1h", open_time=t0 + i * hour, close_time=t0 + (i + 1) * hour - 1,
                open=px, high=px * 1.003, low=px * 0.997, close=px * 1.001, volume=10.0))
        await eventually(lambda: "BTC-1h" in agent.runs, timeout=60, what="a BTC run")
        await eventually(lambda: any(p.run_id == "BTC-1h" for p in progress), timeout=60,
                         what="BTC progress")

        # a death report reaches every run's search
        best = agent.runs["data0-PLANTED-1h"].search.best()
        now = time.time_ns()
        await bus.publish_durable(subjects.life_deathreport("gp_1_deadbeef"), DeathReport(
            ts_event=now, ts_init=now, strategy_id="gp_1_deadbeef", cause="drawdown_breach",
            dsl=best.dsl, born=now - 10**12, died=now, backtest_sharpe=2.0, live_sharpe=-1.0,
            max_drawdown=0.3, trades=20, severity=0.8), msg_id="death-1")
        await eventually(lambda: all(len(r.search.death) == 1 for r in agent.runs.values()),
                         timeout=30, what="the death report in every run")
        await sub.unsubscribe()
    finally:
        stop.set()
        assert await asyncio.gather(*tasks) == [0, 0]
        await bus.drain()
    assert (tmp_path / "evolution" / "trials" / "data0-PLANTED-1h.npz").is_file()


async def _append(out, d):
    out.append(d.message)
