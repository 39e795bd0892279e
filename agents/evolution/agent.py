"""The evolution agent: breeds strategies continuously on each history it follows.

- History: for every market.coins × market.intervals, the candle store at start, then every
  closed candle from `md.candle.{coin}.{interval}`; plus any static `evolution.data` specs. A
  run starts once a history has `min_bars` bars and re-reads it every `refresh_bars` new bars.
- Each round runs one generation per ready run: evaluated on the local process pool, or on
  `eval.batch` workers when `evolution.remote` is set (local when none answers).
- Publishes `evo.progress` every generation and `evo.candidate` (JetStream, Nats-Msg-Id = the
  strategy id) once per hall-of-fame member that passes the pre-production limits.
- Death reports (`life.deathreport.*`, durable consumer, replayed from the start) penalise
  genomes that share the dead strategies' structure.
- Trial counters persist under `{data_dir}/evolution/trials/`, so a restart keeps counting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path

from loguru import logger

from agents.evolution.history import CandleHistory
from agents.evolution.remote import RemoteEvaluation
from agents.evolution.runs import MarketRun, load_trials, run_id_for
from bus import subjects
from bus.connection import Delivery
from bus.runtime import Agent, AgentContext
from schemas import Candle, DeathReport

DURABLE = "evolution"


class EvolutionAgent(Agent):
    name = "evolution"

    def __init__(self) -> None:
        self.histories: dict[tuple[str, str], CandleHistory] = {}
        self.runs: dict[str, MarketRun] = {}
        self.deaths: deque[tuple[list[str], str, float]] = deque(maxlen=500)
        self.ctx: AgentContext | None = None
        self.remote: RemoteEvaluation | None = None
        self.seeds: list = []
        self.generations = 0

    # --- start --------------------------------------------------------------------------------
    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        cfg = ctx.config.evolution
        if not cfg.enabled:
            logger.info("evolution disabled (evolution.enabled = false)")
            return
        self.seeds = await asyncio.to_thread(self._load_seeds)
        if cfg.use_market:
            for coin in ctx.config.market.coins:
                for interval in ctx.config.market.intervals:
                    await self._follow(ctx, coin, interval)
        for i, spec in enumerate(cfg.data):
            await self._static_run(ctx, i, spec)
        await ctx.bus.consume(
            "LIFECYCLE", DURABLE, self._on_death, filter_subject=subjects.life_deathreport(
                subjects.ANY), message_type=DeathReport,
            ack_wait_s=ctx.config.jetstream.ack_wait_s)
        ctx.spawn(self._evolve(ctx), "generations")

    def _load_seeds(self) -> list:
        from quant.gp.seeding import parse_seed_texts, template_strategies

        assert self.ctx is not None
        cfg = self.ctx.config.evolution
        seeds = template_strategies() if cfg.templates else []
        if cfg.seed_strategies:
            folder = Path(cfg.seed_strategies)
            if not folder.is_absolute():
                folder = self.ctx.data_dir / folder
            texts = {str(f): f.read_text() for f in sorted(folder.glob("*.dsl"))}
            if not texts:
                logger.warning("evolution.seed_strategies {}: no .dsl files", folder)
            seeds += parse_seed_texts(texts)
        return seeds

    async def _follow(self, ctx: AgentContext, coin: str, interval: str) -> None:
        from marketdata.datasets import DataSpecError, load_dataset

        cfg = ctx.config.evolution
        history = CandleHistory(coin, interval, cfg.max_bars)
        try:
            stored = await asyncio.to_thread(load_dataset, f"store:{coin}/{interval}",
                                             ctx.data_dir)
            history.load(stored)
        except DataSpecError:
            logger.info("no stored candles for {}/{} yet; waiting for md.candle", coin, interval)
        self.histories[(coin, interval)] = history
        await ctx.bus.subscribe(subjects.md_candle(coin, interval), self._on_candle,
                                message_type=Candle)

    async def _static_run(self, ctx: AgentContext, index: int, spec: str) -> None:
        from marketdata.datasets import load_dataset

        ds = await asyncio.to_thread(load_dataset, spec, ctx.data_dir)
        kind = spec.partition(":")[0]
        coin = spec.partition(":")[2].partition("/")[0] if kind == "store" else kind.upper()
        run_id = f"data{index}-{run_id_for(coin, ds.interval)}"
        await self._start_run(run_id, coin, ds.interval, spec, ds)

    async def _start_run(self, run_id, coin, interval, spec, ds) -> None:
        assert self.ctx is not None
        trials = await asyncio.to_thread(load_trials, self._trials_dir(), run_id)
        run = await asyncio.to_thread(
            MarketRun, run_id, coin, interval, spec, ds, self.ctx.config.evolution, self.seeds,
            trials, target_sharpe=self.ctx.config.validation.min_btl_target_sharpe)
        for structure, cause, severity in self.deaths:
            run.search.add_death(structure, cause, severity)
        self.runs[run_id] = run
        logger.info("evolving {} on {} bars of {} ({} trials so far)", run_id, len(ds), spec,
                    run.search.trials.count)

    def _trials_dir(self) -> Path:
        assert self.ctx is not None
        return self.ctx.data_dir / "evolution" / "trials"

    # --- inputs -------------------------------------------------------------------------------
    async def _on_candle(self, d: Delivery) -> None:
        c: Candle = d.message
        h = self.histories.get((c.coin, c.interval))
        if h is not None:
            h.add(c)

    async def _on_death(self, d: Delivery) -> None:
        from quant.dsl import DslError, parse_strategy
        from quant.gp.death import structure_hashes

        r: DeathReport = d.message
        structure = list(r.structure)
        if not structure:
            try:
                structure = structure_hashes(parse_strategy(r.dsl))
            except DslError:
                logger.warning("death report {} has no structure and unreadable DSL", r.strategy_id)
                return
        self.deaths.append((structure, r.cause, r.severity))
        for run in self.runs.values():
            run.search.add_death(structure, r.cause, r.severity)
        logger.info("death of {} ({}, severity {}) noted", r.strategy_id, r.cause, r.severity)

    # --- the loop -----------------------------------------------------------------------------
    async def _sync_histories(self) -> None:
        cfg = self.ctx.config.evolution
        for (coin, interval), h in self.histories.items():
            run_id = run_id_for(coin, interval)
            run = self.runs.get(run_id)
            if run is None and len(h) >= cfg.min_bars:
                await self._start_run(run_id, coin, interval, f"store:{coin}/{interval}",
                                      h.dataset())
            elif run is not None and h.appended >= cfg.refresh_bars:
                ds = h.dataset()
                await asyncio.to_thread(run.set_data, ds)
                await asyncio.to_thread(run.save_trials, self._trials_dir())
                logger.info("{}: history grew to {} bars; re-evaluating", run_id, len(ds))

    async def _evolve(self, ctx: AgentContext) -> None:
        failures = 0
        while not ctx.stopping.is_set():
            try:
                await self._sync_histories()
                for run in list(self.runs.values()):
                    if ctx.stopping.is_set():
                        break
                    await self._generation(ctx, run)
                failures = 0
            except Exception:  # a bad round must not end evolution: log, count, back off
                failures += 1
                ctx.bus.metrics.error("generation")
                logger.exception("evolution round failed ({} in a row)", failures)
            if not self.runs or failures:
                await self._pause(ctx, min(60.0, 1.0 * 2 ** min(failures, 6)))

    @staticmethod
    async def _pause(ctx: AgentContext, seconds: float) -> None:
        waiter = asyncio.ensure_future(ctx.stopping.wait())
        await asyncio.wait([waiter], timeout=seconds)
        waiter.cancel()

    async def _generation(self, ctx: AgentContext, run: MarketRun) -> None:
        t0 = time.perf_counter()
        requests = run.search.ask()
        try:
            results = await self._evaluate(ctx, run, requests)
        except BaseException:
            run.search.abandon()
            raise
        run.search.tell(results)
        self.generations += 1
        eps = len(requests) / max(time.perf_counter() - t0, 1e-9)
        now = ctx.now_ns()
        await ctx.bus.publish(subjects.evo_progress(), run.progress(now, eps))
        for cand in run.new_candidates(now):
            await ctx.bus.publish_durable(subjects.evo_candidate(), cand, msg_id=cand.strategy_id)
            run.mark_published(cand.genome_hash)
            logger.info("candidate {} (in-sample Sharpe {:.2f}, {} trials)", cand.strategy_id,
                        cand.in_sample.sharpe, cand.trial_count)

    async def _evaluate(self, ctx: AgentContext, run: MarketRun, requests):
        cfg = ctx.config.evolution
        if cfg.remote:
            if self.remote is None:
                self.remote = RemoteEvaluation(ctx.bus, self._local(run), batch_size=cfg.batch_size,
                                               timeout_s=cfg.batch_timeout_s,
                                               retries=cfg.batch_retries)
            self.remote.local_evaluate = self._local(run)
            results = await self.remote.evaluate(
                requests, tag=f"{run.run_id}.{run.search.generation}", data_spec=run.data_spec,
                dataset=run.dataset, digest=run.digest, in_sample=0.6, config=run.sim,
                now_ns=ctx.now_ns())
            return results
        pool = await asyncio.to_thread(run.open_pool)
        return await asyncio.to_thread(pool.evaluate, requests)

    def _local(self, run: MarketRun):
        def evaluate(requests):
            return run.open_pool().evaluate(requests)

        return evaluate

    async def stop(self) -> None:
        for run in self.runs.values():
            try:
                await asyncio.to_thread(run.save_trials, self._trials_dir())
            except OSError as exc:
                logger.error("could not save the trial count of {}: {}", run.run_id, exc)
            await asyncio.to_thread(run.close)
