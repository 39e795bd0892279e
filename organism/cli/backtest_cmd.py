"""`organism backtest`: run one strategy file over a dataset and print its metrics."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a strategy file (S-expression DSL) and print its metrics",
        description="Backtest a strategy: signals at each close, fills at the next open, "
        "Hyperliquid taker fees, slippage and funding.",
    )
    p.add_argument("--strategy", required=True, metavar="FILE", help="strategy file (.dsl)")
    p.add_argument("--data", required=True, metavar="SPEC",
                   help="synthetic[:seed=S,bars=N] | csv:PATH | store:COIN/INTERVAL")
    p.add_argument("--fees-bps", type=float, default=None, metavar="X",
                   help="fee per fill in basis points (default 4.5, Hyperliquid taker)")
    p.add_argument("--slippage-bps", type=float, default=None, metavar="X",
                   help="slippage per fill in basis points (default 1.0)")
    p.add_argument("--funding-per-hour", type=float, default=None, metavar="RATE",
                   help="constant hourly funding rate when the data has none (default 1.25e-5)")
    p.add_argument("--max-leverage", type=float, default=None, metavar="X",
                   help="cap on notional / equity at entry (default 3)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--equity-csv", metavar="FILE", help="write time, equity, return, position")
    p.set_defaults(func=run)


def _data_dir(args: argparse.Namespace) -> Path:
    from organism.cli.common import config_from

    return config_from(args).data_dir


def _fail(message: str) -> int:
    print(f"organism backtest: {message}", file=sys.stderr)
    return 2


def _jsonable(x):
    return x if not isinstance(x, float) or math.isfinite(x) else None


def run(args: argparse.Namespace) -> int:
    from quant.backtest import evaluate
    from quant.data import DataSpecError, load_dataset
    from quant.dsl import DslError, parse_strategy
    from quant.genome import strategy_hash
    from quant.sim import SimConfig

    path = Path(args.strategy)
    if not path.is_file():
        return _fail(f"strategy file {str(path)!r} not found; give a .dsl file "
                     f"(see examples/strategies/)")
    try:
        strategy = parse_strategy(path.read_text(), source=str(path))
    except DslError as exc:
        return _fail(str(exc))
    try:
        data_dir = _data_dir(args) if args.data.startswith("store:") else Path("data")
        dataset = load_dataset(args.data, data_dir)
    except DataSpecError as exc:
        return _fail(str(exc))
    overrides = {
        k: v for k, v in (("fee_bps", args.fees_bps), ("slippage_bps", args.slippage_bps),
                          ("funding_per_hour", args.funding_per_hour),
                          ("max_leverage", args.max_leverage)) if v is not None
    }
    for key, value in overrides.items():
        if not math.isfinite(value) or value < 0:
            return _fail(f"--{key.replace('_', '-')} must be a finite number >= 0, got {value}")
    config = SimConfig(**overrides)
    ev = evaluate(strategy, dataset, config)
    metrics = {k: _jsonable(v) for k, v in ev.metrics.items()}
    metrics["strategy_hash"] = strategy_hash(strategy)
    metrics["data"] = dataset.name or args.data
    if args.equity_csv:
        _write_equity(Path(args.equity_csv), dataset, ev.result)
    if args.json:
        sys.stdout.write(json.dumps(metrics, sort_keys=True) + "\n")
    else:
        _print_table(metrics, path.name)
    return 0


def _write_equity(path: Path, dataset, result) -> None:
    import numpy as np

    table = np.column_stack([dataset.time_ms, result.equity, result.returns, result.position])
    np.savetxt(path, table, delimiter=",", header="time_ms,equity,return,position",
               comments="", fmt=["%d", "%.10g", "%.10g", "%.10g"])


def _print_table(metrics: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"backtest {title} on {metrics['data']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key in ("data",):
            continue
        text = "n/a" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    Console().print(table)
