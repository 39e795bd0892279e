"""Configuration: typed structs, one default file, a user file, environment overrides.

Layers, later wins: the struct defaults, `deploy/organism.toml`, `--config FILE`, then environment
variables `ORGANISM__SECTION__KEY=value` (values parsed as TOML literals, else taken as strings).
Everything is validated at start: an unknown key or a bad value raises ConfigError naming the key,
the value, where it came from and what is allowed. Secrets are never in files: they come only from
the environment (see `Secrets`) and print masked.
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

from agents.evolution.config import EvolutionConfig
from agents.market_data.config import MarketDataConfig
from quant.gauntlet.config import ValidationConfig
from venue.config import SimConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = PROJECT_ROOT / "deploy" / "organism.toml"
ENV_PREFIX = "ORGANISM__"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class OrganismSection(_Section):
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "data"
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    procfile: str = "Procfile"


class NatsSection(_Section):
    url: str = ""  # empty: start the embedded broker on host:port
    host: str = "127.0.0.1"
    port: Port = 4222
    connect_timeout_s: PositiveSeconds = 2.0
    request_timeout_s: PositiveSeconds = 5.0
    reconnect_wait_s: PositiveSeconds = 1.0
    drain_timeout_s: PositiveSeconds = 10.0
    creds_file: str = ""  # NATS credentials file for per-agent users (see deploy/nats/)


class JetStreamSection(_Section):
    duplicate_window_s: PositiveSeconds = 120.0
    max_age_days: PositiveSeconds = 30.0
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    ack_wait_s: PositiveSeconds = 30.0
    provision: bool = True  # agents create/update streams at start; false where only admin may


class MetricsSection(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    base_port: Port = 9400  # agent k of AGENT_PORT_ORDER listens on base_port + k; 0 = any free


class HeartbeatSection(_Section):
    interval_s: PositiveSeconds = 2.0


class ClockSection(_Section):
    source: Literal["wall", "replay"] = "wall"


class VenueSection(_Section):
    network: Literal["sim", "testnet", "mainnet"] = "sim"
    account_address: str = ""  # public address; the key itself comes from ORGANISM_SECRET_KEY
    sim: SimConfig = msgspec.field(default_factory=SimConfig)


class SupervisorSection(_Section):
    restart_backoff_initial_s: PositiveSeconds = 1.0
    restart_backoff_max_s: PositiveSeconds = 30.0
    stable_after_s: PositiveSeconds = 60.0
    stop_timeout_s: PositiveSeconds = 10.0
    # CPU priority of agent processes (nice 0..19; higher yields more), applied by `organism
    # agent NAME` and inherited by the agent's worker processes. Research that can use every
    # core (evolution, its evaluators, validation) must not slow market data, risk or execution.
    nice: dict[str, Annotated[int, msgspec.Meta(ge=0, le=19)]] = msgspec.field(
        default_factory=lambda: {"evolution": 10, "evaluator": 10, "validation": 5})


class RecorderSection(_Section):
    database: str = "warehouse.duckdb"  # relative to organism.data_dir
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    query_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # sys.warehouse.query limit


Interval = Literal[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"
]


class MarketSection(_Section):
    coins: list[Annotated[str, msgspec.Meta(pattern=r"^[^\s.*>]+$")]] = msgspec.field(
        default_factory=lambda: ["BTC", "ETH"]
    )
    intervals: list[Interval] = msgspec.field(default_factory=lambda: ["1h"])


class Config(_Section):
    organism: OrganismSection = msgspec.field(default_factory=OrganismSection)
    nats: NatsSection = msgspec.field(default_factory=NatsSection)
    jetstream: JetStreamSection = msgspec.field(default_factory=JetStreamSection)
    metrics: MetricsSection = msgspec.field(default_factory=MetricsSection)
    heartbeat: HeartbeatSection = msgspec.field(default_factory=HeartbeatSection)
    clock: ClockSection = msgspec.field(default_factory=ClockSection)
    venue: VenueSection = msgspec.field(default_factory=VenueSection)
    supervisor: SupervisorSection = msgspec.field(default_factory=SupervisorSection)
    recorder: RecorderSection = msgspec.field(default_factory=RecorderSection)
    market: MarketSection = msgspec.field(default_factory=MarketSection)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    evolution: EvolutionConfig = msgspec.field(default_factory=EvolutionConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.organism.data_dir).expanduser().resolve()


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who has to fix it."""


# --- secrets ----------------------------------------------------------------------------------
SECRET_ENV = {
    "secret_key": "ORGANISM_SECRET_KEY",  # the Hyperliquid trading (API wallet) private key
    "nats_token": "ORGANISM_NATS_TOKEN",
    "nats_password": "ORGANISM_NATS_PASSWORD",
}
_SECRET_WORDS = re.compile(r"(secret|private|password|passwd|token|api_key|mnemonic|seed_phrase)")


class Secret:
    """A value that prints as `********` everywhere; `.reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a child process or a file
        raise TypeError("a Secret cannot be pickled")


class Secrets(msgspec.Struct, frozen=True):
    secret_key: Secret | None = None
    nats_token: Secret | None = None
    nats_password: Secret | None = None

    def values(self) -> list[str]:
        """The raw values, for the log masker only."""
        return [s.reveal() for s in (self.secret_key, self.nats_token, self.nats_password) if s]


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    env = os.environ if env is None else env
    found = {name: Secret(env[var]) for name, var in SECRET_ENV.items() if env.get(var)}
    return Secrets(**found)


def mask(text: str, secrets: Secrets | list[str]) -> str:
    """Replace every secret value inside `text` with ********."""
    values = secrets.values() if isinstance(secrets, Secrets) else secrets
    for value in values:
        if value and len(value) >= 4:
            text = text.replace(value, "********")
    return text


# --- loading ----------------------------------------------------------------------------------
def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    default_file: Path | None = DEFAULT_FILE,
) -> Config:
    """Build the validated Config from the layers; raise ConfigError on the first bad key."""
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
    try:
        return msgspec.convert(merged, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), merged, origin)) from None


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
        elif _SECRET_WORDS.search(key) and key != "creds_file":
            raise ConfigError(
                f"config key {dotted} (from {origin.get(dotted, '?')}) looks like a secret: "
                "secrets are read only from the environment ("
                + ", ".join(SECRET_ENV.values())
                + "); remove the key"
            )


_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _explain(message: str, merged: dict, origin: dict[str, str]) -> str:
    match = _PATH.search(message)
    path = match.group("path") if match else ""
    what = message[: match.start()] if match else message
    dotted = re.sub(r"\[(\d+)\]", r"[\1]", path.lstrip("."))
    unknown = re.match(r"Object contains unknown field `(?P<field>[^`]+)`", what)
    if unknown:
        key = f"{dotted}.{unknown.group('field')}" if dotted else unknown.group("field")
        allowed = _allowed_keys(dotted)
        return (
            f"unknown config key {key} (from {_origin_of(origin, key)}); "
            f"allowed keys here: {', '.join(allowed)}"
        )
    value = _lookup(merged, dotted)
    base_key = re.sub(r"\[\d+\]$", "", dotted)
    allowed = _allowed_values(base_key)
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


def _section_type(dotted: str) -> Any:
    node: Any = Config
    for part in [p for p in dotted.split(".") if p]:
        hints = typing.get_type_hints(node, include_extras=True)
        node = hints.get(re.sub(r"\[\d+\]$", "", part))
        while typing.get_origin(node) is Annotated:
            node = typing.get_args(node)[0]
        if node is None:
            return None
    return node


def _allowed_keys(dotted: str) -> list[str]:
    node = _section_type(dotted)
    return list(getattr(node, "__struct_fields__", ()))


def _allowed_values(dotted: str) -> str:
    node = _section_type(dotted)
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
