"""`organism bench discovery`: how rarely does the organism fool itself, and does it still find
a real edge? The full search → validate pipeline with a fixed budget, seed by seed:

- noise markets (quant.synth mode "noise": GARCH volatility regimes and jumps, no predictable
  mean): false discovery rate = share of seeds where any validated candidate passes;
- planted-edge markets (mode "edge": drift ±mu by the sign of close − SMA(close, w), mu set so
  the oracle rule earns `--edge` annualised Sharpe after costs): power = share of seeds where
  the promoted strategy (of the candidates that passed, the one whose worse unseen stage has
  the best Sharpe) keeps at least half of the oracle's Sharpe on fresh data from the same
  process (a new seed; the oracle measured there with the same simulator and costs);
- the same two rates for a naive search that promotes its in-sample best whenever its
  in-sample Sharpe exceeds 2.

The search is pluggable (`--search`): "gp" is evolution (quant.gp.Search, islands of typed GP,
its exact trial counter and Sharpe variance), "random" a blind stop-and-reverse template search
(quant.gauntlet.search). Seeds run in parallel worker processes. validation_median_s is the
median wall time of one candidate's whole gauntlet on the benchmark's history;
validation_3y_1h_median_s the same on three years of hourly bars.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import statistics
import time

NAME = "discovery"
HELP = "false discovery rate and power of search → validation on noise and planted-edge markets"

NAIVE_SHARPE = 2.0
VALIDATE_TOP = 16  # hall-of-fame candidates of each search sent to validation
FAMILY_SIZE = 16  # best distinct genomes of the search: the PBO family


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=80, help="markets of each kind")
    p.add_argument("--search", choices=("gp", "random"), default="gp",
                   help="strategy generator: evolution (gp) or blind random search")
    p.add_argument("--budget", type=int, default=6500,
                   help="genomes evaluated per market (the trial count; on the default 3.6 "
                   "in-sample years MinBTL at Sharpe 2 allows about 7,000)")
    p.add_argument("--bars", type=int, default=6 * 8760,
                   help="bars per market (in-sample is the first 60 %%)")
    p.add_argument("--interval", default="1h")
    p.add_argument("--edge", type=float, default=6.0,
                   help="planted edge: the oracle's annualised Sharpe after costs")
    p.add_argument("--vol", type=float, default=0.2, help="annualised volatility of every market")
    p.add_argument("--workers", type=int, default=2, help="parallel seeds")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run (for tests)")


def _markets(seed: int, args: dict):
    from quant.synth import SynthSpec, generate

    common = dict(bars=args["bars"], interval=args["interval"], annual_vol=args["vol"])
    noise = generate(SynthSpec(seed=10_000 + seed, mode="noise", **common))
    edge_spec = SynthSpec(seed=20_000 + seed, mode="edge", edge=args["edge"], **common)
    planted = generate(edge_spec)
    fresh = generate(SynthSpec(seed=30_000 + seed, mode="edge", edge=args["edge"], **common))
    return noise, planted, fresh


def _search_gp(dataset, budget: int, seed: int):
    """Evolution until `budget` distinct genomes were evaluated on the in-sample bars.
    Candidates: the hall of fame, best first; pool: every genome evaluated (DSL, IS Sharpe)."""
    from quant.gp.fitness import InSampleEvaluator
    from quant.gp.search import Search, SearchConfig

    ev = InSampleEvaluator(dataset)
    # fitness told about the drawdown gate: 20 Sharpe units per unit of max drawdown
    search = Search(SearchConfig(population=64, islands=2, seed=seed, hof_size=FAMILY_SIZE,
                                 drawdown_weight=20.0))
    pool: list[tuple[str, float]] = []
    while search.trials.count < budget:
        requests = search.ask()
        results = {k: ev.evaluate_text(text) for k, text in requests}
        search.tell(results)
        pool += [(text, -math.inf if results[k].failed else results[k]["sharpe"])
                 for k, text in requests]
    candidates = [(m.strategy, m.result["sharpe"]) for m in search.hof.members]
    return candidates, pool, int(search.trials.count), float(search.trials.sharpe_variance), \
        f"gp-seed{seed}"


def _search_random(dataset, budget: int, seed: int):
    import numpy as np

    from quant.dsl import format_strategy
    from quant.gauntlet.search import random_search
    from quant.gp.fitness import in_sample_bars

    res = random_search(dataset.slice(0, in_sample_bars(len(dataset))), budget,
                        np.random.default_rng(seed))
    candidates = [(t.strategy, t.sharpe) for t in res.ranked[:FAMILY_SIZE]]
    pool = [(format_strategy(t.strategy, pretty=False), t.sharpe) for t in res.ranked]
    return candidates, pool, res.trial_count, res.sharpe_variance, res.family


SEARCHES = {"gp": _search_gp, "random": _search_random}


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def family_sample(pool: list[tuple[str, float]], k: int) -> list[str]:
    """k distinct genomes (DSL) at evenly spaced in-sample Sharpe ranks of every trial of the
    search, best included: a family that spans the search. (PBO over near-clones of one rule,
    such as a converged hall of fame, is about 0.5 whatever their edge: choosing among equals
    adds nothing out of sample.)"""
    uniq = sorted({t: sr for t, sr in pool}.items(), key=lambda x: -_finite(x[1]))
    if len(uniq) <= k:
        return [t for t, _ in uniq]
    idx = sorted({round(i * (len(uniq) - 1) / (k - 1)) for i in range(k)})
    return [uniq[i][0] for i in idx]


def _run_market(dataset, kind: str, seed: int, args: dict):
    """Search, then validate the best candidates; returns (promoted strategy or None,
    naive strategy or None, validation seconds, summary)."""
    from quant.gauntlet.config import ValidationConfig
    from quant.gauntlet.gauntlet import run_gauntlet
    from quant.gauntlet.splits import SplitError
    from quant.dsl import parse_strategy
    from quant.genome import canonical_text
    from quant.signals import signals_for
    from quant.sim import simulate

    t0 = time.perf_counter()
    candidates, pool, trials, variance, family = SEARCHES[args["search"]](
        dataset, args["budget"], seed)
    search_s = time.perf_counter() - t0
    fam = []
    for text in family_sample(pool, FAMILY_SIZE):
        s = parse_strategy(text)
        fam.append((canonical_text(s), simulate(s, signals_for(s, dataset), dataset).returns.copy()))
    passed = []
    seconds = []
    reasons: list[str] = []
    for i, (s, _) in enumerate(candidates[:VALIDATE_TOP]):
        me = canonical_text(s)
        try:
            r = run_gauntlet(s, dataset, strategy_id=f"{args['search']}_{seed}_{i:08d}",
                             trial_count=trials, sharpe_variance=variance, family=family,
                             family_returns=[ret for key, ret in fam if key != me],
                             config=ValidationConfig())
        except SplitError:  # look-back + holding longer than a stage: fails validation
            continue
        seconds.append(r.seconds)
        if i == 0:
            reasons = [x.split(" (")[0] for x in r.reasons[:4]]
        if r.verdict == "pass":
            unseen = min(r.stages["out_of_sample"].metrics["sharpe"],
                         r.stages["walk_forward"].metrics["sharpe"])
            passed.append((unseen, i, s))
    # promoted: of the candidates that passed, the best Sharpe in its worse unseen stage
    promoted = max(passed, key=lambda x: (x[0], -x[1]))[2] if passed else None
    best, best_is = max(pool, key=lambda x: _finite(x[1])) if pool else ("", -math.inf)
    naive = parse_strategy(best) if best_is > NAIVE_SHARPE else None  # every trial's best
    summary = dict(kind=kind, seed=seed, trials=trials, best_is_sharpe=round(best_is, 3),
                   passed=len(passed), search_s=round(search_s, 1), top_reasons=reasons)
    return promoted, naive, seconds, summary


def _fresh_sharpe(strategy, fresh) -> float:
    from quant.backtest import evaluate

    sr = evaluate(strategy, fresh).metrics["sharpe"]
    return sr if math.isfinite(sr) else -math.inf


def _one_seed(job: tuple[int, dict]) -> dict:
    seed, args = job
    from quant.dsl import parse_strategy

    noise, planted, fresh = _markets(seed, args)
    n_prom, n_naive, secs1, s1 = _run_market(noise.dataset, "noise", seed, args)
    p_prom, p_naive, secs2, s2 = _run_market(planted.dataset, "edge", seed, args)
    oracle = _fresh_sharpe(parse_strategy(fresh.oracle_dsl), fresh.dataset)
    prom_sr = _fresh_sharpe(p_prom, fresh.dataset) if p_prom is not None else math.nan
    naive_sr = _fresh_sharpe(p_naive, fresh.dataset) if p_naive is not None else math.nan
    return dict(
        seed=seed, noise_discovery=n_prom is not None, naive_noise_discovery=n_naive is not None,
        power_hit=p_prom is not None and prom_sr >= 0.5 * oracle,
        naive_power_hit=p_naive is not None and naive_sr >= 0.5 * oracle,
        oracle_fresh_sharpe=oracle, promoted_fresh_sharpe=prom_sr,
        naive_fresh_sharpe=naive_sr, validation_s=secs1 + secs2, noise=s1, edge=s2)


def gauntlet_seconds_3y_hourly(repeats: int = 3) -> float:
    """Median wall time of one whole gauntlet on three years of hourly bars (26,280), over
    the example strategies and the planted oracle, after one warm-up run."""
    from pathlib import Path

    from quant.dsl import parse_strategy
    from quant.gauntlet.gauntlet import run_gauntlet
    from quant.synth import SynthSpec, generate

    m = generate(SynthSpec(seed=7, bars=3 * 8760, interval="1h", mode="edge", edge=4.0))
    folder = Path(__file__).resolve().parents[2] / "examples" / "strategies"
    strategies = [parse_strategy(p.read_text()) for p in sorted(folder.glob("*.dsl"))]
    strategies.append(parse_strategy(m.oracle_dsl))
    run_gauntlet(strategies[0], m.dataset, trial_count=1000)
    times = [run_gauntlet(s, m.dataset, trial_count=1000).seconds
             for s in strategies for _ in range(repeats)]
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict:
    if args.quick:
        args.seeds, args.budget, args.bars = min(args.seeds, 2), min(args.budget, 60), 4000
    if args.seeds < 1 or args.budget < 2:
        raise SystemExit("organism bench discovery: --seeds >= 1 and --budget >= 2 are needed")
    opts = dict(search=args.search, budget=args.budget, bars=args.bars, interval=args.interval,
                edge=args.edge, vol=args.vol)
    jobs = [(args.first_seed + i, opts) for i in range(args.seeds)]
    started = time.perf_counter()
    if args.workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(min(args.workers, len(jobs))) as pool:
            rows = pool.map(_one_seed, jobs, chunksize=1)
    else:
        rows = [_one_seed(j) for j in jobs]
    n = len(rows)
    secs = [s for r in rows for s in r["validation_s"]]

    def share(key: str) -> float:
        return round(sum(bool(r[key]) for r in rows) / n, 4)

    def med(key: str) -> float | None:
        vals = [r[key] for r in rows if math.isfinite(r[key])]
        return round(statistics.median(vals), 3) if vals else None

    return {
        "false_discovery_rate": share("noise_discovery"),
        "power": share("power_hit"),
        "naive_false_discovery_rate": share("naive_noise_discovery"),
        "naive_power": share("naive_power_hit"),
        "seeds": n,
        "validation_median_s": round(statistics.median(secs), 4) if secs else None,
        "validations": len(secs),
        "validation_3y_1h_median_s": round(gauntlet_seconds_3y_hourly(), 4),
        "search": args.search,
        "budget": args.budget,
        "bars": args.bars,
        "interval": args.interval,
        "planted_oracle_sharpe_target": args.edge,
        "oracle_fresh_sharpe_median": med("oracle_fresh_sharpe"),
        "promoted_fresh_sharpe_median": med("promoted_fresh_sharpe"),
        "naive_fresh_sharpe_median": med("naive_fresh_sharpe"),
        "mean_trials": round(statistics.mean(r[k]["trials"] for r in rows
                                             for k in ("noise", "edge")), 1),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "per_seed": [{k: r[k] for k in ("seed", "noise_discovery", "naive_noise_discovery",
                                        "power_hit", "naive_power_hit")}
                     | {"noise_best_is": r["noise"]["best_is_sharpe"],
                        "edge_best_is": r["edge"]["best_is_sharpe"],
                        "edge_passed": r["edge"]["passed"], "noise_passed": r["noise"]["passed"],
                        "edge_top_reasons": r["edge"]["top_reasons"]}
                     for r in rows],
    }
