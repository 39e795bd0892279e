"""`organism validate`: strategies through the gauntlet, printed as tables (or JSON).

Exit codes: 0 the verdict is pass (with --all: at least one passed), 1 fail, 2 a usage error
(a bad file, id, option or dataset). Scripts can gate on it.

Ids stay the same from evolve to report: a strategy from `--from OUT/evolution.json` keeps its
evolved id, and so does a lone DSL file whose rules match a known run (its `; strategy ID`
header or the data folder's run index, organism/cli/runs.py); other files get `dsl_0_HASH8`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from organism.cli import fmt
from organism.cli.common import DATA_HELP

EXIT_HELP = """\
Exit status: 0 when the verdict is pass (with --all: when at least one passes), 1 when it
is fail, 2 for a usage error (a bad file, id, option or dataset).
The deflated Sharpe needs the number of strategies the search tried (--trials): with a
strategy from a search, use --from OUT/evolution.json so the run's count goes with it.
--json prints the ValidationReport as on the wire (fractions, times in ns)."""


@dataclass
class Job:
    strategy_id: str
    dsl: str
    data: str
    trials: int | None
    variance: float | None
    family: str
    notes: list[str]
    searched: dict | None = None  # a bred strategy's in-sample bars (the run's `searched`)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="run strategies through the validation gauntlet and print every stage and gate",
        description="The gauntlet: in-sample / out-of-sample / walk-forward with purge gaps, "
        "deflated Sharpe with the true trial count, PBO of the family, minimum backtest length, "
        "the look-ahead truncation check, cross-market robustness and the readiness score. "
        "The result is kept under {data_dir}/strategies/ for `organism report`.",
        epilog=EXIT_HELP,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--strategy", metavar="FILE|ID",
                      help="a strategy file (.dsl) or the id of a strategy validated before")
    what.add_argument("--from", dest="from_run", metavar="EVOLUTION_JSON",
                      help="strategies of an `organism evolve` run (OUT/evolution.json), with "
                      "the run's trial count, Sharpe variance and families")
    p.add_argument("--rank", type=int, metavar="K",
                   help="with --from: the hall-of-fame member to validate (default 1, the best)")
    p.add_argument("--all", action="store_true",
                   help="with --from: every hall-of-fame member, then a summary table")
    p.add_argument("--data", metavar="SPEC",
                   help=DATA_HELP + "; default for an ID or --from: the data it was found on")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="distinct strategies the search tried on this data (default: the "
                   "run's count with --from or a known evolved strategy, the stored count for "
                   "an ID, else 1 with a warning)")
    p.add_argument("--sharpe-variance", type=float, default=None, metavar="V",
                   help="variance of per-bar Sharpe across those trials (default: the run's, "
                   "else the null 1/(T-1))")
    p.add_argument("--family", default=None,
                   help="family name for PBO (default: the evolved structural family, else none)")
    p.add_argument("--json", action="store_true",
                   help="print each ValidationReport as one JSON line")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    return fmt.fail("validate", message)


def run(args: argparse.Namespace) -> int:
    from agents.validation.validator import Validator
    from organism.cli.common import config_from
    from organism.cli.runs import RunError

    if (args.rank is not None or args.all) and not args.from_run:
        return _fail("--rank and --all go with --from OUT/evolution.json")
    if args.rank is not None and args.all:
        return _fail("give --rank K or --all, not both")
    if args.trials is not None and args.trials < 1:
        return _fail(f"--trials must be >= 1, got {args.trials}")
    config = config_from(args)
    try:
        jobs = _jobs_from_run(args) if args.from_run else [_job_from_strategy(args, config)]
    except (RunError, ValueError) as exc:
        return _fail(str(exc))
    validator = Validator(config.validation, config.data_dir, config.market.coins)
    if args.from_run:
        _seed_families(validator, _jobs_from_run(args, every=True))
    outcomes = []
    for job in jobs:
        out = _validate(validator, job)
        if out.result is None:
            return _fail(out.report.reasons[0].removeprefix("not validated: "))
        outcomes.append((job, out))
        if args.json:
            from bus.codec import encode

            sys.stdout.write(encode(out.report).decode() + "\n")
        else:
            print_report(out.report, job.data, out.result.seconds, out.result.splits.purge)
        for note in job.notes:
            print(f"warning: {note}", file=sys.stderr)
    if len(outcomes) > 1 and not args.json:
        _print_summary(outcomes)
    return 0 if any(o.report.verdict == "pass" for _, o in outcomes) else 1


def _job_from_strategy(args, config) -> Job:
    from agents.validation.store import StrategyStore
    from organism.cli import runs
    from quant.dsl import DslError, parse_strategy
    from quant.genome import strategy_hash, strategy_id

    store = StrategyStore(config.data_dir / config.validation.store_dir)
    path = Path(args.strategy)
    if path.is_file():
        text = path.read_text()
        try:
            strategy = parse_strategy(text, source=str(path))
        except DslError as exc:
            raise ValueError(str(exc)) from None
        digest = strategy_hash(strategy)
        known = runs.find(config.data_dir, digest)
        sid = runs.header_id(text, digest) or (known.strategy_id if known else None) \
            or strategy_id(strategy, "dsl", 0)
        data = args.data or (known.data if known else None)
        if not data:
            raise ValueError("--data SPEC is needed with a strategy file")
        notes = []
        searched = None
        trials, variance, family = args.trials, args.sharpe_variance, args.family or ""
        if known and known.data == data:
            if trials is None:
                trials = known.trial_count
                variance = variance if variance is not None else known.sharpe_variance
            elif trials < known.trial_count:
                notes.append(
                    f"{sid} was found by the evolve run {known.run_path} among "
                    f"{known.trial_count:,} trials; with --trials {trials} the deflated Sharpe "
                    f"is optimistic. Use `organism validate --from {known.run_path} --rank "
                    f"{known.rank}` (or --trials {known.trial_count})")
            family = args.family if args.family is not None else known.family
            searched = known.searched
        elif trials is None:
            notes.append("no trial count given: the deflated Sharpe assumes this strategy was "
                         "the only one tried (N = 1), the most optimistic case. If it came from "
                         "a search, give --trials N or use --from OUT/evolution.json")
        return Job(sid, text, data, trials, variance, family, notes, searched)
    stored = stored_by_id(store, args.strategy)
    if stored is None:
        raise ValueError(f"{args.strategy!r} is neither a strategy file nor a strategy id in "
                         f"{store.folder}; give a .dsl file (see examples/strategies/)")
    return Job(stored.strategy_id, stored.dsl, args.data or stored.data_spec,
               args.trials if args.trials is not None else stored.trial_count,
               args.sharpe_variance if args.sharpe_variance is not None else stored.sharpe_variance,
               args.family if args.family is not None else stored.family, [])


def stored_by_id(store, sid: str):
    """A stored strategy by id; an id with the same rules under another prefix also counts
    (`gp_4_842dc498` finds `dsl_0_842dc498`: the last part is the rules' hash)."""
    try:
        got = store.get(sid)
    except ValueError:
        return None
    if got is not None:
        return got
    tail = "_" + sid.rsplit("_", 1)[-1]
    same = [i for i in store.ids() if i.endswith(tail)] if "_" in sid else []
    return store.get(same[0]) if len(same) == 1 else None


def _jobs_from_run(args, every: bool = False) -> list[Job]:
    from agents.evolution.runs import family_of
    from organism.cli import runs
    from quant.dsl import parse_strategy

    run = runs.read_run(args.from_run)
    jobs = []
    for m in runs.members(run, args.rank, args.all or every):
        family = args.family if args.family is not None else (
            m.family or family_of(parse_strategy(m.dsl)))
        notes = []
        if args.trials is not None and args.trials < m.trial_count:
            notes.append(f"--trials {args.trials} is below the run's {m.trial_count:,} trials: "
                         f"the deflated Sharpe is optimistic")
        data = args.data or m.data
        jobs.append(Job(m.strategy_id, m.dsl, data,
                        args.trials if args.trials is not None else m.trial_count,
                        args.sharpe_variance if args.sharpe_variance is not None
                        else m.sharpe_variance, family, notes,
                        m.searched if data == m.data else None))
    return jobs


def _seed_families(validator, jobs: list[Job]) -> None:
    """A run's hall-of-fame members of one family are each other's family for PBO (as the
    agent sees them arrive): their full-history returns go in the family book before any is
    judged."""
    from quant.backtest import evaluate
    from quant.data import DataSpecError
    from quant.dsl import parse_strategy

    for job in jobs:
        if not job.family:
            continue
        try:
            ds = validator.dataset(job.data)
        except DataSpecError:
            return  # reported when the job itself runs
        returns = evaluate(parse_strategy(job.dsl), ds, validator.sim).result.returns
        validator.families.add(job.family, job.data, job.strategy_id, returns)


def _validate(validator, job: Job):
    from schemas import BarRange, PerformanceMetrics, StrategyCandidate

    now = time.time_ns()
    searched = None if not job.searched else BarRange(
        start=int(job.searched["start"]), end=int(job.searched["end"]),
        bars=int(job.searched["bars"]))
    cand = StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=job.strategy_id,
        algorithm_type=job.strategy_id.split("_")[0], generation=0,
        genome_hash=job.strategy_id.rsplit("_", 1)[-1], dsl=job.dsl, coin=_coin(job.data),
        interval="", data_spec=job.data, in_sample=PerformanceMetrics(),
        trial_count=job.trials or 1, sharpe_variance=job.variance or 0.0, family=job.family,
        searched=searched)
    return validator.validate(cand, now)


def _coin(spec: str) -> str:
    if spec.startswith("store:"):
        return spec[len("store:"):].partition("/")[0] or "?"
    return spec.partition(":")[0] or "?"


def _print_summary(outcomes) -> None:
    out = fmt.console()
    t = fmt.table(f"{len(outcomes)} strategies validated")
    fmt.key_column(t, "strategy")
    fmt.key_column(t, "verdict")
    for col in ("score", "deflated SR", "OOS Sharpe", "OOS return"):
        fmt.key_column(t, col, right=True)
    for job, o in outcomes:
        gates = {g.gate: g.value for g in o.report.gates}
        oos = next((s.metrics for s in o.report.stages if s.stage == "out_of_sample"), None)
        tone = "green" if o.report.verdict == "pass" else "red"
        t.add_row(job.strategy_id, f"[{tone}]{o.report.verdict.upper()}[/]",
                  f"{o.report.score:.1f}", fmt.pct(gates.get("deflated_sharpe"), sign=False),
                  fmt.num(oos.sharpe) if oos else "n/a",
                  fmt.pct(oos.total_return) if oos else "n/a")
    out.print(t)


def print_report(report, data: str, seconds: float, purge: int) -> None:
    from quant.gauntlet.report import gate_rows, stage_rows

    console = fmt.console()
    trials = f"{report.trial_count:,} trial{'s' if report.trial_count != 1 else ''}"
    console.print(f"[bold]gauntlet of {report.strategy_id}[/] on {data} (purge gap {purge} "
                  f"bars, {seconds:.2f} s, {trials} counted)")
    stages = fmt.table("stages")
    fmt.key_column(stages, "stage")
    for col in ("bars", "Sharpe", "return", "max DD", "trades", "win rate"):
        fmt.key_column(stages, col, right=True)
    for row in stage_rows(report):
        stages.add_row(*row)
    console.print(stages)
    gates = fmt.table("gates")
    fmt.key_column(gates, "gate")
    fmt.key_column(gates, "value", right=True)
    fmt.key_column(gates, "needs", right=True)
    fmt.key_column(gates, "verdict")
    fmt.text_column(gates, "detail")
    colour = {"PASS": "green", "FAIL": "red", "ok": "cyan", "low": "yellow"}
    for row in gate_rows(report):
        row[3] = f"[{colour[row[3]]}]{row[3]}[/]"
        gates.add_row(*row)
    console.print(gates)
    score = fmt.table(f"readiness score {report.score:.1f} / 100")
    fmt.key_column(score, "part")
    fmt.key_column(score, "points", right=True)
    for k, v in report.score_breakdown.items():
        score.add_row(k if "." in k else f"[bold]{k}[/]", f"{v:.1f}")
    console.print(score)
    tone = "green" if report.verdict == "pass" else "red"
    failed = [r for r in gate_rows(report) if "FAIL" in r[3]]
    why = "; ".join(f"{r[0]} {r[1]} (needs {r[2]})" for r in failed) if failed \
        else "; ".join(report.reasons)
    console.print(f"[bold {tone}]{report.verdict.upper()}[/]: {why}", soft_wrap=False)
