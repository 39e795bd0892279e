"""`organism validate`: one strategy through the gauntlet, printed as tables (or JSON)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="run a strategy through the validation gauntlet and print every stage and gate",
        description="The gauntlet: in-sample / out-of-sample / walk-forward with purge gaps, "
        "deflated Sharpe with the true trial count, PBO of the family, minimum backtest length, "
        "the look-ahead truncation check, cross-market robustness and the readiness score. "
        "The result is kept under {data_dir}/strategies/ for `organism report`.",
    )
    p.add_argument("--strategy", required=True, metavar="FILE|ID",
                   help="a strategy file (.dsl) or the id of a strategy validated before")
    p.add_argument("--data", metavar="SPEC",
                   help="synthetic[:seed=S,bars=N,...] | csv:PATH | store:COIN/INTERVAL "
                   "(default for an ID: the data it was validated on)")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="distinct strategies the search tried on this data (default 1, or the "
                   "stored count for an ID)")
    p.add_argument("--sharpe-variance", type=float, default=None, metavar="V",
                   help="variance of per-bar Sharpe across those trials (default: null 1/(T-1))")
    p.add_argument("--family", default=None, help="family name for PBO (default none)")
    p.add_argument("--json", action="store_true", help="print the ValidationReport as JSON")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"organism validate: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from agents.validation.store import StrategyStore
    from agents.validation.validator import Validator
    from organism.cli.common import config_from
    from quant.dsl import DslError, parse_strategy
    from quant.genome import strategy_id
    from schemas import PerformanceMetrics, StrategyCandidate

    config = config_from(args)
    store = StrategyStore(config.data_dir / config.validation.store_dir)
    path = Path(args.strategy)
    family = args.family or ""
    trials, variance = args.trials, args.sharpe_variance
    if path.is_file():
        text = path.read_text()
        try:
            sid = strategy_id(parse_strategy(text, source=str(path)), "dsl", 0)
        except DslError as exc:
            return _fail(str(exc))
        if not args.data:
            return _fail("--data SPEC is needed with a strategy file")
        data = args.data
    else:
        try:
            stored = store.get(args.strategy)
        except ValueError:
            stored = None
        if stored is None:
            return _fail(f"{args.strategy!r} is neither a strategy file nor a strategy id in "
                         f"{store.folder}; give a .dsl file (see examples/strategies/)")
        sid, text, data = stored.strategy_id, stored.dsl, args.data or stored.data_spec
        family = args.family if args.family is not None else stored.family
        trials = trials if trials is not None else stored.trial_count
        variance = variance if variance is not None else stored.sharpe_variance
    if trials is not None and trials < 1:
        return _fail(f"--trials must be >= 1, got {trials}")
    now = time.time_ns()
    cand = StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=sid, algorithm_type=sid.split("_")[0],
        generation=0, genome_hash=sid.rsplit("_", 1)[-1], dsl=text, coin=_coin(data),
        interval="", data_spec=data, in_sample=PerformanceMetrics(), trial_count=trials or 1,
        sharpe_variance=variance or 0.0, family=family)
    validator = Validator(config.validation, config.data_dir, config.market.coins)
    out = validator.validate(cand, now)
    if out.result is None:
        return _fail(out.report.reasons[0].removeprefix("not validated: "))
    if args.json:
        from bus.codec import encode

        sys.stdout.write(encode(out.report).decode() + "\n")
    else:
        print_report(out.report, data, out.result.seconds, out.result.splits.purge)
    return 0


def _coin(spec: str) -> str:
    if spec.startswith("store:"):
        return spec[len("store:"):].partition("/")[0] or "?"
    return spec.partition(":")[0] or "?"


def print_report(report, data: str, seconds: float, purge: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from quant.gauntlet.report import gate_rows, stage_rows

    console = Console()
    stages = Table(title=f"gauntlet of {report.strategy_id} on {data} "
                   f"(purge gap {purge} bars, {seconds:.2f} s)")
    for col, just in (("stage", "left"), ("bars", "right"), ("Sharpe", "right"),
                      ("return", "right"), ("max DD", "right"), ("trades", "right"),
                      ("win rate", "right")):
        stages.add_column(col, justify=just)
    for row in stage_rows(report):
        stages.add_row(*row)
    console.print(stages)
    gates = Table(title="gates")
    for col in ("gate", "value", "threshold", "verdict", "detail"):
        gates.add_column(col, overflow="fold")
    colour = {"PASS": "green", "FAIL": "red", "ok": "cyan", "low": "yellow"}
    for row in gate_rows(report):
        row[3] = f"[{colour[row[3]]}]{row[3]}[/]"
        gates.add_row(*row)
    console.print(gates)
    score = Table(title=f"readiness score {report.score:.1f} / 100")
    score.add_column("part")
    score.add_column("points", justify="right")
    for k, v in report.score_breakdown.items():
        score.add_row(k if "." in k else f"[bold]{k}[/]", f"{v:.1f}")
    console.print(score)
    tone = "green" if report.verdict == "pass" else "red"
    console.print(f"[bold {tone}]{report.verdict.upper()}[/]: " + "; ".join(report.reasons))
