"""Prices and sizes the venue accepts, rounded in the direction that keeps risk's limits true.

Hyperliquid's rules (venue/rules.py): a size has at most `szDecimals` decimals; a price is an
integer or has at most five significant figures and `6 - szDecimals` decimals. Risk approved a
size and a price; execution may only make them safer:
- sizes round down (never more coins than approved); a size that rounds to zero is refused;
- a buy's limit rounds down and a sell's up (never a worse price than approved);
- a market order is an IOC limit at the reference price moved by the slippage cap, rounded back
  toward the reference (the cap holds after rounding);
- a stop's trigger rounds toward the market (the loss to the stop never exceeds the one risk
  counted).
All amounts are exact Decimals: USD prices, sizes in coins, slippage in bps.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from venue.rules import price_ok, round_price

BPS = Decimal(10_000)


class UnroundableOrder(ValueError):
    """The order cannot be expressed on the venue's grid without breaking what risk approved."""


def round_size(size: Decimal, sz_decimals: int) -> Decimal:
    """`size` (coins) rounded down to the lot; UnroundableOrder when that leaves nothing."""
    lot = Decimal(1).scaleb(-sz_decimals)
    out = size.quantize(lot, rounding=ROUND_DOWN)
    if out <= 0:
        raise UnroundableOrder(
            f"size {size} is below the venue's lot of {lot} coins (szDecimals {sz_decimals})")
    return out


def limit_price(is_buy: bool, px: Decimal, sz_decimals: int) -> Decimal:
    """A limit price on the grid, never worse than `px` for the order's side."""
    if px <= 0:
        raise UnroundableOrder(f"limit price {px} must be > 0")
    out = round_price(px, sz_decimals, up=not is_buy)
    if out <= 0:
        raise UnroundableOrder(f"limit price {px} rounds to {out} on the venue's grid")
    return out


def market_price(is_buy: bool, reference: Decimal, slippage_bps: float, sz_decimals: int) -> Decimal:
    """The IOC limit of a market order: the reference moved `slippage_bps` against us, rounded
    back toward the reference so the cap still holds."""
    slip = Decimal(str(slippage_bps)) / BPS
    raw = reference * (1 + slip) if is_buy else reference * (1 - slip)
    return limit_price(is_buy, raw, sz_decimals)


def trigger_price(closes_long: bool, px: Decimal, sz_decimals: int) -> Decimal:
    """A stop's trigger on the grid, rounded toward the market: a stop closing a long (a sell
    below the market) rounds up, one closing a short (a buy above) rounds down."""
    if px <= 0:
        raise UnroundableOrder(f"trigger price {px} must be > 0")
    return round_price(px, sz_decimals, up=closes_long)


def on_grid(px: Decimal, sz_decimals: int) -> bool:
    return price_ok(px, sz_decimals)
