"""The `organism` command line: one entry point, subcommands registered by modules.

Each module listed in COMMANDS exposes `register(subparsers)`, which adds its subcommand(s) and
sets `func` (a callable taking the parsed args and returning an exit code) on each parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that add subcommands, in the order they appear in `organism --help`.
COMMANDS: tuple[str, ...] = (
    "organism.cli.runtime_cmds",  # up, agent, nats, status, tail
    "organism.cli.config_cmd",  # config
    "organism.cli.bench_cmd",  # bench ...
    "organism.cli.sim_cmd",  # sim
    "organism.cli.backtest_cmd",
    "organism.cli.evolve_cmd",  # evolve
    "organism.cli.validate_cmd",  # validate
    "organism.cli.report_cmd",  # report
    "organism.cli.data_cmd",
    "organism.cli.sql_cmd",  # sql
)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, as the CLI promises."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"organism {self.prog.split(' ', 1)[-1]}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="organism",
        description="The organism: a self-regulating trading system for Hyperliquid perpetuals.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file layered over deploy/organism.toml"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's last line of defence: one readable line, non-zero exit
        from settings import ConfigError

        if isinstance(exc, ConfigError):
            print(f"organism: configuration error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
