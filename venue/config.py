"""Configuration of the local Hyperliquid-compatible exchange (the `[venue.sim]` config table).

Every field has a default; deploy/organism.toml repeats the defaults so users see them.
"""

from __future__ import annotations

import msgspec


class SimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8780
    seed: int = 7
    market: str = "synthetic"
