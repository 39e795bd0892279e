"""`organism bench NAME`: benchmarks that print JSON. Speed targets live here, never in tests."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# Each module exposes NAME, HELP, add_arguments(parser) and run(args) -> dict (JSON-able).
BENCHES: tuple[str, ...] = (
    "organism.bench.bus",
    "organism.bench.feed",
    "organism.bench.backtest",
    "organism.bench.evolution",
    "organism.bench.discovery",
    "organism.bench.orderpath",
    "organism.bench.trader",
)


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="run a benchmark and print its figures as JSON")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=type(bench))
    bench_sub.required = True
    for name in BENCHES:
        module = importlib.import_module(name)
        p = bench_sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        p.add_argument("--json", action="store_true", help="print only the JSON result")
        module.add_arguments(p)
        p.set_defaults(func=_runner(module))


def _runner(module):
    def run(args: argparse.Namespace) -> int:
        result = module.run(args)
        text = json.dumps(result, indent=None if args.json else 2, sort_keys=True)
        sys.stdout.write(text + "\n")
        return 0

    return run
