"""The validation agent on a real nats-server: candidates in on `evo.candidate`, reports out on
`val.report.{strategy_id}`, two agents sharing one durable consumer; a bred candidate without
the bars its search saw is refused, not guessed."""

from __future__ import annotations

import asyncio
import time

import msgspec

from agents.validation.agent import ValidationAgent
from agents.validation.store import StrategyStore
from bus import subjects
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from bus.runtime import run_agent
from marketdata.datasets import load_dataset
from quant.gp.fitness import searched_range
from settings import MetricsSection, OrganismSection, default_config
from schemas import PerformanceMetrics, StrategyCandidate, ValidationReport
from tests.bus.helpers import eventually

DSL = ("(strategy (long-entry (> close (sma close {w}))) (long-exit (< close (sma close {w})))"
       " (size (fixed 0.5)))")


DATA = "synthetic:seed=5,bars=4000"


def candidate(i: int, dsl: str | None = None, searched: bool = True) -> StrategyCandidate:
    now = time.time_ns()
    return StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=f"gp_{i}_0000000{i}", algorithm_type="gp",
        generation=i, genome_hash=f"{i:064d}", dsl=dsl or DSL.format(w=10 + 5 * i), coin="BTC",
        interval="1h", data_spec=DATA, in_sample=PerformanceMetrics(),
        trial_count=50, sharpe_variance=0.0, family="sma-trend",
        searched=searched_range(load_dataset(DATA)) if searched else None)


async def test_candidates_published_on_the_bus_come_back_as_reports(nats_server, tmp_path):
    config = msgspec.structs.replace(
        default_config(), organism=OrganismSection(data_dir=str(tmp_path)),
        metrics=MetricsSection(enabled=False))
    stop = asyncio.Event()
    agents = [asyncio.create_task(run_agent(ValidationAgent(), config, url=nats_server.url,
                                            stop=stop, handle_signals=False, log_to_file=False))
              for _ in range(2)]
    bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="test-evolution"))
    reports: dict[str, ValidationReport] = {}
    try:
        await provision(bus.js)

        async def on_report(d):
            reports[d.message.strategy_id] = d.message

        sub = await bus.subscribe(subjects.val_report("*"), on_report,
                                  message_type=ValidationReport)
        sent = [candidate(i) for i in range(1, 5)]
        broken = candidate(9, dsl="(strategy (long-entry (> close (sma close 0))))")
        unknown = candidate(8, searched=False)  # as an evolution agent older than `searched`
        for c in [*sent, broken, unknown]:
            await bus.publish_durable(subjects.evo_candidate(), c, msg_id=c.strategy_id)
        await eventually(lambda: len(reports) == 6, timeout=60, what="six reports")
        await sub.unsubscribe()

        for c in sent:
            rep = reports[c.strategy_id]
            assert [s.stage for s in rep.stages] == ["in_sample", "out_of_sample", "walk_forward"]
            gates = {g.gate for g in rep.gates}
            assert {"deflated_sharpe", "pbo", "min_backtest_length", "no_lookahead",
                    "sharpe.out_of_sample"} <= gates
            assert rep.trial_count == 50 and 0 <= rep.score <= 100 and rep.reasons
        bad = reports[broken.strategy_id]
        assert bad.verdict == "fail" and bad.reasons[0].startswith("not validated:")
        refused = reports[unknown.strategy_id]
        assert refused.verdict == "fail" and not refused.stages
        assert "names no searched bar range" in refused.reasons[0]

        # every report stored once in the VALIDATION stream, and kept on disk for `report`
        info = await bus.js.stream_info("VALIDATION")
        assert info.state.messages == 6
        store = StrategyStore(tmp_path / "strategies")
        assert set(store.ids()) == {c.strategy_id for c in sent}
        assert store.get(sent[0].strategy_id).report == reports[sent[0].strategy_id]
        # both agents pulled from one durable: nothing is left pending
        ci = await bus.js.consumer_info("EVOLUTION", "validation")
        assert ci.num_pending == 0 and ci.num_ack_pending == 0
    finally:
        stop.set()
        assert await asyncio.gather(*agents) == [0, 0]
        await bus.drain()
