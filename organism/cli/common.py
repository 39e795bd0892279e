"""Helpers shared by CLI commands: config loading and the NATS URL to use."""

from __future__ import annotations

import argparse
import os

import agents.sections  # noqa: F401  (every config table registered before loading)
from settings import Config, load_config


def config_from(args: argparse.Namespace) -> Config:
    """The validated config: --config, else $ORGANISM_CONFIG, layered over the defaults."""
    path = getattr(args, "config", None) or os.environ.get("ORGANISM_CONFIG") or None
    return load_config(path)


def nats_url(config: Config, override: str | None = None) -> str:
    return override or config.nats.url or f"nats://{config.nats.host}:{config.nats.port}"
