"""`organism report STRATEGY_ID --html FILE`: a self-contained page about one validated strategy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a validated strategy",
        description="Candles with entries and exits, equity and drawdown across the gauntlet's "
        "stages (boundaries shaded), rolling Sharpe, monthly returns, the gate table and the "
        "strategy text, in one HTML file that needs no network.",
    )
    p.add_argument("strategy_id", metavar="STRATEGY_ID",
                   help="a strategy validated before (by the agent or `organism validate`)")
    p.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"organism report: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from agents.validation.store import StrategyStore
    from organism.cli.common import config_from
    from marketdata.datasets import DataSpecError, load_dataset
    from quant.dsl import parse_strategy
    from quant.gauntlet.html import render_report

    config = config_from(args)
    store = StrategyStore(config.data_dir / config.validation.store_dir)
    try:
        stored = store.get(args.strategy_id)
    except ValueError as exc:
        return _fail(str(exc))
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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"wrote {out} ({len(html) // 1024} KiB)")
    return 0
