"""Loading the configuration: typed structs, one default file, a user file, environment overrides.

Layers, later wins: the struct defaults, `deploy/organism.toml`, `--config FILE`, then environment
variables `ORGANISM__SECTION__KEY=value` (values parsed as TOML literals, else taken as strings).
Everything is validated at start: an unknown key or a bad value raises ConfigError naming the key,
the value, where it came from and what is allowed.

Sections beyond the shared ones (settings/sections.py) are registered from below: a package or an
agent defines its table beside its code and calls `register_section(name, Struct)` when its module
is imported (`agents.sections` imports them all). `config_class()` is `Config` plus every
registered section, and `load_config` returns an instance of it.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from settings.secrets import SECRET_ENV, SECRET_WORDS
from settings.sections import Config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = PROJECT_ROOT / "deploy" / "organism.toml"
ENV_PREFIX = "ORGANISM__"


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who has to fix it."""


# --- sections registered from below -------------------------------------------------------------
_SECTIONS: dict[str, type] = {}
_RENAMED: dict[str, str] = {}
_CLASSES: dict[tuple[tuple[str, type], ...], type] = {}


def register_section(name: str, section: type) -> type:
    """Add the table `[name]` (a msgspec Struct whose fields all have defaults) to the config.
    Registering the same struct twice is harmless; another struct under a taken name is a bug."""
    if name in Config.__struct_fields__:
        raise ValueError(f"config section {name!r} is one of the shared sections")
    held = _SECTIONS.get(name)
    if held is not None and held is not section:
        raise ValueError(f"config section {name!r} is registered already by {held.__module__}")
    _SECTIONS[name] = section
    return section


def register_renamed(old_key: str, hint: str) -> None:
    """A key that no longer exists: the error for it says `hint` (what to use instead)."""
    _RENAMED[old_key] = hint


def registered_sections() -> dict[str, type]:
    return dict(_SECTIONS)


def config_class() -> type[Config]:
    """`Config` with every section registered so far (cached per set of sections)."""
    key = tuple(_SECTIONS.items())
    cls = _CLASSES.get(key)
    if cls is None:
        fields = [(name, tp, msgspec.field(default_factory=tp)) for name, tp in key]
        cls = msgspec.defstruct(
            "Config", fields, bases=(Config,), frozen=True, kw_only=True,
            forbid_unknown_fields=True, module=__name__,
        )
        _CLASSES[key] = cls
    return cls  # type: ignore[return-value]


def default_config(**sections: Any) -> Config:
    """The built-in defaults with the given sections replaced (tests, benchmarks)."""
    return config_class()(**sections)


# --- loading ----------------------------------------------------------------------------------
def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    default_file: Path | None = DEFAULT_FILE,
    origin_out: dict[str, str] | None = None,
) -> Config:
    """Build the validated Config from the layers; raise ConfigError on the first bad key.
    `origin_out`, when given, receives where each key set by a layer came from (dotted key ->
    the file's path or `environment variable ORGANISM__...`); keys absent from it hold the
    struct's built-in default."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if default_file is not None and default_file.exists():
        _merge(merged, _read_toml(default_file), str(default_file), origin)
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {str(p)!r} does not exist: check the --config path")
        _merge(merged, _read_toml(p), str(p), origin)
    _merge_env(merged, env, origin)
    _refuse_secrets(merged, origin)
    cls = config_class()
    if origin_out is not None:
        origin_out.update(origin)
    try:
        return msgspec.convert(merged, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), merged, origin, cls)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _merge(into: dict, new: Mapping, source: str, origin: dict[str, str], prefix: str = "") -> None:
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, source, origin, dotted + ".")
        else:
            into[key] = _plain(value)
            _mark(origin, dotted, value, source)


def _mark(origin: dict[str, str], dotted: str, value: Any, source: str) -> None:
    origin[dotted] = source
    if isinstance(value, Mapping):
        for k, v in value.items():
            _mark(origin, f"{dotted}.{k}", v, source)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _merge_env(merged: dict, env: Mapping[str, str], origin: dict[str, str]) -> None:
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX) :].split("__")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"environment variable {var} does not name a config key: use "
                "ORGANISM__SECTION__KEY, for example ORGANISM__NATS__PORT=4333"
            )
        node = merged
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {var}: {part!r} is not a config section")
        node[parts[-1]] = _parse_env_value(env[var])
        origin[".".join(parts)] = f"environment variable {var}"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _refuse_secrets(merged: dict, origin: dict[str, str], prefix: str = "") -> None:
    for key, value in merged.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _refuse_secrets(value, origin, dotted + ".")
        elif SECRET_WORDS.search(key) and not key.endswith(("_file", "_env")):
            raise ConfigError(
                f"config key {dotted} (from {origin.get(dotted, '?')}) looks like a secret: "
                "secrets are read only from the environment ("
                + ", ".join(SECRET_ENV.values())
                + "); remove the key"
            )


_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _explain(message: str, merged: dict, origin: dict[str, str], cls: type) -> str:
    match = _PATH.search(message)
    path = match.group("path") if match else ""
    what = message[: match.start()] if match else message
    dotted = re.sub(r"\[(\d+)\]", r"[\1]", path.lstrip("."))
    unknown = re.match(r"Object contains unknown field `(?P<field>[^`]+)`", what)
    if unknown:
        key = f"{dotted}.{unknown.group('field')}" if dotted else unknown.group("field")
        if key in _RENAMED:
            return f"config key {key} (from {_origin_of(origin, key)}) is no longer used: {_RENAMED[key]}"
        allowed = _allowed_keys(cls, dotted)
        return (
            f"unknown config key {key} (from {_origin_of(origin, key)}); "
            f"allowed keys here: {', '.join(allowed)}"
        )
    value = _lookup(merged, dotted)
    base_key = re.sub(r"\[\d+\]$", "", dotted)
    allowed = _allowed_values(cls, base_key)
    hint = f"; allowed: {allowed}" if allowed else ""
    return (
        f"bad value for config key {dotted} = {value!r} (from {origin.get(base_key, '?')}): "
        f"{what}{hint}"
    )


def _origin_of(origin: dict[str, str], key: str) -> str:
    if key in origin:
        return origin[key]
    inner = [src for k, src in origin.items() if k.startswith(key + ".")]
    return inner[0] if inner else "?"


def _section_type(cls: type, dotted: str) -> Any:
    node: Any = cls
    for part in [p for p in dotted.split(".") if p]:
        hints = typing.get_type_hints(node, include_extras=True)
        node = hints.get(re.sub(r"\[\d+\]$", "", part))
        while typing.get_origin(node) is Annotated:
            node = typing.get_args(node)[0]
        if node is None:
            return None
    return node


def _allowed_keys(cls: type, dotted: str) -> list[str]:
    node = _section_type(cls, dotted)
    return list(getattr(node, "__struct_fields__", ()))


def _allowed_values(cls: type, dotted: str) -> str:
    node = _section_type(cls, dotted)
    while typing.get_origin(node) in (list, Annotated):
        node = typing.get_args(node)[0]
    if typing.get_origin(node) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(node))
    return ""


def _lookup(merged: dict, dotted: str) -> Any:
    node: Any = merged
    for part in [p for p in dotted.split(".") if p]:
        m = re.match(r"^(?P<k>[^\[]+)(\[(?P<i>\d+)\])?$", part)
        if not m or not isinstance(node, dict):
            return None
        node = node.get(m.group("k"))
        if m.group("i") is not None and isinstance(node, list):
            idx = int(m.group("i"))
            node = node[idx] if idx < len(node) else None
    return node


def to_toml_dict(config: Config) -> dict[str, Any]:
    """The effective config as plain data (for `organism config`); holds no secrets by design."""
    return msgspec.to_builtins(config)
