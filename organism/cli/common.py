"""Helpers shared by CLI commands: config loading, the NATS URL to use, `--data` specs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import agents.sections  # noqa: F401  (every config table registered before loading)
from settings import Config, load_config

# What --data takes, for every command's help (marketdata.datasets.load_dataset reads
# them all).
DATA_HELP = ("market data: synthetic[:seed=S,bars=N,interval=1h,edge=SHARPE,mode=noise|edge|"
             "regimes] | planted[:seed=S,bars=N,edge=SHARPE,window=W] | csv:PATH | "
             "store:COIN/INTERVAL[@SOURCE] (the candle store under organism.data_dir: its sources "
             "joined, Hyperliquid's own bars first; @binance or @hyperliquid for one alone)")


def config_from(args: argparse.Namespace) -> Config:
    """The validated config: --config, else $ORGANISM_CONFIG, layered over the defaults."""
    path = getattr(args, "config", None) or os.environ.get("ORGANISM_CONFIG") or None
    return load_config(path)


def nats_url(config: Config, override: str | None = None) -> str:
    return override or config.nats.url or f"nats://{config.nats.host}:{config.nats.port}"


def load_data(args: argparse.Namespace, spec: str):
    """The dataset a `--data` spec names (the config is read only for `store:`, whose files
    live under organism.data_dir). Raises DataSpecError with the fix."""
    from marketdata.datasets import load_dataset

    data_dir = config_from(args).data_dir if spec.startswith("store:") else Path("data")
    return load_dataset(spec, data_dir)


def positive_seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def broker(args: argparse.Namespace, command: str):
    """((config, url), 0) for a command that talks to the running organism, or (None, exit
    code) with the message said when its broker does not answer."""
    from organism.cli import fmt

    config = config_from(args)
    url = nats_url(config, getattr(args, "url", None))
    if not fmt.reachable(url):
        return None, fmt.broker_down(command, url)
    fmt.quiet_logs()
    return (config, url), 0


async def connect_operator(config: Config, url: str, name: str, attempts: int = 1):
    """A Bus connection as the operator user: the data folder's password (the broker refuses
    anonymous connections, bus/permissions.py), anonymous on an open broker."""
    from bus.connection import Bus
    from bus.credentials import operator_options

    return await Bus.connect(operator_options(config, url, name, initial_attempts=attempts))
