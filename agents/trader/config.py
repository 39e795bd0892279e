"""The `[trader]` config table (risk reads `default_weight` too)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from settings import Section, register_section

Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class TraderConfig(Section):
    # Fraction of the account's equity behind each strategy when no alloc.target names it (the
    # target position is direction x sizing gene x this x equity).
    default_weight: Fraction = 0.1
    # Coins no strategy trades (their registry entries stay; `organism strategy add` refuses them).
    blocked_coins: list[str] = msgspec.field(default_factory=list)
    # Bars of stored history the signals are computed over (0 = all of the store). Signals equal
    # the backtest's on the same bars; an EMA's warm-up is forgotten after a few times its window.
    history_bars: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    # The venue's minimum order value (USD): smaller differences wait (closes go reduce-only).
    min_notional_usd: str = "10"
    # The backtest's assumptions, for the stops' entry price before a fill is heard and for the
    # tracking error: slippage per fill (bps) and the cap on notional / equity.
    slippage_bps: Annotated[float, msgspec.Meta(ge=0.0)] = 1.0
    max_leverage: Annotated[float, msgspec.Meta(gt=0.0)] = 3.0
    # A venue position that differs from the strategies' virtual positions plus the operator's
    # for longer than this (s) is reported (fills in flight make short differences).
    position_check_s: Annotated[float, msgspec.Meta(gt=0.0)] = 30.0
    # Candles older than this many bars when they arrive (a backlog after a restart) extend the
    # history but decide nothing: an intent for an old bar would be stale.
    max_candle_lag_bars: Annotated[int, msgspec.Meta(ge=1)] = 2
    durable: str = "trader"  # JetStream durable prefix (candles, fills, decisions, controls)

    def __post_init__(self) -> None:
        from decimal import Decimal, InvalidOperation

        try:
            ok = Decimal(self.min_notional_usd) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ValueError(f"trader.min_notional_usd must be a non-negative decimal string, "
                             f"got {self.min_notional_usd!r}")


register_section("trader", TraderConfig)
