"""`organism evolve`: the evolution search offline, without a broker.

Same search as the evolution agent (quant.gp), evaluated on a local process pool. Prints a Rich
progress display and the final hall of fame with each strategy's DSL, and writes
`{out}/evolution.json`: strategies, in-sample metrics, regime affinity, the trial count and the
Sharpe variance across trials (validation needs both for the deflated Sharpe). The same seed
gives the same result, whatever the number of workers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="breed strategies by genetic programming on a dataset (offline, no broker)",
        description="Strongly-typed GP over the primitive catalogue; fitness on the first 60 %% "
        "of the data only. Prints the hall of fame and writes OUT/evolution.json.",
    )
    p.add_argument("--data", required=True, metavar="SPEC",
                   help="synthetic[:seed=S,bars=N] | planted[:seed=S,bars=N,edge=E,window=W] | "
                   "csv:PATH | store:COIN/INTERVAL")
    p.add_argument("--generations", type=int, default=30, metavar="G")
    p.add_argument("--population", type=int, default=64, metavar="P", help="per island")
    p.add_argument("--islands", type=int, default=1, metavar="K")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--out", default="evolution-out", metavar="DIR")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="evaluation processes (default: every core)")
    p.add_argument("--seed-strategies", metavar="DIR",
                   help="seed the first population with the .dsl files in DIR")
    p.add_argument("--templates", action="store_true",
                   help="seed the first population with the built-in templates")
    p.add_argument("--mode", choices=("gp", "ga"), default="gp",
                   help="gp: trees evolve; ga: tune one template's numbers only")
    p.add_argument("--template", default="trend-filter", metavar="NAME",
                   help="the template the ga mode tunes (a built-in name or a .dsl file)")
    p.add_argument("--selection", choices=("double-tournament", "nsga2"),
                   default="nsga2")
    p.add_argument("--min-trades", type=int, default=30, metavar="N")
    p.add_argument("--hall-of-fame", type=int, default=10, metavar="N")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"organism evolve: {message}", file=sys.stderr)
    return 2


def _positive(args) -> str | None:
    for name in ("generations", "population", "islands", "hall_of_fame"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}"
    if args.population < 4:
        return f"--population must be >= 4, got {args.population}"
    if args.workers is not None and args.workers < 1:
        return f"--workers must be >= 1, got {args.workers}"
    return None


def run(args: argparse.Namespace) -> int:
    from marketdata.datasets import DataSpecError, load_dataset
    from quant.dsl import DslError, parse_strategy
    from quant.gp.fitness import in_sample_bars
    from quant.gp.pool import LocalPool
    from quant.gp.search import Search, SearchConfig
    from quant.gp.seeding import TEMPLATES, parse_seed_texts, template, template_strategies

    problem = _positive(args)
    if problem:
        return _fail(problem)
    try:
        data_dir = Path("data")
        if args.data.startswith("store:"):
            from organism.cli.common import config_from

            data_dir = config_from(args).data_dir
        dataset = load_dataset(args.data, data_dir)
    except DataSpecError as exc:
        return _fail(str(exc))
    n_in = in_sample_bars(len(dataset))
    if n_in < 100:
        return _fail(f"--data has {len(dataset)} bars; evolution needs at least 167 "
                     f"(it reads only the first 60 %)")
    seeds = []
    try:
        if args.seed_strategies:
            folder = Path(args.seed_strategies)
            if not folder.is_dir():
                return _fail(f"--seed-strategies {str(folder)!r} is not a directory")
            texts = {str(f): f.read_text() for f in sorted(folder.glob("*.dsl"))}
            if not texts:
                return _fail(f"--seed-strategies {str(folder)!r} holds no .dsl files")
            seeds += parse_seed_texts(texts)
        if args.templates:
            seeds += template_strategies()
        tmpl = None
        if args.mode == "ga":
            if args.template in TEMPLATES:
                tmpl = template(args.template)
            elif Path(args.template).is_file():
                tmpl = parse_strategy(Path(args.template).read_text(), source=args.template)
            else:
                return _fail(f"--template {args.template!r}: not a file nor one of "
                             f"{', '.join(TEMPLATES)}")
    except DslError as exc:
        return _fail(str(exc))
    config = SearchConfig(
        population=args.population, islands=args.islands, seed=args.seed, mode=args.mode,
        selection=args.selection, min_trades=args.min_trades, hof_size=args.hall_of_fame,
        max_window=int(max(10, min(200, n_in // 5))),
    )
    search = Search(config, seeds=seeds, template=tmpl)
    with LocalPool(dataset, workers=args.workers) as pool:
        evaluated, elapsed = _drive(search, pool, args.generations, args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = _report(search, args, dataset, n_in)
    (out / "evolution.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    _print_hall(search, report, evaluated / max(elapsed, 1e-9), out / "evolution.json")
    return 0


def _drive(search, pool, generations: int, quiet: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    evaluated, elapsed = 0, 0.0
    columns = (TextColumn("generation"), MofNCompleteColumn(), BarColumn(),
               TextColumn("best {task.fields[best]:>7.3f}  median {task.fields[median]:>7.3f}  "
                          "{task.fields[eps]:>6.0f} evals/s  trials {task.fields[trials]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task("evolve", total=generations, best=float("nan"),
                                 median=float("nan"), eps=0.0, trials=0)
        for _ in range(generations):
            t0 = time.perf_counter()
            requests = search.ask()
            stats = search.tell(pool.evaluate(requests))
            evaluated += len(requests)
            dt = time.perf_counter() - t0
            elapsed += dt
            eps = len(requests) / max(dt, 1e-9)
            progress.update(task, advance=1, best=stats.best, median=stats.median, eps=eps,
                            trials=stats.trials)
    return evaluated, elapsed


def _finite(x: float):
    import math

    return x if math.isfinite(x) else None


def _searched(dataset) -> dict:
    """The bars the search read (StrategyCandidate.searched): open times in ns, both inclusive."""
    from quant.gp.fitness import searched_range

    seen = searched_range(dataset)
    return {"start": seen.start, "end": seen.end, "bars": seen.bars}


def _report(search, args, dataset, n_in: int) -> dict:
    members = []
    for m in search.hof:
        members.append({
            "strategy_id": m.strategy_id(search.algorithm_type),
            "genome_hash": m.key,
            "generation": m.generation,
            "score": _finite(m.score),
            "size": m.structure_size,
            "dsl": m.dsl,
            "in_sample": {k: _finite(v) for k, v in m.result.metrics().items()},
            "regime_sharpe": m.result.regime_sharpe(),
            "regime_affinity": m.regime_affinity(),
        })
    return {
        "data": args.data,
        "bars": len(dataset),
        "in_sample_bars": n_in,
        "searched": _searched(dataset),  # validation's in-sample: these bars
        "algorithm_type": search.algorithm_type,
        "seed": args.seed,
        "generations": search.generation,
        "population": args.population,
        "islands": args.islands,
        "selection": args.selection,
        "trial_count": search.trials.count,
        "sharpe_variance": search.trials.sharpe_variance,
        "operator_rates": search.bandit.rates,
        "hall_of_fame": members,
    }


def _print_hall(search, report: dict, eps: float, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"hall of fame — {report['trial_count']} distinct genomes tried "
                  f"({eps:.0f} evals/s)", show_lines=True)
    for col in ("#", "strategy", "score", "sharpe", "max dd", "trades", "win rate", "size"):
        table.add_column(col, overflow="fold")
    for i, m in enumerate(report["hall_of_fame"], 1):
        ins = m["in_sample"]
        table.add_row(str(i), m["strategy_id"], f"{m['score']:.3f}", f"{ins['sharpe']:.2f}",
                      f"{ins['max_drawdown']:.1%}", str(int(ins["trades"])),
                      f"{ins['win_rate']:.0%}", str(m["size"]))
    console = Console()
    console.print(table)
    for i, m in enumerate(report["hall_of_fame"], 1):
        console.print(f"\n[bold]#{i} {m['strategy_id']}[/bold]")
        console.print(m["dsl"], markup=False, highlight=False, soft_wrap=True)
    console.print(f"\nwritten: {path} (in-sample metrics only: validate before trusting any)")
