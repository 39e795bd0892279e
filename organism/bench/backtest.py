"""`organism bench backtest`: full strategy evaluations per second against vectorbt anchors.

For each size, a population of random genomes on a seeded synthetic market:
- evals_per_s: tree → signals → simulation → metrics with the genomes' indicators already in
  the cache (each chunk of 32 genomes is evaluated once to fill the cache, then timed again;
  evolution's offspring mostly reuse their parents' subtrees, so this is its steady state),
  on `--workers` processes at once, each with its own cache and an equal share of the
  population (how the organism evaluates: one process per core), wall clock of the slowest;
  evals_per_s_1_worker: the whole population in one process; evals_per_cpu_s: the same per
  CPU second; evals_per_s_cold: first evaluations, every indicator computed from scratch.
- vectorbt_single_per_s: `Portfolio.from_signals` one strategy at a time on the same signals;
  vectorbt_batch_per_s: strategies per second in one 1,000-column `from_signals` call (best
  of three calls); vectorbt_batch_first_call_per_s: the first such call in the process, which
  also faults in its gigabytes of output arrays.
- peak_rss_mb: the workers' peak resident memory, summed (peak_rss_mb_1_worker: one process
  holding the whole population's indicators).
Each measurement runs in a fresh process so one's memory does not count against another, and
timed sections report the fastest of a few repeats (the machine may be shared).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

NAME = "backtest"
HELP = "full evaluations/s (signals → sim → metrics) vs vectorbt from_signals, peak memory"

_FEE = 4.5e-4
_SLIP = 1e-4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    p.add_argument("--population", type=int, default=1000, help="random genomes per size")
    p.add_argument("--sizes", default="10000,100000", help="bar counts, comma-separated")
    p.add_argument("--batch-columns", type=int, default=1000, help="vectorbt batch width")
    p.add_argument("--single", type=int, default=30, help="vectorbt one-at-a-time runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2,
                   help="evaluation processes, one per core (the machine's cores)")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _population(size: int, seed: int, n: int):
    import numpy as np

    from quant.data import synthetic
    from quant.random_genome import random_strategy

    rng = np.random.default_rng(seed)
    return synthetic(seed=seed, bars=size), [random_strategy(rng, depth=4) for _ in range(n)]


def _best(fn, repeats: int = 3) -> tuple[float, float]:
    """Fastest of a few runs: (wall seconds, CPU seconds of this process). The machine is
    shared, so the minimum is the honest estimate of what the code costs (as timeit does), and
    CPU time is what it costs whatever else runs beside it."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


_CHUNK = 32  # genomes evaluated, then re-timed, together: their indicators stay cached


def _share(size: int, seed: int, population: int, workers: int, index: int,
           cache_bytes: int, barrier=None) -> dict:
    """One worker's part of the population (every `workers`-th genome from `index`): each
    chunk evaluated once cold (indicators computed), then timed warm (best of a few)."""
    from quant.backtest import Evaluator

    data, pop = _population(size, seed, population)
    share = pop[index::workers]
    ev = Evaluator(data, cache_bytes=cache_bytes)
    ev.metrics_many(share[:2], 1)  # compile / load the numba kernels outside the timing
    ev.cache.clear()
    if barrier is not None:
        barrier.wait()  # the workers' timed sections overlap: they share the machine
    cold = warm = cpu = 0.0
    for i in range(0, len(share), _CHUNK):
        part = share[i:i + _CHUNK]
        t0 = time.perf_counter()
        ev.metrics_many(part, 1)
        cold += time.perf_counter() - t0
        w, c = _best(lambda: ev.metrics_many(part, 1))
        warm += w
        cpu += c
    return {"evaluated": len(share), "warm_s": warm, "cpu_s": cpu, "cold_s": cold,
            "peak_rss_mb": _peak_rss_mb(), "cache_mb": ev.cache.nbytes / 2**20}


def _share_into(queue, *args) -> None:
    try:
        queue.put(_share(*args))
    except BaseException as exc:  # the parent must not wait forever for a dead worker
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _shares(size: int, seed: int, population: int, workers: int, cache_bytes: int,
            inline: bool) -> list[dict]:
    """The population split over `workers` fresh processes running at once (their memory is
    theirs alone); inline: one after another in this process (--quick)."""
    if inline:
        return [_share(size, seed, population, workers, i, cache_bytes) for i in range(workers)]
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_share_into, args=(queue, size, seed, population, workers, i,
                                                    cache_bytes, barrier))
             for i in range(workers)]
    for p in procs:
        p.start()
    parts = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [p["error"] for p in parts if "error" in p]
    if errors:
        raise RuntimeError(f"benchmark worker failed: {errors[0]}")
    return parts


def _ours(size: int, seed: int, population: int, workers: int, inline: bool = False) -> dict:
    """One process alone (the per-core figures), then `workers` processes at once, each with
    its own indicator cache and an equal share of the population: the way the organism
    evaluates on a machine (quant.gp.pool.LocalPool, one process per core). Threads in one
    process would share a cache, but Python's lock on the interpreter lets only one of them
    compile signals at a time and stalls the others' kernels behind it."""
    cache = 512 * 2**20  # the Evaluator's default, split between the workers
    (one,) = _shares(size, seed, population, 1, cache, inline)
    parts = [one] if workers == 1 else _shares(size, seed, population, workers,
                                               cache // workers, inline)
    return {
        # the shares ran at once: the population took as long as the slowest share
        "evals_per_s": population / max(p["warm_s"] for p in parts),
        "evals_per_s_1_worker": population / one["warm_s"],
        "evals_per_cpu_s": population / one["cpu_s"],
        "evals_per_s_cold": population / max(p["cold_s"] for p in parts),
        "workers": workers,
        "peak_rss_mb": round(sum(p["peak_rss_mb"] for p in parts), 1),  # the workers together
        "peak_rss_mb_1_worker": round(one["peak_rss_mb"], 1),
        "cache_mb": round(sum(p["cache_mb"] for p in parts), 1),
    }


def _signal_matrix(size: int, seed: int, distinct: int):
    import numpy as np

    from quant.signals import IndicatorCache, compile_signals

    data, pop = _population(size, seed, distinct)
    cache = IndicatorCache(data)
    sigs = [compile_signals(s, cache) for s in pop]

    def shifted(name):  # vectorbt fills at the signal bar's price: move decisions to the fill bar
        m = np.zeros((size, distinct), dtype=bool)
        for j, s in enumerate(sigs):
            m[1:, j] = getattr(s, name)[:-1]
        return m

    return data, [shifted(k) for k in ("long_entry", "long_exit", "short_entry", "short_exit")]


def _vectorbt(size: int, seed: int, columns: int, single: int) -> dict:
    import warnings

    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    warnings.filterwarnings("ignore")
    distinct = min(columns, 50)
    data, (le, lx, se, sx) = _signal_matrix(size, seed, distinct)
    close = pd.Series(data.close)

    def run(cols):
        return vbt.Portfolio.from_signals(
            close, entries=le[:, cols], exits=lx[:, cols], short_entries=se[:, cols],
            short_exits=sx[:, cols], price=data.open[:, None], size=0.1, fees=_FEE, slippage=_SLIP,
            init_cash=10_000.0, freq="1h")

    run([0])  # numba compilation outside the timing
    single_s = min(_best(lambda j=j: run([j % distinct]), 1)[0] for j in range(single))
    reps = -(-columns // distinct)
    tile = lambda m: np.ascontiguousarray(np.tile(m, (1, reps))[:, :columns])  # noqa: E731
    le, lx, se, sx = tile(le), tile(lx), tile(se), tile(sx)
    def batch(k):
        # contiguous copies: a column slice has another numba layout and would recompile
        c = np.ascontiguousarray
        return vbt.Portfolio.from_signals(
            close, entries=c(le[:, :k]), exits=c(lx[:, :k]), short_entries=c(se[:, :k]),
            short_exits=c(sx[:, :k]), price=data.open[:, None], size=0.1, fees=_FEE,
            slippage=_SLIP, init_cash=10_000.0, freq="1h")

    batch(2)  # the 2-D code path compiles separately
    t0 = time.perf_counter()
    batch(columns)  # the first call also pays for faulting in its output arrays
    first_s = time.perf_counter() - t0
    batch_s, batch_cpu = _best(lambda: batch(columns), 2)
    batch_s = min(batch_s, first_s)
    return {"vectorbt_single_per_s": 1.0 / single_s,
            "vectorbt_batch_per_s": columns / batch_s,
            "vectorbt_batch_first_call_per_s": columns / first_s,
            "vectorbt_batch_per_cpu_s": columns / batch_cpu,
            "vectorbt_peak_rss_mb": round(_peak_rss_mb(), 1)}


def _in_child(fn, *args, inline: bool = False) -> dict:
    if inline:  # --quick: figures are not judged, skip the process start-up
        return fn(*args)
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def run(args: argparse.Namespace) -> dict:
    if args.quick:
        sizes, population, columns, single = [2000], 20, 20, 5
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        population, columns, single = args.population, args.batch_columns, args.single
    results = []
    for size in sizes:
        row = {"bars": size, "population": population, "batch_columns": columns,
               "load_average_1m": round(os.getloadavg()[0], 2)}
        row.update(_ours(size, args.seed, population, args.workers, inline=args.quick))
        row.update(_in_child(_vectorbt, size, args.seed, columns, single, inline=args.quick))
        row["speedup_vs_vectorbt_batch"] = round(
            row["evals_per_s"] / row["vectorbt_batch_per_s"], 2)
        row["speedup_vs_vectorbt_batch_first_call"] = round(
            row["evals_per_s"] / row["vectorbt_batch_first_call_per_s"], 2)
        row["speedup_per_cpu_s"] = round(
            row["evals_per_cpu_s"] / row["vectorbt_batch_per_cpu_s"], 2)
        for k, v in list(row.items()):
            if isinstance(v, float) and "_per_" in k:
                row[k] = round(v, 1)
        results.append(row)
    return {"benchmark": NAME, "sizes": results,
            "note": "evals_per_s: indicators cached, --workers processes at once, wall clock; "
                    "evals_per_s_1_worker: one process; evals_per_cpu_s: one process, per "
                    "CPU second (robust to other load); evals_per_s_cold: indicators computed; "
                    "vectorbt runs on one core (from_signals is single-threaded), so "
                    "speedup_vs_vectorbt_batch compares the machine's throughput and "
                    "speedup_per_cpu_s the cost per core"}
