"""The `organism` command line: one entry point, subcommands registered by modules.

Each module listed in COMMANDS exposes `register(subparsers)`, which adds its subcommand(s) and
sets `func` (a callable taking the parsed args and returning an exit code) on each parser.
Shared conventions (set here, so every command gets them):
- errors are one line, `organism COMMAND: error: ... (see organism COMMAND --help)`, exit 2; a
  misspelled option is named as unknown (with the closest real one), before any complaint about
  missing required options;
- `--config FILE` is accepted before or after the subcommand;
- every option's help ends with its default (`(default: 30)`) unless it says it already;
- no tracebacks: an unexpected error is one line naming it (ORGANISM_TRACEBACK=1 re-raises).
Formatting helpers for output (times, money, tables, one-line errors) are in organism/cli/fmt.py.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys

# Modules that add subcommands, in the order they appear in `organism --help`.
COMMANDS: tuple[str, ...] = (
    "organism.cli.runtime_cmds",  # up, agent, nats
    "organism.cli.watch_cmds",  # status, tail
    "organism.cli.config_cmd",  # config
    "organism.cli.bench_cmd",  # bench ...
    "organism.cli.sim_cmd",  # sim
    "organism.cli.backtest_cmd",
    "organism.cli.evolve_cmd",  # evolve
    "organism.cli.validate_cmd",  # validate
    "organism.cli.research_cmd",  # research: evolve, then validate the hall of fame
    "organism.cli.report_cmd",  # report
    "organism.cli.data_cmd",
    "organism.cli.sql_cmd",  # sql
    "organism.cli.exec_cmds",  # positions, orders
    "organism.cli.strategy_cmd",  # strategy list/show/add/promote/pause/resume/flatten/retire
    "organism.cli.risk_cmds",  # order, kill, resume
)

CONFIG_HELP = "TOML config file layered over deploy/organism.toml (also $ORGANISM_CONFIG)"


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default at the end of its help (unless the help names it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default is argparse.SUPPRESS or isinstance(action, argparse._HelpAction)
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions and epilogs keep their line breaks: plain lines wrap, indented lines
        are kept as written (tables of terms)."""
        import textwrap

        lines = []
        for line in text.splitlines():
            if line[:1].isspace():  # indented: laid out by hand (a table of terms)
                lines.append(indent + line)
            else:
                lines.append(textwrap.fill(line, width, initial_indent=indent,
                                           subsequent_indent=indent) if line else "")
        return "\n".join(lines)

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and action.option_strings:
            action.help = ""  # listed with its default even without a description
        return super()._format_action(action)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, as the CLI promises."""

    _leaf: _Parser | None = None  # the last (deepest) parser that parsed, for error messages

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kw)

    def parse_known_args(self, args=None, namespace=None):
        self._seen = list(sys.argv[1:] if args is None else args)
        _Parser._leaf = self
        return super().parse_known_args(args, namespace)

    def parse_args(self, args=None, namespace=None):
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            leaf = _Parser._leaf or self
            leaf.error(_unknown(leaf, extras) or f"unrecognized arguments: {' '.join(extras)}")
        return args

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        if message.startswith("the following arguments are required"):
            message = _unknown(self, getattr(self, "_seen", [])) or message
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _unknown(parser: argparse.ArgumentParser, tokens: list[str]) -> str | None:
    """`unknown option --stratgy (did you mean --strategy?)` for the first option-like token
    this parser does not know, or None."""
    known = list(parser._option_string_actions)
    for tok in tokens:
        if tok == "--":
            break
        if not tok.startswith("-") or tok == "-" or _is_number(tok):
            continue
        name = tok.split("=", 1)[0]
        if name in known or (name.startswith("--") and
                             sum(k.startswith(name) for k in known) == 1):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown option {name}{hint}"
    return None


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subparsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="organism",
        description="The organism: a self-regulating trading system for Hyperliquid perpetuals.",
    )
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    for child in _subparsers(parser):  # `organism backtest ... --config FILE` works too
        if "--config" not in child._option_string_actions:
            child.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                               help=CONFIG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `organism ... | head`: the reader left; no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the CLI's last line of defence: one readable line, non-zero exit
        from settings import ConfigError

        if isinstance(exc, ConfigError):
            print(f"organism: configuration error: {exc}", file=sys.stderr)
            return 2
        import os

        if os.environ.get("ORGANISM_TRACEBACK"):
            raise
        command = getattr(args, "command", "") or ""
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            print(f"organism {command}: {exc.strerror or exc}{where}", file=sys.stderr)
            return 1
        print(f"organism {command}: unexpected {type(exc).__name__}: {exc}. This is a bug: "
              f"please report it with the command line (ORGANISM_TRACEBACK=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
