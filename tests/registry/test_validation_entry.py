"""Validation enters passing strategies (and only those) into the registry with their summary,
and runs the minimal validated -> paper rule for evolved ones."""

from __future__ import annotations

import asyncio
import functools
import time

import msgspec

from agents.validation.agent import ValidationAgent
from bus import subjects
from bus.registry import Registry, RegistrySection
from bus.runtime import run_agent
from marketdata.datasets import load_dataset
from quant.gp.fitness import searched_range
from schemas import BarRange, PerformanceMetrics, StrategyCandidate, ValidationReport
from settings import MetricsSection, OrganismSection, default_config
from tests.bus.helpers import eventually
from tests.registry.conftest import connect

PLANTED = "synthetic:seed=2,bars=17520,interval=1h,mode=edge,edge=6.0,edge_window=48,annual_vol=0.2"
NOISE = "synthetic:seed=2,bars=17520,interval=1h,mode=noise,annual_vol=0.2"
ORACLE = ("(strategy (long-entry (> close (sma close 48))) (long-exit (< close (sma close 48)))"
          " (short-entry (< close (sma close 48))) (short-exit (> close (sma close 48)))"
          " (size (fixed {size})))")


@functools.cache
def searched(data: str) -> BarRange:
    """The bars an evolution search on `data` reads (what a bred candidate carries)."""
    return searched_range(load_dataset(data))


def candidate(sid: str, data: str, size: float, kind: str = "gp") -> StrategyCandidate:
    now = time.time_ns()
    return StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=sid, algorithm_type=kind, generation=3,
        genome_hash=sid.ljust(64, "0"), dsl=ORACLE.format(size=size), coin="BTC", interval="1h",
        data_spec=data, in_sample=PerformanceMetrics(), trial_count=1 if kind == "user" else 20,
        searched=None if kind == "user" else searched(data))


async def test_passing_candidates_enter_the_registry_and_fill_paper_slots(nats_server, tmp_path):
    config = msgspec.structs.replace(
        default_config(), organism=OrganismSection(data_dir=str(tmp_path)),
        metrics=MetricsSection(enabled=False))
    config = msgspec.structs.replace(config, registry=RegistrySection(paper_slots=1))
    stop = asyncio.Event()
    agent = asyncio.create_task(run_agent(ValidationAgent(), config, url=nats_server.url,
                                          stop=stop, handle_signals=False, log_to_file=False))
    bus = await connect(nats_server.url)
    reports: dict[str, ValidationReport] = {}
    try:
        await eventually(lambda: _bucket_ready(bus), what="provisioned")

        async def on_report(d):
            reports[d.message.strategy_id] = d.message

        await bus.subscribe(subjects.val_report("*"), on_report, message_type=ValidationReport)
        sent = [candidate("gp_3_strong", PLANTED, 0.4), candidate("gp_3_weak", PLANTED, 0.2),
                candidate("user_0_abc", PLANTED, 0.3, "user"), candidate("gp_3_noise", NOISE, 0.4)]
        for c in sent:
            await bus.publish_durable(subjects.evo_candidate(), c, msg_id=c.strategy_id)
        await eventually(lambda: len(reports) == 4, timeout=120, what="four reports")
        passed = {k for k, r in reports.items() if r.verdict == "pass"}
        assert passed == {"gp_3_strong", "gp_3_weak", "user_0_abc"}, {
            k: r.reasons for k, r in reports.items()}

        reg = await Registry.open(bus, "trader")
        entries = {e.strategy_id: e for e in await reg.entries()}
        assert set(entries) == passed  # rejections stay on val.report
        # one paper slot: the better-scoring evolved strategy took it; the user's waits for
        # the operator; every stage change has its reason
        best = max(("gp_3_strong", "gp_3_weak"), key=lambda k: reports[k].score)
        other = ({"gp_3_strong", "gp_3_weak"} - {best}).pop()
        assert entries[best].stage == "paper" and "paper slot 1 of 1" in entries[best].history[-1].reason
        assert entries[other].stage == "validated"
        assert entries["user_0_abc"].stage == "validated"
        assert entries["user_0_abc"].origin.kind == "user"
        e = entries[best]
        v = e.validation
        assert e.origin.kind == "evolved" and e.origin.trial_count == 20
        assert v.score == reports[best].score and v.data_spec == PLANTED
        stages = {s.stage: s for s in reports[best].stages}
        assert v.out_of_sample_sharpe == stages["out_of_sample"].metrics.sharpe
        assert v.max_drawdown == max(s.metrics.max_drawdown for s in stages.values())
        n_trades = stages["out_of_sample"].metrics.trades + stages["walk_forward"].metrics.trades
        assert len(v.trade_returns) == n_trades > 0
        assert v.searched.start == stages["in_sample"].start
        assert v.validated.start == stages["out_of_sample"].start
        assert v.validated.end == stages["walk_forward"].end
        assert v.trades_per_day > 0
    finally:
        stop.set()
        assert await agent == 0
        await bus.drain()


async def _bucket_ready(bus) -> bool:
    try:
        await bus.kv("registry")
        return True
    except Exception:
        return False
