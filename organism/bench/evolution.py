"""`organism bench evolution`: is evolution better than blind search, how fast does it evaluate,
and does a long run hold its memory flat.

- Quality, on planted-edge markets (quant.gp.planted: oracle Sharpe about 2.4 after costs), for
  several seeds: GP for G generations (`gp_*`: double tournament, the default; `nsga2_*`: the
  same search with NSGA-II selection) vs random search given the same number of distinct
  evaluations as the default GP. Each picks its best genome on the in-sample 60 %; both are then measured on the
  held-out 40 % (`*_best_oos_sharpe`, mean over seeds) and in-sample (`*_best_is_score`).
- Throughput: the same fresh genomes evaluated by a local pool of 1 and 2 processes, and by 2
  `organism agent evaluator` processes over NATS (an embedded broker), each after a warm-up set
  of as many genomes; the better of two fresh sets counts (the machine may be shared).
- Memory: a long in-process run; resident memory at generation 50 and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "evolution"
HELP = "GP vs random search out of sample on planted-edge markets; evals/s local and over NATS"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--bars", type=int, default=30_000, help="bars per planted market")
    p.add_argument("--generations", type=int, default=20)
    p.add_argument("--population", type=int, default=50, help="per island")
    p.add_argument("--islands", type=int, default=2)
    p.add_argument("--throughput-genomes", type=int, default=300)
    p.add_argument("--throughput-bars", type=int, default=10_000)
    p.add_argument("--long-generations", type=int, default=None,
                   help="generations of the memory run (default 300, 0 with --quick; 0 skips)")
    p.add_argument("--skip-nats", action="store_true")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _quality(args) -> dict:
    from quant.backtest import evaluate
    from quant.gp.baseline import random_search
    from quant.gp.fitness import in_sample_bars
    from quant.gp.planted import oracle_sharpe, planted_edge
    from quant.gp.pool import LocalPool, run_generations
    from quant.gp.search import Search, SearchConfig

    from dataclasses import replace

    rows = []
    for seed in range(args.seeds):
        data = planted_edge(seed=seed, bars=args.bars)
        n_in = in_sample_bars(len(data))
        oos = data.slice(n_in, None)
        config = SearchConfig(population=args.population, islands=args.islands, seed=seed,
                              max_window=int(min(200, n_in // 5)))
        with LocalPool(data, workers=None) as pool:
            search = Search(config)
            run_generations(search, pool.evaluate, args.generations)
            best = search.best()
            nsga = Search(replace(config, selection="nsga2"))
            run_generations(nsga, pool.evaluate, args.generations)
            rnd, rnd_score, n = random_search(pool.evaluate, search.trials.count, config)
        rows.append({
            "seed": seed,
            "evaluations": n,
            "gp_is_score": best.score,
            "gp_oos_sharpe": float(evaluate(best.strategy, oos).metrics["sharpe"]),
            "nsga2_is_score": nsga.best().score,
            "nsga2_oos_sharpe": float(evaluate(nsga.best().strategy, oos).metrics["sharpe"]),
            "nsga2_evaluations": nsga.trials.count,
            "random_is_score": rnd_score,
            "random_oos_sharpe": float(evaluate(rnd, oos).metrics["sharpe"]),
            "gp_best": best.dsl,
        })

    def mean(key):
        return statistics.mean(r[key] for r in rows)

    return {
        "gp_best_oos_sharpe": mean("gp_oos_sharpe"),
        "random_best_oos_sharpe": mean("random_oos_sharpe"),
        "gp_best_is_score": mean("gp_is_score"),
        "nsga2_best_oos_sharpe": mean("nsga2_oos_sharpe"),
        "nsga2_best_is_score": mean("nsga2_is_score"),
        "random_best_is_score": mean("random_is_score"),
        "gp_wins_oos": sum(r["gp_oos_sharpe"] > r["random_oos_sharpe"] for r in rows),
        "gp_wins_is": sum(r["gp_is_score"] > r["random_is_score"] for r in rows),
        "oracle_oos_sharpe": oracle_sharpe(bars=max(args.bars, 6000)),
        "seeds": rows,
        "quality_setup": {"bars": args.bars, "generations": args.generations,
                          "population": args.population, "islands": args.islands},
    }


def _genomes(n: int, seed: int, max_window: int) -> list[tuple[str, str]]:
    import hashlib
    import random

    from quant.dsl import format_strategy
    from quant.genome import canonical
    from quant.gp.pset import Individual, build_pset, gen_half_and_half, to_strategy

    pset = build_pset(max_window)
    random.seed(seed)
    out: dict[str, str] = {}
    while len(out) < n:
        text = format_strategy(canonical(to_strategy(Individual(gen_half_and_half(pset, 2, 4)))),
                               pretty=False)
        out[hashlib.sha256(text.encode()).hexdigest()] = text
    return list(out.items())


def _throughput(args) -> dict:
    from quant.gp.planted import planted_edge
    from quant.gp.pool import LocalPool

    data = planted_edge(seed=99, bars=args.throughput_bars)
    warm = _genomes(args.throughput_genomes, 1, 200)
    timed = [_genomes(args.throughput_genomes, 2 + i, 200) for i in range(2)]
    out = {}
    for workers in (1, 2):
        with LocalPool(data, workers=workers) as pool:
            pool.evaluate(warm)
            rates = []
            for genomes in timed:  # best of two fresh sets: the machine is shared
                t0 = time.perf_counter()
                pool.evaluate(genomes)
                rates.append(len(genomes) / (time.perf_counter() - t0))
            out[f"evals_per_s_{workers}_worker" + ("s" if workers > 1 else "")] = max(rates)
    if not args.skip_nats:
        out["evals_per_s_2_nats_workers"] = _nats_throughput(args, warm, timed)
    return out


def _nats_throughput(args, warm, timed) -> float:
    from bus.broker import EmbeddedBroker

    spec = f"planted:seed=99,bars={args.throughput_bars}"
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(store_dir=Path(tmp) / "js") as b:
        env = {**os.environ, "ORGANISM__NATS__URL": b.url, "ORGANISM__METRICS__ENABLED": "false",
               "ORGANISM__ORGANISM__DATA_DIR": tmp, "ORGANISM__HEARTBEAT__INTERVAL_S": "0.5"}
        procs = [subprocess.Popen([sys.executable, "-m", "organism.cli.main", "agent",
                                   "evaluator"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            return asyncio.run(_remote(b.url, spec, warm, timed))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)


async def _remote(url, spec, warm, timed) -> float:
    from agents.evolution.remote import RemoteEvaluation
    from bus import subjects
    from bus.connection import Bus, ConnectOptions
    from quant.gp.fitness import dataset_digest
    from quant.gp.planted import load_market
    from quant.sim import SimConfig
    from schemas import Heartbeat

    bus = await Bus.connect(ConnectOptions(url=url, name="bench-evolution"))
    try:
        seen: set[str] = set()

        async def beat(d):
            if d.message.state == "running":
                seen.add(d.message.instance)

        sub = await bus.subscribe(subjects.sys_heartbeat("evaluator"), beat,
                                  message_type=Heartbeat)
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await sub.unsubscribe()
        if len(seen) < 2:
            raise RuntimeError("the two evaluator workers did not start within 60 s")
        ds = load_market(spec)
        digest = dataset_digest(ds)

        def no_local(requests):
            raise RuntimeError("a batch fell back to local evaluation in the NATS benchmark")

        remote = RemoteEvaluation(bus, no_local, batch_size=16, timeout_s=120, retries=2)
        kw = dict(data_spec=spec, dataset=ds, digest=digest, in_sample=0.6, config=SimConfig())
        # each worker must warm up (load data, numba): more batches than workers
        await remote.evaluate(warm, tag="warm", now_ns=time.time_ns(), **kw)
        rates = []
        for i, genomes in enumerate(timed):
            t0 = time.perf_counter()
            await remote.evaluate(genomes, tag=f"timed{i}", now_ns=time.time_ns(), **kw)
            rates.append(len(genomes) / (time.perf_counter() - t0))
        return max(rates)
    finally:
        await bus.drain()


def _memory(args) -> dict:
    from quant.gp.planted import planted_edge
    from quant.gp.pool import LocalPool
    from quant.gp.search import Search, SearchConfig

    data = planted_edge(seed=7, bars=5000)
    rss = {}
    search = Search(SearchConfig(population=64, islands=2, seed=7, max_window=200))
    with LocalPool(data, workers=1) as pool:
        for _ in range(args.long_generations):
            search.tell(pool.evaluate(search.ask()))
            if search.generation in (50, args.long_generations):
                rss[search.generation] = _rss_mb()
    at50, end = rss.get(50, float("nan")), rss.get(args.long_generations, float("nan"))
    return {"memory_generations": args.long_generations, "rss_mb_gen50": round(at50, 1),
            "rss_mb_end": round(end, 1), "rss_growth_after_gen50": (end - at50) / at50,
            "memory_trials": search.trials.count}


def run(args: argparse.Namespace) -> dict:
    if args.quick:
        args.seeds, args.bars, args.generations, args.population = 1, 3000, 3, 12
        args.throughput_genomes, args.throughput_bars = 30, 2000
        args.long_generations = 0 if args.long_generations is None else args.long_generations
    elif args.long_generations is None:
        args.long_generations = 300
    result: dict = {"cores": os.cpu_count()}
    t0 = time.perf_counter()
    result.update(_quality(args))
    result.update(_throughput(args))
    if args.long_generations >= 50:
        result.update(_memory(args))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return result
