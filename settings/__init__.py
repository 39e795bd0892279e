"""Configuration and secrets: the lowest layer every other package may use (bus/ included).

`load_config()` reads the layers (defaults, deploy/organism.toml, --config FILE, ORGANISM__*
environment variables) into a validated, typed Config; `load_secrets()` reads the secrets, which
come only from the environment and print masked. Agents' own tables register themselves with
`register_section`; import `agents.sections` before loading to have them all.
"""

from settings.loader import (
    DEFAULT_FILE,
    ENV_PREFIX,
    PROJECT_ROOT,
    ConfigError,
    config_class,
    default_config,
    load_config,
    register_renamed,
    register_section,
    registered_sections,
    to_toml_dict,
)
from settings.secrets import SECRET_ENV, Secret, Secrets, load_secrets, mask
from settings.sections import (
    AGENT_PORT_ORDER,
    ClockSection,
    Config,
    HeartbeatSection,
    Interval,
    JetStreamSection,
    MarketSection,
    MetricsSection,
    NatsSection,
    OrganismSection,
    Port,
    PositiveSeconds,
    Section,
    SupervisorSection,
)

__all__ = [
    "DEFAULT_FILE", "ENV_PREFIX", "PROJECT_ROOT", "ConfigError", "config_class", "default_config",
    "load_config", "register_renamed", "register_section", "registered_sections", "to_toml_dict", "SECRET_ENV",
    "Secret", "Secrets", "load_secrets", "mask", "ClockSection", "Config", "HeartbeatSection",
    "Interval", "JetStreamSection", "MarketSection", "MetricsSection", "NatsSection",
    "OrganismSection", "AGENT_PORT_ORDER", "Port", "PositiveSeconds", "Section", "SupervisorSection",
]
