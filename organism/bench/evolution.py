"""`organism bench evolution`: is evolution better than blind search, how fast does it evaluate,
and does a long run hold its memory flat.

- Quality, on planted-edge markets (quant.gp.planted: the oracle earns Sharpe 2.5 through the
  backtest, every cost paid; calibrated on the process, so one sample varies) of `--seeds`
  seeds from `--first-seed`: GP for G generations (`gp_*`: NSGA-II selection, the default;
  `double_tournament_*`: the same search with DEAP's double tournament) vs random search given
  the same number of distinct evaluations as the default GP. Each picks its best genome by its score on the
  in-sample 60 % (`*_best_is_score`); that genome is then measured on the held-out 40 %
  (`*_best_oos_sharpe`) and on a fresh market of the same process with another seed
  (`*_best_fresh_sharpe`, `--fresh-bars` long: its true Sharpe, give or take 0.3), means over
  seeds, with the oracle on the same data as the yardstick (`oracle_*`). One seed's held-out
  Sharpe has a standard error near 0.85, so the verdict is paired over seeds: `gp_vs_random` /
  `double_tournament_vs_random` give per part (is, oos, fresh) the mean difference, its standard error and
  t, wins and losses, and the one-sided sign-test p-value; per-seed figures are under `seeds`.
  48 seeds: the per-seed held-out difference has a standard deviation near 1.5, so its mean is
  known to about 0.2. The search's settings were chosen on seeds 100-129 (also tried there: an
  inner hold-out pick within the in-sample, stronger parsimony, more minimum trades, the
  consistency score; none generalised better). Selection: on seeds 0-47 NSGA-II beat the double
  tournament on fresh markets by +0.49 ± 0.16 Sharpe, confirmed on seeds 200-247 (+0.27 ± 0.17
  fresh, +0.58 ± 0.23 held-out), so it became the default; report on seeds that chose nothing.
- Throughput: the same fresh genomes evaluated by a local pool of 1 and 2 processes, and by 2
  `organism agent evaluator` processes over NATS (an embedded broker), each after a warm-up set
  of as many genomes; the better of two fresh sets counts (the machine may be shared).
  `batch_evals_per_s_1_worker`: the same genomes on the same in-sample bars through the batch
  path (`quant.backtest.Evaluator.metrics_many`, the backtest benchmark's path), in the same
  process beside the one-worker pool; `evolution_vs_batch_1_worker` is the ratio.
- Memory: a long in-process run; resident memory at generation 50 and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
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
    p.add_argument("--seeds", type=int, default=48,  # the paired held-out difference's
                   help="planted markets (paired comparison)")  # SD is ~1.5: SE ~0.2
    p.add_argument("--first-seed", type=int, default=0,
                   help="seed of the first market (choose methods on other seeds than you report)")
    p.add_argument("--bars", type=int, default=30_000, help="bars per planted market")
    p.add_argument("--fresh-bars", type=int, default=100_000,
                   help="bars of the fresh market of the same process each pick is also scored on")
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


FRESH_SEED_OFFSET = 1_000_000  # fresh markets' seeds: never one a quality run trains on


def paired(a: list[float], b: list[float]) -> dict:
    """Paired comparison of a against b over seeds: mean difference, its standard error and t,
    wins (a > b), and the one-sided sign-test p-value P(wins >= observed | no difference),
    ties left out. `se`, `t` are None below two seeds."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
    m = wins + losses
    p = sum(math.comb(m, k) for k in range(wins, m + 1)) / 2**m if m else 1.0
    mean = math.fsum(d) / n
    se = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else None
    return {"mean_diff": mean, "se": se, "t": mean / se if se else None,
            "wins": wins, "losses": losses,
            "seeds": n, "sign_p": p}


def _quality(args) -> dict:
    from quant.backtest import evaluate
    from quant.gp.baseline import random_search
    from quant.gp.fitness import finite, in_sample_bars
    from quant.gp.planted import oracle_strategy, planted_edge
    from quant.gp.pool import LocalPool, run_generations
    from quant.gp.search import Search, SearchConfig

    from dataclasses import replace

    def sharpe(strategy, data) -> float:  # a pick that never trades there earns 0, not NaN
        return finite(evaluate(strategy, data).metrics["sharpe"])

    oracle = oracle_strategy()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t0 = time.perf_counter()
        data = planted_edge(seed=seed, bars=args.bars)
        fresh = planted_edge(seed=seed + FRESH_SEED_OFFSET, bars=args.fresh_bars)
        n_in = in_sample_bars(len(data))
        oos = data.slice(n_in, None)
        config = SearchConfig(population=args.population, islands=args.islands, seed=seed,
                              max_window=int(min(200, n_in // 5)))
        with LocalPool(data, workers=None) as pool:
            search = Search(config)  # the default selection (NSGA-II)
            run_generations(search, pool.evaluate, args.generations)
            other = Search(replace(config, selection="double-tournament"))
            run_generations(other, pool.evaluate, args.generations)
            rnd, rnd_score, n = random_search(pool.evaluate, search.trials.count, config)
        row: dict = {"seed": seed, "evaluations": n,
                     "double_tournament_evaluations": other.trials.count}
        picks = {"gp": (search.best().strategy, search.best().score),
                 "double_tournament": (other.best().strategy, other.best().score),
                 "random": (rnd, rnd_score)}
        for name, (strategy, score) in picks.items():
            row[f"{name}_is_score"] = score
            row[f"{name}_oos_sharpe"] = sharpe(strategy, oos)
            row[f"{name}_fresh_sharpe"] = sharpe(strategy, fresh)
        row["oracle_oos_sharpe"] = sharpe(oracle, oos)
        row["oracle_fresh_sharpe"] = sharpe(oracle, fresh)
        row["gp_best"] = search.best().dsl
        rows.append(row)
        print(f"seed {seed}: held-out Sharpe gp {row['gp_oos_sharpe']:.2f} double tournament "
              f"{row['double_tournament_oos_sharpe']:.2f} random {row['random_oos_sharpe']:.2f} oracle "
              f"{row['oracle_oos_sharpe']:.2f} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)

    def col(key):
        return [r[key] for r in rows]

    out: dict = {}
    for name in ("gp", "double_tournament", "random"):
        out[f"{name}_best_is_score"] = statistics.mean(col(f"{name}_is_score"))
        out[f"{name}_best_oos_sharpe"] = statistics.mean(col(f"{name}_oos_sharpe"))
        out[f"{name}_best_fresh_sharpe"] = statistics.mean(col(f"{name}_fresh_sharpe"))
    for name in ("gp", "double_tournament"):
        out[f"{name}_vs_random"] = {
            part: paired(col(f"{name}_{key}"), col(f"random_{key}"))
            for part, key in (("is", "is_score"), ("oos", "oos_sharpe"),
                              ("fresh", "fresh_sharpe"))}
    return {
        **out,
        "gp_wins_oos": out["gp_vs_random"]["oos"]["wins"],
        "gp_wins_is": out["gp_vs_random"]["is"]["wins"],
        "gp_wins_fresh": out["gp_vs_random"]["fresh"]["wins"],
        "oracle_oos_sharpe": statistics.mean(col("oracle_oos_sharpe")),
        "oracle_fresh_sharpe": statistics.mean(col("oracle_fresh_sharpe")),
        "seeds": rows,
        "quality_setup": {"bars": args.bars, "fresh_bars": args.fresh_bars,
                          "first_seed": args.first_seed, "seeds": args.seeds,
                          "generations": args.generations, "population": args.population,
                          "islands": args.islands},
    }


def _genomes(n: int, seed: int, max_window: int) -> list:
    """n distinct random genomes as the search asks for them (GenomeRequests: hash, text and
    the strategy itself)."""
    import hashlib
    import random

    from quant.dsl import format_strategy
    from quant.genome import canonical
    from quant.gp.fitness import GenomeRequest
    from quant.gp.pset import Individual, build_pset, gen_half_and_half, to_strategy

    pset = build_pset(max_window)
    random.seed(seed)
    out: dict[str, GenomeRequest] = {}
    while len(out) < n:
        strategy = canonical(to_strategy(Individual(gen_half_and_half(pset, 2, 4))))
        text = format_strategy(strategy, pretty=False)
        key = hashlib.sha256(text.encode()).hexdigest()
        out[key] = GenomeRequest(key, text, strategy)
    return list(out.values())


def _throughput(args) -> dict:
    """Evolution's evaluations per second (the local pool: metrics, regime and segment Sharpe
    per genome) and, in the same process on the same in-sample bars and genomes with the same
    indicator-cache budget, the batch path's (quant.backtest.Evaluator.metrics_many: metrics
    only), timed alternately so load hits both alike."""
    from quant.backtest import Evaluator
    from quant.gp.fitness import in_sample_bars
    from quant.gp.planted import planted_edge
    from quant.gp.pool import LocalPool

    data = planted_edge(seed=99, bars=args.throughput_bars)
    warm = _genomes(args.throughput_genomes, 1, 200)
    timed = [_genomes(args.throughput_genomes, 2 + i, 200) for i in range(2)]
    cache_mb = 16.0  # LocalPool's default
    out = {}
    for workers in (1, 2):
        with LocalPool(data, workers=workers, cache_mb=cache_mb) as pool:
            batch = None
            if workers == 1:
                in_sample = data.slice(0, in_sample_bars(len(data)))  # what the pool reads
                batch = Evaluator(in_sample, cache_bytes=int(cache_mb * 2**20))
                batch.metrics_many([g.strategy for g in warm])
            pool.evaluate(warm)
            rates, batch_rates = [], []
            for genomes in timed:  # best of two fresh sets: the machine is shared
                t0 = time.perf_counter()
                pool.evaluate(genomes)
                rates.append(len(genomes) / (time.perf_counter() - t0))
                if batch is not None:
                    strategies = [g.strategy for g in genomes]
                    t0 = time.perf_counter()
                    batch.metrics_many(strategies)
                    batch_rates.append(len(genomes) / (time.perf_counter() - t0))
            out[f"evals_per_s_{workers}_worker" + ("s" if workers > 1 else "")] = max(rates)
            if batch_rates:
                out["batch_evals_per_s_1_worker"] = max(batch_rates)
                out["evolution_vs_batch_1_worker"] = round(max(rates) / max(batch_rates), 3)
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
    from marketdata.datasets import load_dataset
    from quant.gp.fitness import dataset_digest
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
        ds = load_dataset(spec)
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
        args.seeds, args.bars, args.generations, args.population = 2, 3000, 3, 12
        args.fresh_bars = 3000
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
