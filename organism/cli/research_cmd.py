"""`organism research`: the offline pipeline in one command, evolve then validate.

It breeds strategies exactly as `organism evolve` does (OUT/evolution.json, OUT/strategies/*.dsl,
the run index), then puts every hall-of-fame member through the gauntlet exactly as `organism
validate --from OUT/evolution.json --all` does: with the run's true trial count, its Sharpe
variance and the structural families (a family's members are each other's PBO family). It prints
what the history supports, what passed and why the rest failed, and writes each strategy's
report as a self-contained HTML page. Nothing is carried by hand from one step to the next.

Exit codes: 0 at least one strategy passed, 1 none did, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from organism.cli import fmt

EPILOG = """\
Exit status: 0 when at least one strategy passes, 1 when none does, 2 for a usage error.
Each step is the command of its own name: organism evolve (see its --help for the hall of
fame's columns), then organism validate --from OUT/evolution.json --all, then organism
report for each strategy. The validated strategies are kept under {data_dir}/strategies/,
so organism report ID and organism strategy add work on them afterwards."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "research",
        help="evolve, then validate the hall of fame with the run's true trial count (offline)",
        description="The offline research pipeline: breed strategies on --data (the first "
        "60 % of it), validate every hall-of-fame member through the gauntlet with the run's "
        "trial count, Sharpe variance and families, print what passed and why the rest failed, "
        "and write an HTML report of each.",
        epilog=EPILOG,
    )
    from organism.cli.evolve_cmd import add_breeding_arguments

    add_breeding_arguments(p, out="research-out", kept="kept, and validated")
    p.add_argument("--html", default=None, metavar="DIR",
                   help="folder for the HTML reports, one ID.html each (default: OUT/reports)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the run, and each strategy's verdict, reasons "
                   "and report page")
    p.set_defaults(func=run)


def _fail(message: str, code: int = 2) -> int:
    return fmt.fail("research", message, code)


def _evolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """`organism evolve`'s own arguments, its defaults included, for this run."""
    from organism.cli.main import build_parser

    argv = ["evolve", "--data", args.data, "--generations", str(args.generations),
            "--population", str(args.population), "--islands", str(args.islands),
            "--seed", str(args.seed), "--hall-of-fame", str(args.hall_of_fame),
            "--out", args.out]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    if args.quiet or args.json:
        argv.append("--quiet")
    if getattr(args, "config", None):
        argv += ["--config", args.config]
    ns = build_parser().parse_args(argv)
    ns.print_hall = False
    return ns


def _validate_args(path: Path, args: argparse.Namespace) -> argparse.Namespace:
    """`organism validate --from PATH --all`'s arguments: everything from the run."""
    return argparse.Namespace(from_run=str(path), rank=None, all=True, data=None, trials=None,
                              sharpe_variance=None, family=None, json=False,
                              config=getattr(args, "config", None))


def run(args: argparse.Namespace) -> int:
    from agents.validation.validator import Validator
    from organism.cli import evolve_cmd, validate_cmd
    from organism.cli.common import config_from
    from organism.cli.runs import RunError

    html_dir = Path(args.html) if args.html else Path(args.out) / "reports"
    problem = fmt.check_output_dir(args.out, "--out") or fmt.check_output_dir(html_dir, "--html")
    if problem:
        return _fail(problem)
    code = evolve_cmd.run(_evolve_args(args))  # its progress and warnings go to stderr
    if code:
        return code  # evolve said why, as `organism research`'s own step
    path = Path(args.out) / "evolution.json"
    evolution = json.loads(path.read_text())
    config = config_from(args)
    vargs = _validate_args(path, args)
    try:
        jobs = validate_cmd._jobs_from_run(vargs)
    except (RunError, ValueError) as exc:
        return _fail(str(exc))
    validator = Validator(config.validation, config.data_dir, config.market.coins)
    validate_cmd._seed_families(validator, jobs)
    outcomes = []
    for job in jobs:
        if not args.quiet and not args.json:
            print(f"validating {job.strategy_id} ({len(outcomes) + 1} of {len(jobs)})",
                  file=sys.stderr)
        # one that cannot be run (too little history after its purge gap ...) fails with
        # that reason; the others are still judged
        outcomes.append((job, validate_cmd._validate(validator, job)))
    html_dir.mkdir(parents=True, exist_ok=True)
    pages = _write_pages(outcomes, html_dir, config.validation)
    if args.json:
        _print_json(evolution, path, outcomes, pages)
    else:
        _print_summary(evolution, path, outcomes, pages, html_dir)
    return 0 if any(o.report.verdict == "pass" for _, o in outcomes) else 1


def _write_pages(outcomes, folder: Path, vconfig) -> dict[str, Path]:
    from quant.dsl import parse_strategy
    from quant.gauntlet.html import render_report

    pages = {}
    for job, out in outcomes:
        if out.result is None:  # not validated: no run to draw
            continue
        page = folder / f"{job.strategy_id}.html"
        page.write_text(render_report(parse_strategy(job.dsl), job.dsl, out.dataset, out.report,
                                      vconfig), encoding="utf-8")
        pages[job.strategy_id] = page
    return pages


def _why(report) -> list[str]:
    """A failed strategy's reasons as a trader reads them, most decisive first: each failed
    gate's value beside what it needs, in reading units; a gate whose reason is a sentence
    (the history's) as that sentence."""
    from quant.gauntlet.report import gate_rows

    plain = {r.split(": ", 1)[0]: r.split(": ", 1)[1] for r in report.reasons if ": " in r}
    out = []
    for gate, value, needs, verdict, _ in gate_rows(report):
        if verdict != "FAIL":
            continue
        out.append(plain[gate] if gate in plain else f"{gate} {value} (needs {needs})")
    return out or list(report.reasons)


def _shared(whys: list[list[str]]) -> list[str]:
    """Reasons every failed strategy gives (the history's, usually): said once."""
    if len(whys) < 2:
        return []
    return [r for r in whys[0] if all(r in w for w in whys[1:])]


def _print_summary(evolution: dict, path: Path, outcomes, pages, html_dir: Path) -> None:
    import textwrap

    from organism.cli import validate_cmd

    out = fmt.console()

    def say(text: str = "", indent: str = "") -> None:
        wrapped = textwrap.fill(text, 80, initial_indent=indent, subsequent_indent=indent + "  ",
                                break_long_words=False, break_on_hyphens=False) if text else ""
        out.print(wrapped, markup=False, highlight=False, soft_wrap=True)

    say(f"bred on {evolution['data']}: {evolution['trial_count']:,} strategies tried over "
        f"{evolution['generations']} generations; {len(outcomes)} in the hall of fame, "
        f"written to {path}")
    if evolution.get("history_support"):
        say(f"history: {evolution['history_support']}")
    say()
    validate_cmd._print_summary(outcomes)
    passed = [(j, o) for j, o in outcomes if o.report.verdict == "pass"]
    failed = [(j, o) for j, o in outcomes if o.report.verdict != "pass"]
    if passed:
        say()
        say(f"passed ({len(passed)}), ready for paper trading (organism strategy add FILE):")
        for job, o in passed:
            say(f"{job.strategy_id}: readiness score {o.report.score:.1f} / 100", "  ")
            for line in job.dsl.strip().splitlines():
                out.print("    " + line, markup=False, highlight=False, soft_wrap=True)
    else:
        say()
        say("nothing passed: no strategy here is ready for paper trading")
    if failed:
        whys = [_why(o.report) for _, o in failed]
        shared = _shared(whys)
        say()
        say(f"why {'the rest' if passed else 'they'} failed ({len(failed)}):")
        for r in shared:
            say(f"every one: {r}", "  ")
        for (job, _), why in zip(failed, whys):
            own = [r for r in why if r not in shared]
            if not own:
                say(f"{job.strategy_id}: only the above", "  ")
                continue
            more = f"; and {len(own) - 2} more" if len(own) > 2 else ""
            say(f"{job.strategy_id}: {'; '.join(own[:2])}{more}", "  ")
    say()
    say(f"reports: {html_dir}/ID.html, one per strategy ({len(pages)} written); every gate "
        f"of one: organism validate --from {path} --rank K")


def _print_json(evolution: dict, path: Path, outcomes, pages) -> None:
    results = []
    for job, o in outcomes:
        r = o.report
        results.append({
            "strategy_id": job.strategy_id, "verdict": r.verdict, "score": r.score,
            "reasons": list(r.reasons), "trial_count": r.trial_count, "family": job.family,
            "gates": {g.gate: {"value": g.value, "threshold": g.threshold, "passed": g.passed}
                      for g in r.gates},
            "html": str(pages[job.strategy_id]) if job.strategy_id in pages else None,
            "dsl": job.dsl,
        })
    keys = ("data", "trial_count", "sharpe_variance", "generations", "history_years",
            "min_btl_years", "supported_trials", "history_support")
    print(json.dumps({"evolution": str(path), **{k: evolution.get(k) for k in keys},
                      "passed": sum(r["verdict"] == "pass" for r in results),
                      "results": results}))
