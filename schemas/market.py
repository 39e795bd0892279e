"""Market data: candles, books, trades, asset contexts, feed status (`md.*`)."""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.base import Ident, Message, Money, Nanos

Interval = Literal[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"
]


class Candle(Message, frozen=True, kw_only=True):
    """One OHLCV bar. Analytics data: float64 is fine here (not the order path)."""

    coin: Ident
    interval: Interval
    open_time: Nanos
    close_time: Nanos
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0
    closed: bool = True


class BookLevel(msgspec.Struct, frozen=True, array_like=True):
    """One price level: price, size, number of orders. Exact, as risk reads prices from books."""

    price: Money
    size: Money
    orders: int = 0


class BookSnapshot(Message, frozen=True, kw_only=True):
    coin: Ident
    bids: list[BookLevel]  # best first (descending price)
    asks: list[BookLevel]  # best first (ascending price)


class Trade(Message, frozen=True, kw_only=True):
    coin: Ident
    side: Literal["buy", "sell"]  # the aggressor's side
    price: Money
    size: Money
    trade_id: int = 0


class AssetContext(Message, frozen=True, kw_only=True):
    """Mark, oracle and mid prices (exact) and funding/open interest for one perpetual."""

    coin: Ident
    mark_price: Money
    oracle_price: Money
    mid_price: Money | None = None
    funding_rate: float = 0.0  # hourly rate as a fraction (0.0001 = 1 bp an hour)
    open_interest: float = 0.0  # in coins
    premium: float = 0.0
    day_notional_volume: float = 0.0


class FeedStatus(Message, frozen=True, kw_only=True):
    """The health of one market-data stream; risk halts on stale data."""

    stream: str  # e.g. "candle", "l2Book", "trades", "ws"
    coin: str = ""  # empty for connection-wide status
    state: Literal["live", "stale", "reconnecting", "down"]
    last_message_ns: Nanos = 0
    detail: str = ""
