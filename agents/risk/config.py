"""The `[risk]` config table: every pre-trade limit and breaker threshold, each with its default.

Fractions are fractions (0.4 = 40 %), money is a decimal string of USD (exact), durations are
seconds. Day and age bounds run on the organism's clock; throttles and heartbeats on wall time.

Checks that read the market (24 h volume, the age of the last price) depend on where market data
comes from, so they take one value per source: `sim` (the local exchange, whose volume counts only
our own fills), `replay` (stored candles, no books or contexts), `testnet`, `mainnet`. The source is
`replay` when `market_data.mode = "replay"`, else `venue.market_data`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

import msgspec

from settings import Section, register_section

Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Feed = Literal["sim", "replay", "testnet", "mainnet"]
FEEDS: tuple[Feed, ...] = ("sim", "replay", "testnet", "mainnet")


def _usd(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} must be a decimal number of USD such as \"5000\", "
                         f"got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be >= 0 USD, got {text!r}")
    return value


class RiskSection(Section):
    durable: str = "risk"  # JetStream durable of risk on ORDERS, CONTROL and EXEC_EVENTS
    max_intent_age_s: Positive = 60.0  # an older intent (organism clock) is stale_intent

    # --- pre-trade checks ---
    max_strategy_notional_usd: str = "25000"  # a strategy's position (RegistryEntry limits win)
    max_coin_notional_usd: str = "50000"  # the account's net position in one coin
    coin_notional_usd: dict[str, str] = {}  # per coin, e.g. {SOL = "10000"}
    max_equity_share: Fraction = 0.40  # a strategy's position notional / account equity
    max_leverage: Positive = 3.0  # the account's total notional / equity after the order
    # The account could lose this fraction of its notional before liquidation: estimated as
    # equity / total notional - maintenance_margin, and from the venue's liquidation price.
    min_liquidation_distance: Fraction = 0.20
    maintenance_margin: Fraction = 0.02  # of notional (Hyperliquid: half the initial at max leverage)
    max_capital_at_risk: Fraction = 0.02  # a strategy's loss to its stop / account equity
    default_stop_distance: Fraction = 0.05  # assumed stop (fraction of price) for intents without one
    price_band: Fraction = 0.05  # a limit price at most this far from the mark
    max_trades_per_day: Annotated[int, msgspec.Meta(ge=0)] = 100  # per strategy (entry limits win)
    max_orders: Annotated[int, msgspec.Meta(ge=1)] = 10  # approved per account in order_window_s
    order_window_s: Positive = 1.0
    min_notional_usd: str = "10"  # Hyperliquid's minimum order value (reduce-only exempt)
    min_actions_left: Annotated[int, msgspec.Meta(ge=0)] = 500  # venue action budget kept for exits
    # per market-data source (see the module docstring); 0 = the check is off
    min_day_volume_usd: dict[Feed, str] = msgspec.field(default_factory=lambda: {
        "sim": "0", "replay": "0", "testnet": "0", "mainnet": "50000000"})
    max_price_age_s: dict[Feed, NonNegative] = msgspec.field(default_factory=lambda: {
        "sim": 60.0, "replay": 0.0, "testnet": 60.0, "mainnet": 30.0})
    open_order_ttl_s: Positive = 600.0  # an order execution never ended stops counting after this

    # --- breakers ---
    max_drawdown: Fraction = 0.10  # from the high-water mark: HALTED and flatten
    max_daily_loss: Fraction = 0.01  # of start-of-day equity: HALTED until the next day
    daily_loss_resume_next_day: bool = True  # false: only `organism resume` lifts it
    heartbeat_timeout_s: Positive = 10.0  # execution or market data silent this long: HALTED
    market_data_agent: str = "market_data"  # whose heartbeat counts ("" = none required)
    max_rejections: Annotated[int, msgspec.Meta(ge=1)] = 5  # exchange rejections in the window
    rejection_window_s: Positive = 300.0  # ... put the account in REDUCING
    # md.status streams whose "stale" / "down" / "reconnecting" puts every account in REDUCING
    # (trades are left out: a quiet market, or the local exchange, has none for minutes)
    stale_streams: list[str] = msgspec.field(default_factory=lambda: ["ws", "book", "ctx"])
    deactivation_k: Positive = 2.0  # a strategy deactivates past k x its validated max drawdown
    unvalidated_max_drawdown: Fraction = 0.10  # used for strategies without a validation summary
    flatten_retry_s: Positive = 30.0  # a flatten that left positions is sent again after this
    kill_flatten_max_age_s: Positive = 3600.0  # an older kill switch (first read late) halts only
    warmup_s: NonNegative = 3.0  # at start, wait this long for execution's status before deciding
    tick_s: Positive = 1.0  # how often timed breakers are evaluated

    def __post_init__(self) -> None:
        _usd("risk.max_strategy_notional_usd", self.max_strategy_notional_usd)
        _usd("risk.max_coin_notional_usd", self.max_coin_notional_usd)
        _usd("risk.min_notional_usd", self.min_notional_usd)
        for coin, text in self.coin_notional_usd.items():
            _usd(f"risk.coin_notional_usd.{coin}", text)
        for feed, text in self.min_day_volume_usd.items():
            _usd(f"risk.min_day_volume_usd.{feed}", text)
        if not self.durable or any(c in self.durable for c in " .*>"):
            raise ValueError(f"risk.durable must be a plain name, got {self.durable!r}")

    def usd(self, name: str) -> Decimal:
        return Decimal(getattr(self, name))

    def coin_limit(self, coin: str) -> Decimal:
        return Decimal(self.coin_notional_usd.get(coin, self.max_coin_notional_usd))

    def min_volume(self, feed: str) -> Decimal:
        return Decimal(self.min_day_volume_usd.get(feed, "0"))  # type: ignore[call-overload]

    def price_age(self, feed: str) -> float:
        return float(self.max_price_age_s.get(feed, 0.0))  # type: ignore[call-overload]


register_section("risk", RiskSection)
