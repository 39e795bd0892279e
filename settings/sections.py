"""The sections every process shares (broker, streams, metrics, clock, supervision, markets).

Sections that belong to one agent or one package live beside it and register themselves with
`settings.register_section` (see settings/loader.py), so this package imports nothing above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
Interval = Literal[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"
]


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table: frozen, keyword-only, unknown keys refused."""


class OrganismSection(Section):
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "data"
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    procfile: str = "Procfile"


class NatsSection(Section):
    url: str = ""  # empty: start the embedded broker on host:port
    host: str = "127.0.0.1"
    port: Port = 4222
    connect_timeout_s: PositiveSeconds = 2.0
    request_timeout_s: PositiveSeconds = 5.0
    reconnect_wait_s: PositiveSeconds = 1.0
    drain_timeout_s: PositiveSeconds = 10.0
    creds_file: str = ""  # NATS credentials file for per-agent users (see deploy/nats/)


class JetStreamSection(Section):
    duplicate_window_s: PositiveSeconds = 120.0
    max_age_days: PositiveSeconds = 30.0
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    ack_wait_s: PositiveSeconds = 30.0
    provision: bool = True  # agents create/update streams at start; false where only admin may
    # The hub's JetStream domain when this process reaches it through a leaf node (the
    # execution zone: deploy/nats/leaf.conf); "" when connected to the hub itself.
    domain: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]*$")] = ""


# Every agent the architecture names, in a fixed order: agent k serves its metrics on
# metrics.base_port + k, so each keeps a stable port as more of them are built.
AGENT_PORT_ORDER: tuple[str, ...] = (
    "market_data",
    "evolution",
    "evaluator",
    "validation",
    "lifecycle",
    "regime",
    "allocation",
    "trader",
    "risk",
    "execution_paper",  # one execution process per account (`organism agent execution --account`)
    "recorder",
    "dashboard",
    "execution_live",
)


class MetricsSection(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    base_port: Port = 9400  # agent k of AGENT_PORT_ORDER listens on base_port + k; 0 = any free

    def port_for(self, agent: str) -> int:
        """The agent's metrics port (0 = any free port)."""
        if self.base_port == 0:
            return 0
        order = AGENT_PORT_ORDER
        return self.base_port + (order.index(agent) if agent in order else len(order))


class HeartbeatSection(Section):
    interval_s: PositiveSeconds = 2.0


class ClockSection(Section):
    source: Literal["wall", "replay"] = "wall"


class SupervisorSection(Section):
    restart_backoff_initial_s: PositiveSeconds = 1.0
    restart_backoff_max_s: PositiveSeconds = 30.0
    stable_after_s: PositiveSeconds = 60.0
    stop_timeout_s: PositiveSeconds = 10.0
    # CPU priority of agent processes (nice 0..19; higher yields more), applied by `organism
    # agent NAME` and inherited by the agent's worker processes. Research that can use every
    # core (evolution, its evaluators, validation) must not slow market data, risk or execution.
    nice: dict[str, Annotated[int, msgspec.Meta(ge=0, le=19)]] = msgspec.field(
        default_factory=lambda: {"evolution": 10, "evaluator": 10, "validation": 5})


class MarketSection(Section):
    coins: list[Annotated[str, msgspec.Meta(pattern=r"^[^\s.*>]+$")]] = msgspec.field(
        default_factory=lambda: ["BTC", "ETH"]
    )
    intervals: list[Interval] = msgspec.field(default_factory=lambda: ["1h"])


class Config(Section):
    """The sections every process reads. `load_config` returns an instance of a subclass that
    also carries every registered section (`config.evolution`, `config.venue`, ...)."""

    organism: OrganismSection = msgspec.field(default_factory=OrganismSection)
    nats: NatsSection = msgspec.field(default_factory=NatsSection)
    jetstream: JetStreamSection = msgspec.field(default_factory=JetStreamSection)
    metrics: MetricsSection = msgspec.field(default_factory=MetricsSection)
    heartbeat: HeartbeatSection = msgspec.field(default_factory=HeartbeatSection)
    clock: ClockSection = msgspec.field(default_factory=ClockSection)
    supervisor: SupervisorSection = msgspec.field(default_factory=SupervisorSection)
    market: MarketSection = msgspec.field(default_factory=MarketSection)

    @property
    def data_dir(self) -> Path:
        return Path(self.organism.data_dir).expanduser().resolve()
