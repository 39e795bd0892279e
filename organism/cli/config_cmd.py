"""`organism config`: validate and print the effective configuration (secrets masked)."""

from __future__ import annotations

import argparse
import json

from organism.cli.common import config_from
from settings import SECRET_ENV, load_secrets, to_toml_dict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="validate and print the effective configuration",
        description="Load deploy/organism.toml, --config FILE and ORGANISM__SECTION__KEY "
        "overrides, validate them, and print the result. Secrets print masked.",
    )
    p.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    config = config_from(args)
    secrets = load_secrets()
    out = to_toml_dict(config)
    out["secrets"] = {
        var: ("********" if getattr(secrets, name) else "(not set)")
        for name, var in SECRET_ENV.items()
    }
    print(json.dumps(out, indent=2))
    return 0
