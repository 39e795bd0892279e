"""`organism data`: the market-data store. Minimal until the lead's status/synth/backfill land;
each subcommand module adds itself (data_import.add_import_parser)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from organism.cli.data_import import add_import_parser

    p = sub.add_parser("data", help="the market-data store: import files",
                       description="Manage the candle store under organism.data_dir.")
    data_sub = p.add_subparsers(dest="data_command", metavar="COMMAND")
    data_sub.required = True
    add_import_parser(data_sub)
