"""The `[market_data]` config table. Coins and intervals come from `[market]`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from settings import register_section

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class ReplayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    speed: Annotated[float, msgspec.Meta(ge=0)] = 3600.0  # market seconds per wall second; 0 = no pacing by time
    pace_consumers: list[str] = msgspec.field(default_factory=list)  # durable names on CANDLES to wait for
    start_ms: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = from the first stored candle
    end_ms: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = to the last


class MarketDataConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["live", "replay", "off"] = "live"
    url: str = ""  # REST base URL; empty = from venue.market_data (sim: the local exchange)
    book: Literal["l2Book", "bbo", "none"] = "l2Book"
    trades: bool = True
    asset_ctx: bool = True
    ping_interval_s: Seconds = 20.0  # Hyperliquid drops a connection idle for 60 s
    stale_after_s: Seconds = 30.0  # a stream silent this long is reported stale on md.status
    candle_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    backfill_max_bars: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 5000  # on first start
    # hourly funding payments (fundingHistory) into the store's asset contexts, so backtests on
    # store: data pay the funding that was paid: this many days on the first start, then every
    # funding_refresh_s; 0 days = off
    funding_days: Annotated[int, msgspec.Meta(ge=0)] = 365
    funding_refresh_s: Seconds = 900.0
    backoff_initial_s: Seconds = 0.5
    backoff_max_s: Seconds = 30.0
    replay: ReplayConfig = msgspec.field(default_factory=ReplayConfig)


register_section("market_data", MarketDataConfig)
