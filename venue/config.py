"""Configuration of the local Hyperliquid-compatible exchange (the `[venue.sim]` config table).

Every field has a default; venue/defaults.toml repeats the defaults so users see them. Money is
given as decimal strings (USDC, prices) so nothing is rounded through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from settings import register_renamed, register_section


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


class MirrorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the local exchange follows a real venue's public market (`market = "mirror:URL"`,
    venue/mirror.py): its book, trades, marks and funding, over a reconnecting websocket with
    REST behind it."""

    # A coin whose book the source has not confirmed (a websocket push, or a REST answer no
    # older than the book held) for this long is stale: its mirrored liquidity is withdrawn and
    # new orders on it are refused until the source answers again, so nothing fills at a frozen
    # price. Hyperliquid pushes a 20-level l2Book every 0.5 to 2 s.
    stale_after_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # A coin with no book push for this long is read over REST (a quiet book, a lost socket).
    quiet_poll_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # Marks, oracle and funding (activeAssetCtx) silent this long are read over REST.
    ctx_poll_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # The source drops a connection that sent nothing for 60 s.
    ping_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    backoff_initial_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    backoff_max_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # A resting order also fills (at its own price, up to the trade's size) when the source
    # trades through it: a trade strictly beyond its price on the side it rests.
    trade_through: bool = True


class SimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8780
    seed: int = 7
    # "synthetic" (a seeded random walk); "frozen" (prices never move unless jumped);
    # "candles:PATH" (stored candles replayed, JSON/JSON lines); "l2:PATH" (L2 snapshots replayed);
    # "mirror:URL" (a Hyperliquid-compatible venue's public book, trades, marks and funding,
    # followed live: see [venue.sim.mirror]). `organism sim` mirrors venue.market_data's source
    # when it is testnet or mainnet, whatever this says.
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
    # Market driver: one step every tick_ms; volatility is the per-step standard deviation (fraction)
    # of the live path and of the synthetic history before it: 0.00008 every 500 ms is about 0.7 %
    # an hour, BTC's usual.
    tick_ms: int = 500
    volatility: str = "0.00008"
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
    mirror: MirrorConfig = msgspec.field(default_factory=MirrorConfig)


MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
Network = Literal["sim", "testnet", "mainnet"]
_ADDRESS = r"^(0x[0-9a-fA-F]{40})?$"


class AccountVenue(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where one account trades. On `sim` the local exchange funds an address generated at first
    start (its key kept in the data folder, owner-only) with `capital_usdc`; on testnet or mainnet
    the key is an API wallet from the environment (ORGANISM_PAPER_SECRET_KEY for paper,
    ORGANISM_SECRET_KEY for live) and `account_address` is the master account it trades for."""

    network: Network = "sim"
    capital_usdc: str = "10000"  # sim only: the account's starting balance (USDC)
    account_address: Annotated[str, msgspec.Meta(pattern=_ADDRESS)] = ""
    confirm_mainnet: bool = False  # live only: trading real money needs this said out loud

    def __post_init__(self) -> None:
        try:
            capital = Decimal(self.capital_usdc)
        except ArithmeticError:
            raise ValueError(f"capital_usdc must be a decimal number of USDC, got "
                             f"{self.capital_usdc!r}") from None
        if not capital.is_finite() or capital <= 0:
            raise ValueError(f"capital_usdc must be > 0 USDC, got {self.capital_usdc!r}")


class VenueSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[venue]` config table: where market data comes from and where each account trades.
    `organism up` starts the local exchange when any of them is `sim`."""

    market_data: Network = "sim"  # the market-data source
    paper: AccountVenue = msgspec.field(default_factory=AccountVenue)
    live: AccountVenue = msgspec.field(default_factory=AccountVenue)
    sim: SimConfig = msgspec.field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        if self.paper.network == "mainnet":
            raise ValueError("the paper account never trades mainnet: set venue.paper.network "
                             "to 'sim' (the local exchange) or 'testnet'")
        if self.paper.confirm_mainnet:
            raise ValueError("venue.paper.confirm_mainnet means nothing: only the live account "
                             "can trade mainnet")
        if self.live.network == "mainnet" and not self.live.confirm_mainnet:
            raise ValueError("venue.live.network = 'mainnet' trades real money: set "
                             "venue.live.confirm_mainnet = true to say so, or use 'testnet'")
        if self.live.network == "mainnet" and not self.live.account_address:
            raise ValueError("venue.live.network = 'mainnet' needs venue.live.account_address "
                             "(the master account your API wallet trades for)")

    def url(self, network: Network) -> str:
        """REST base URL of a network (the local exchange for `sim`)."""
        if network == "mainnet":
            return MAINNET_URL
        if network == "testnet":
            return TESTNET_URL
        return f"http://{self.sim.host}:{self.sim.port}"

    def account(self, name: str) -> AccountVenue:
        if name not in ("paper", "live"):
            raise ValueError(f"unknown account {name!r}: use 'paper' or 'live'")
        return self.paper if name == "paper" else self.live

    @property
    def uses_sim(self) -> bool:
        """Whether anything reads or trades the local exchange (then `organism up` starts it)."""
        return "sim" in (self.market_data, self.paper.network, self.live.network)


register_section("venue", VenueSection)
register_renamed(
    "venue.network",
    "venue.network was split when paper and live accounts arrived: set venue.market_data "
    "(where candles come from) and venue.paper.network / venue.live.network (where each "
    "account trades)",
)
register_renamed(
    "venue.account_address",
    "venue.account_address moved to venue.live.account_address (and venue.paper.account_address "
    "for a paper account on testnet)",
)
