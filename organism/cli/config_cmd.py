"""`organism config`: validate and print the effective configuration (secrets masked).

Default output is JSON (for scripts); `--toml` prints TOML that `--config` accepts back (every
key, so the file pins today's defaults too), and `--explain` says after each key where its value
came from: the default file, the --config file, an ORGANISM__* variable or the built-in default.
"""

from __future__ import annotations

import argparse
import json
import math
import re

from organism.cli.common import config_from
from settings import SECRET_ENV, load_secrets, to_toml_dict

BUILT_IN = "built-in default"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="validate and print the effective configuration",
        description="Load deploy/organism.toml, --config FILE and ORGANISM__SECTION__KEY "
        "overrides, validate them, and print the result (JSON by default). Secrets print "
        "masked.",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--toml", action="store_true",
                     help="print TOML that --config accepts (every key, today's values)")
    how.add_argument("--explain", action="store_true",
                     help="print TOML with where each value came from after it")
    p.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    import os

    from settings import load_config

    origin: dict[str, str] = {}
    path = getattr(args, "config", None) or os.environ.get("ORGANISM_CONFIG") or None
    config = load_config(path, origin_out=origin) if (args.toml or args.explain) \
        else config_from(args)
    secrets = load_secrets()
    masked = {var: ("********" if getattr(secrets, name) else "(not set)")
              for name, var in SECRET_ENV.items()}
    data = to_toml_dict(config)
    if not (args.toml or args.explain):
        print(json.dumps({**data, "secrets": masked}, indent=2))
        return 0
    head = ["# organism configuration: every key with the value in force",
            "# secrets come only from the environment: "
            + ", ".join(f"{k} {v}" for k, v in masked.items())]
    print("\n".join(head + [""] + to_toml(data, origin if args.explain else None)).rstrip())
    return 0


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()
                                if x is not None) + " }"
    return json.dumps(str(v))


def _is_table_array(v) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(data: dict, origin: dict[str, str] | None = None) -> list[str]:
    """TOML lines for nested plain data (tables, arrays of tables, scalars and lists); with
    `origin`, each key ends with `# <where its value came from>`. None values (TOML has no
    null) are written as comments."""
    lines: list[str] = []

    def where(dotted: str) -> str:
        if origin is None:
            return ""
        src = origin.get(dotted)
        if src is None:  # set as part of a table (inline or array) by a layer
            parent = dotted
            while "." in parent and src is None:
                parent = parent.rsplit(".", 1)[0]
                src = origin.get(parent)
        return f"  # {src or BUILT_IN}"

    def table(prefix: str, body: dict, header: bool) -> None:
        plain = {k: v for k, v in body.items() if not isinstance(v, dict)
                 and not _is_table_array(v)}
        if header:
            lines.append(f"[{prefix}]")
        for k, v in plain.items():
            dotted = f"{prefix}.{k}" if prefix else k
            if v is None:
                lines.append(f"# {_key(k)} is not set{where(dotted)}")
            else:
                lines.append(f"{_key(k)} = {_value(v)}{where(dotted)}")
        if header or plain:
            lines.append("")
        for k, v in body.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                # a table of scalars only is written as a table; an empty one too, so the
                # section shows
                table(name, v, True)
            elif _is_table_array(v):
                dotted = f"{prefix}.{k}" if prefix else k
                for item in v:
                    lines.append(f"[[{name}]]")
                    for ik, iv in item.items():
                        if iv is not None:
                            lines.append(f"{_key(ik)} = {_value(iv)}{where(dotted)}")
                    lines.append("")

    table("", data, False)
    return lines
