"""Configuration of the local Hyperliquid-compatible exchange (the `[venue.sim]` config table).

Every field has a default; venue/defaults.toml repeats the defaults so users see them. Money is
given as decimal strings (USDC, prices) so nothing is rounded through a float.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from settings import register_section


class CoinSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One perpetual market: its name, lot size (`sz_decimals`), max leverage and start price (USD)."""

    name: str
    sz_decimals: int
    max_leverage: int
    start_px: str


class AccountSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An account funded at start: its 0x address and its USDC balance."""

    address: str
    usdc: str


DEFAULT_COINS: tuple[CoinSpec, ...] = (
    CoinSpec(name="BTC", sz_decimals=5, max_leverage=40, start_px="60000"),
    CoinSpec(name="ETH", sz_decimals=4, max_leverage=25, start_px="3000"),
    CoinSpec(name="SOL", sz_decimals=2, max_leverage=20, start_px="150"),
)


class SimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8780
    seed: int = 7
    # "synthetic" (a seeded random walk); "frozen" (prices never move unless jumped);
    # "candles:PATH" (stored candles replayed, JSON/JSON lines); "l2:PATH" (L2 snapshots replayed).
    market: str = "synthetic"
    coins: tuple[CoinSpec, ...] = DEFAULT_COINS
    accounts: tuple[AccountSpec, ...] = ()
    # USDC credited to any address the first time it signs an action; "0" = only funded accounts trade.
    auto_fund_usdc: str = "0"
    # Base-tier perp fees, in basis points of notional.
    taker_fee_bps: str = "4.5"
    maker_fee_bps: str = "1.5"
    # Hourly funding: rate = clamp(premium + interest, ±cap); interest is the 8-hour rate / 8.
    funding_interval_ms: int = 3_600_000
    funding_interest_8h: str = "0.0001"
    funding_cap_hourly: str = "0.04"
    # Market driver: one step every tick_ms; volatility is the per-step standard deviation (fraction).
    tick_ms: int = 500
    volatility: str = "0.0005"
    history_minutes: int = 600
    # Older history for the hourly and longer candles (synthetic market): this many hours before
    # the minute history, four samples an hour, so the market-data agent can backfill the 5000
    # hourly bars Hyperliquid keeps and evolution has history to search on the first start.
    history_hours: int = 5000
    # Synthetic liquidity around the fair price: levels per side, half-spread and level spacing
    # (bps), and USD notional per level.
    mm_levels: int = 10
    mm_half_spread_bps: str = "1"
    mm_level_step_bps: str = "2"
    mm_level_usd: str = "100000"
    # Hyperliquid's rules.
    min_notional_usd: str = "10"
    max_candles: int = 5000
    ip_weight_per_minute: int = 1200
    address_initial_actions: int = 10_000
    schedule_cancel_min_volume_usd: str = "0"
    schedule_cancel_max_triggers_per_day: int = 10
    ws_idle_timeout_s: float = 60.0
    ws_messages_per_minute: int = 2000
    # The admin API (fault injection, funding, market control); off in production-like runs.
    admin: bool = True


class VenueSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[venue]` config table: which exchange the organism trades and reads."""

    network: Literal["sim", "testnet", "mainnet"] = "sim"
    account_address: str = ""  # public address; the key itself comes from ORGANISM_SECRET_KEY
    sim: SimConfig = msgspec.field(default_factory=SimConfig)


register_section("venue", VenueSection)
