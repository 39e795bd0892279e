"""Hyperliquid wire data → bus messages. Pure: every function takes `now_ns`."""

from __future__ import annotations

from decimal import Decimal

from marketdata.candles import Bar
from schemas import AssetContext, BookLevel, BookSnapshot, Candle, Trade

MS = 1_000_000  # ns per ms


def candle_msg_id(coin: str, interval: str, open_ms: int) -> str:
    """The JetStream message id of a closed candle: live and replay publish each one once."""
    return f"candle:{coin}:{interval}:{open_ms}"


def candle(coin: str, interval: str, bar: Bar, now_ns: int) -> Candle:
    close_ns = (bar.T + 1) * MS - 1
    return Candle(
        ts_event=close_ns, ts_init=now_ns, coin=coin, interval=interval,  # type: ignore[arg-type]
        open_time=bar.t * MS, close_time=close_ns, open=bar.o, high=bar.h, low=bar.l,
        close=bar.c, volume=bar.v, trades=bar.n, closed=True,
    )


def _levels(side: list[dict] | None) -> list[BookLevel]:
    return [BookLevel(Decimal(str(l["px"])), Decimal(str(l["sz"])), int(l.get("n", 0))) for l in side or []]


def book(data: dict, now_ns: int) -> BookSnapshot:
    bids, asks = data["levels"]
    return BookSnapshot(ts_event=int(data["time"]) * MS, ts_init=now_ns, coin=data["coin"],
                        bids=_levels(bids), asks=_levels(asks))


def bbo(data: dict, now_ns: int) -> BookSnapshot:
    bid, ask = data["bbo"]
    return BookSnapshot(ts_event=int(data["time"]) * MS, ts_init=now_ns, coin=data["coin"],
                        bids=_levels([bid] if bid else []), asks=_levels([ask] if ask else []))


def trades(data: list[dict], now_ns: int) -> list[Trade]:
    return [
        Trade(ts_event=int(t["time"]) * MS, ts_init=now_ns, coin=t["coin"],
              side="buy" if t["side"] == "B" else "sell", price=Decimal(str(t["px"])),
              size=Decimal(str(t["sz"])), trade_id=int(t.get("tid", 0)))
        for t in data
    ]


def asset_ctx(data: dict, now_ns: int) -> AssetContext:
    c = data["ctx"]
    mid = c.get("midPx")
    return AssetContext(
        ts_event=now_ns, ts_init=now_ns, coin=data["coin"],
        mark_price=Decimal(str(c["markPx"])), oracle_price=Decimal(str(c["oraclePx"])),
        mid_price=Decimal(str(mid)) if mid not in (None, "") else None,
        funding_rate=float(c.get("funding", 0.0)), open_interest=float(c.get("openInterest", 0.0)),
        premium=float(c.get("premium") or 0.0), day_notional_volume=float(c.get("dayNtlVlm", 0.0)),
    )
