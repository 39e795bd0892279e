"""How the exchange writes numbers and ids on the wire, as Hyperliquid does."""

from __future__ import annotations

import hashlib
from decimal import Decimal

ZERO = Decimal(0)
BPS = Decimal(10_000)


def fmt(x: Decimal) -> str:
    """A decimal as Hyperliquid writes it: plain notation, no trailing zeros, "0" for zero."""
    if x == 0:
        return "0"
    text = f"{x.normalize():f}"
    return text


def fmt_usd(x: Decimal) -> str:
    """A USD amount rounded to the cent (half-even would bias; money is quantised half-up)."""
    return fmt(x.quantize(Decimal("0.000001")))


def tx_hash(*parts: object) -> str:
    """A deterministic 32-byte hex hash standing in for the L1 transaction hash."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return "0x" + digest


def dec(value: object) -> Decimal:
    """Parse a wire number (string or int) exactly; floats go through their repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def order_wire(order) -> dict:
    """An order as openOrders and orderUpdates show it (venue.book.Order)."""
    out = {
        "coin": order.coin,
        "side": order.side,
        "limitPx": fmt(order.px),
        "sz": fmt(order.sz),
        "oid": order.oid,
        "timestamp": order.timestamp,
        "origSz": fmt(order.orig_sz),
    }
    if order.cloid:
        out["cloid"] = order.cloid
    return out
