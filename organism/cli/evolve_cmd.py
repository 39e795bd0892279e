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

from organism.cli import fmt
from organism.cli.common import DATA_HELP

FEW_TRADES = 30  # a hall-of-fame member with fewer in-sample trades gets a warning
COLUMNS_HELP = """\
Hall of fame columns (in-sample: the first 60 % of the data, all that evolution sees):
  score     what selection maximises: Sharpe - max drawdown - 0.05 x size
            (Sharpe units; fewer than --min-trades trades scores below -2)
  Sharpe    annualised Sharpe ratio of the in-sample backtest, after costs
  max DD    worst fall from a peak of equity
  trades    round trips in-sample; win rate: share with a positive PnL
  size      nodes in the strategy's rule trees: its complexity (smaller is simpler)
evals/s: strategies backtested per second over the whole run.
Every figure is in-sample and the best of many trials: validate before trusting any."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="breed strategies by genetic programming on a dataset (offline, no broker)",
        description="Strongly-typed GP over the primitive catalogue; fitness on the first 60 % "
        "of the data only. Prints the hall of fame and writes OUT/evolution.json and each "
        "strategy as OUT/strategies/ID.dsl; validate them with `organism validate --from "
        "OUT/evolution.json --all` (the run's trial count goes with them).",
        epilog=COLUMNS_HELP,
    )
    add_breeding_arguments(p, out="evolution-out", kept="kept and printed")
    p.add_argument("--seed-strategies", metavar="DIR",
                   help="seed the first population with the .dsl files in DIR")
    p.add_argument("--templates", action="store_true",
                   help="seed the first population with the built-in templates")
    p.add_argument("--mode", choices=("gp", "ga"), default="gp",
                   help="gp: trees evolve; ga: tune one template's numbers only")
    p.add_argument("--template", default="trend-filter", metavar="NAME",
                   help="the template the ga mode tunes (a built-in name or a .dsl file)")
    p.add_argument("--selection", choices=("double-tournament", "nsga2"),
                   default="nsga2", help="how parents are chosen")
    p.add_argument("--min-trades", type=int, default=30, metavar="N",
                   help="in-sample trades below which a strategy's score is a penalty")
    p.set_defaults(func=run)


def add_breeding_arguments(p: argparse.ArgumentParser, *, out: str, kept: str) -> None:
    """The arguments of a search, shared by `organism evolve` and `organism research` (which
    breeds as evolve does)."""
    p.add_argument("--data", required=True, metavar="SPEC", help=DATA_HELP)
    p.add_argument("--generations", type=int, default=30, metavar="G",
                   help="generations to breed")
    p.add_argument("--population", type=int, default=64, metavar="P",
                   help="individuals per island (at least 4)")
    p.add_argument("--islands", type=int, default=1, metavar="K",
                   help="populations bred side by side, exchanging migrants")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed: the same seed gives the same run")
    p.add_argument("--hall-of-fame", type=int, default=10, metavar="N",
                   help=f"best distinct strategies {kept}")
    p.add_argument("--out", default=out, metavar="DIR",
                   help="folder for evolution.json and strategies/*.dsl (created if missing)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="evaluation processes (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def _fail(message: str, code: int = 2) -> int:
    return fmt.fail("evolve", message, code)


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
    from quant.data import DataSpecError
    from quant.dsl import DslError, parse_strategy
    from quant.gp.fitness import in_sample_bars
    from quant.gp.pool import LocalPool
    from quant.gp.search import Search, SearchConfig
    from quant.gp.seeding import TEMPLATES, parse_seed_texts, template, template_strategies
    from quant.gp.simplify import InSampleInspector

    from organism.cli.common import load_data

    problem = _positive(args) or fmt.check_output_dir(args.out, "--out")
    if problem:
        return _fail(problem)
    try:
        dataset = load_data(args, args.data)
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
            if not args.quiet:
                print(f"ga mode: tuning the numbers of template {args.template!r} (choose "
                      f"another with --template: {', '.join(TEMPLATES)} or a .dsl file)",
                      file=sys.stderr)
    except DslError as exc:
        return _fail(str(exc))
    config = SearchConfig(
        population=args.population, islands=args.islands, seed=args.seed, mode=args.mode,
        selection=args.selection, min_trades=args.min_trades, hof_size=args.hall_of_fame,
        max_window=int(max(10, min(200, n_in // 5))),
    )
    search = Search(config, seeds=seeds, template=tmpl, inspect=InSampleInspector(dataset))
    with LocalPool(dataset, workers=args.workers) as pool:
        evaluated, elapsed = _drive(search, pool, args.generations, args.quiet)
    out = Path(args.out)
    path = out / "evolution.json"
    report = _report(search, args, dataset, n_in, path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "strategies").mkdir(exist_ok=True)
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        for m in report["hall_of_fame"]:
            header = dsl_header(m["strategy_id"], m["rank"], path, report["trial_count"])
            (out / m["dsl_file"]).write_text(header + m["dsl"] + "\n")
    except OSError as exc:  # checked before the search; the disk may still fill up
        return _fail(f"cannot write {path}: {exc.strerror or exc}", 1)
    _remember(args, report, path)
    if getattr(args, "print_hall", True):  # organism research prints its own summary
        _print_hall(report, evaluated / max(elapsed, 1e-9), path)
    return 0


def _drive(search, pool, generations: int, quiet: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    evaluated, elapsed = 0, 0.0
    columns = (TextColumn("gen"), MofNCompleteColumn(), BarColumn(bar_width=12),
               TextColumn("best {task.fields[best]:>6.2f} median {task.fields[median]:>6.2f} "
                          "{task.fields[eps]:>5,.0f} evals/s {task.fields[trials]:,} tried"),
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
            eps = evaluated / max(elapsed, 1e-9)  # the run's rate, as the final table says
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


def _report(search, args, dataset, n_in: int, path: Path) -> dict:
    from agents.evolution.runs import family_of

    members = []
    trials = search.trials.count
    for rank, m in enumerate(search.hof, 1):
        sid = m.strategy_id(search.algorithm_type)
        members.append({
            "rank": rank,
            "strategy_id": sid,
            "genome_hash": m.key,
            "generation": m.generation,
            "family": family_of(m.strategy),
            "score": _finite(m.score),
            "size": m.structure_size,
            "dsl": m.dsl,
            "dsl_file": f"strategies/{sid}.dsl",
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
        "trial_count": trials,
        "sharpe_variance": search.trials.sharpe_variance,
        **history_support_of(trials, n_in, dataset.bars_per_year),
        "operator_rates": search.bandit.rates,
        "hall_of_fame": members,
    }


def history_support_of(trials: int, in_sample_bars: int, bars_per_year: float) -> dict:
    """evolution.json's account of what the history supports (quant.gauntlet.support), at
    validation's default target Sharpe."""
    from quant.gauntlet.config import ValidationConfig
    from quant.gauntlet.support import history_support

    s = history_support(trials, in_sample_bars, bars_per_year,
                        ValidationConfig().min_btl_target_sharpe)
    return {"history_years": s.years, "min_btl_years": s.min_btl_years,
            "supported_trials": s.supported_trials, "history_support": s.sentence()}


def dsl_header(strategy_id: str, rank: int, path: Path, trials: int) -> str:
    """The comment that keeps an evolved strategy's id and origin with its text: `organism
    validate --strategy FILE` reads the id back (while the rules still hash to it)."""
    return (f"; strategy {strategy_id}: #{rank} of organism evolve, {path} ({trials} trials)\n"
            f"; validate: organism validate --from {path} --rank {rank}\n")


def _remember(args, report: dict, path: Path) -> None:
    """Add the run to the data folder's index of runs (`runs_index`), so `organism validate`
    recognises these strategies when given as lone files. Best effort: no config, no index."""
    from settings import ConfigError

    from organism.cli.common import config_from
    from organism.cli.runs import add_run

    try:
        add_run(config_from(args).data_dir, path, report)
    except (ConfigError, OSError):
        pass


def _print_hall(report: dict, eps: float, path: Path) -> None:
    out = fmt.console()
    hof = report["hall_of_fame"]
    t = fmt.table(f"hall of fame: {len(hof)} best of {report['trial_count']:,} strategies tried "
                  f"({eps:,.0f} evals/s), in-sample")
    fmt.key_column(t, "#", right=True)
    fmt.key_column(t, "strategy")
    for col in ("score", "Sharpe", "max DD", "trades", "win rate", "size"):
        fmt.key_column(t, col, right=True)
    few = []
    for m in hof:
        ins = m["in_sample"]
        trades = int(ins["trades"] or 0)
        if trades < FEW_TRADES:
            few.append((m["rank"], trades))
        t.add_row(str(m["rank"]), m["strategy_id"], fmt.num(m["score"]), fmt.num(ins["sharpe"]),
                  fmt.pct(ins["max_drawdown"], sign=False), f"{trades:,}",
                  fmt.pct(ins["win_rate"], 0, sign=False), str(m["size"]))
    out.print(t)
    out.print("score: what selection maximises (Sharpe - drawdown - 0.05 x size); size: nodes "
              "in the rules, smaller is simpler. More in `organism evolve --help`.",
              soft_wrap=False)
    for m in hof:
        out.print(f"\n[bold]#{m['rank']} {m['strategy_id']}[/bold]")
        out.print(m["dsl"], markup=False, highlight=False, soft_wrap=True)
    out.print(f"\nwritten: {path} and {path.parent / 'strategies'}/*.dsl (in-sample figures "
              "only: validate before trusting any)", soft_wrap=True)
    out.print(f"history: {report['history_support']}", soft_wrap=True, markup=False,
              highlight=False)
    out.print(f"next: organism validate --from {path} --all", soft_wrap=True, markup=False)
    for rank, trades in few:
        print(f"warning: #{rank} made only {trades} trades in-sample: its Sharpe is mostly "
              f"noise at that count (raise --min-trades or use more data)", file=sys.stderr)
