"""`organism report STRATEGY_ID --html FILE`: a self-contained page about one validated strategy."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a validated strategy",
        description="Candles with entries and exits, equity and drawdown across the gauntlet's "
        "stages (boundaries shaded), rolling Sharpe on one time axis; monthly returns, the "
        "trade list, the gate table and the strategy text, in one HTML file that needs no "
        "network.",
    )
    p.add_argument("strategy_id", metavar="STRATEGY_ID",
                   help="a strategy validated before (by the agent or `organism validate`)")
    p.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    from organism.cli import fmt

    return fmt.fail("report", message)


def run(args: argparse.Namespace) -> int:
    from agents.validation.store import StrategyStore
    from marketdata.datasets import load_dataset
    from organism.cli.common import config_from
    from organism.cli.fmt import check_output_file
    from organism.cli.validate_cmd import stored_by_id
    from quant.data import DataSpecError
    from quant.dsl import parse_strategy
    from quant.gauntlet.html import render_report

    problem = check_output_file(args.html, "--html")
    if problem:
        return _fail(problem)
    config = config_from(args)
    store = StrategyStore(config.data_dir / config.validation.store_dir)
    try:
        store.path(args.strategy_id)
    except ValueError as exc:
        return _fail(str(exc))
    stored = stored_by_id(store, args.strategy_id)
    if stored is None or stored.report is None:
        known = store.ids()
        hint = f"; known: {', '.join(known[:10])}" if known else \
            "; validate one first with `organism validate --strategy FILE --data SPEC`"
        return _fail(f"no validated strategy {args.strategy_id!r} in {store.folder}{hint}")
    try:
        dataset = load_dataset(stored.data_spec, config.data_dir)
    except DataSpecError as exc:
        return _fail(str(exc))
    html = render_report(parse_strategy(stored.dsl), stored.dsl, dataset, stored.report,
                         config.validation)
    out = Path(args.html)
    out.write_text(html, encoding="utf-8")
    same = "" if stored.strategy_id == args.strategy_id else \
        f" (validated as {stored.strategy_id}: the same rules)"
    print(f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB){same}")
    return 0
