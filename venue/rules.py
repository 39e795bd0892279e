"""Hyperliquid's order rules (tick, lot, minimum notional) and the exact texts of its refusals.

Texts come from Hyperliquid's "Error responses" table and live replies quoted in public SDK
issues; live per-order errors end in " asset=N". Texts marked (unconfirmed) were not seen anywhere
and follow the house pattern.
"""

from __future__ import annotations

from decimal import Decimal

MAX_PERP_DECIMALS = 6
MAX_SIG_FIGS = 5

# Per-order refusals (an entry of `statuses`); format with asset=.
TICK = "Price must be divisible by tick size."
MIN_NOTIONAL = "Order must have minimum value of $10."
MARGIN = "Insufficient margin to place order."
REDUCE_ONLY = "Reduce only order would increase position."
BAD_ALO = "Post only order would have immediately matched, bbo was {bbo}."
IOC_CANCEL = "Order could not immediately match against any resting orders."
BAD_TRIGGER = "Invalid TP/SL price."
NO_LIQUIDITY = "No liquidity available for market order."
INVALID_PRICE = "Order has invalid price."
PRICE_FAR = "Order price cannot be more than 80% away from the reference price"
INVALID_SIZE = "Order has invalid size."
ZERO_SIZE = "Order has zero size."
CANCEL_MISSING = "Order was never placed, already canceled, or filled."
UNKNOWN_ASSET = "Unknown asset {asset}."  # (unconfirmed)
INJECTED = "Order rejected by fault injection."  # the simulator's own, never Hyperliquid's

# Whole-request refusals (`{"status":"err","response":...}`).
DUPLICATE_NONCE = "Invalid nonce: duplicate nonce {nonce}"
NONCE_TOO_LOW = "Invalid nonce: nonce too low {nonce} < {least}"
NONCE_TOO_HIGH = "Invalid nonce: nonce too high {nonce} > {most}"  # (unconfirmed)
UNKNOWN_SIGNER = "User or API Wallet {address} does not exist."
UNRECOVERABLE = "Unable to recover signer."
ADDRESS_BUDGET = (
    "Too many cumulative requests sent ({sent} > {limit}) for cumulative volume traded ${volume}."
    " Place taker orders to free up 1 request per USDC traded."
)
SCHEDULE_VOLUME = "Cannot set scheduled cancel time until enough volume traded. Required: ${required}. Traded: ${traded}."
SCHEDULE_TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."
SCHEDULE_TOO_MANY = "Too many scheduled cancels triggered today."  # (unconfirmed)
EXPIRED = "Action expired"  # (unconfirmed)
LEVERAGE_INVALID = "Invalid leverage value"  # (unconfirmed)
UNKNOWN_ACTION = "Unknown action type: {kind}"  # (unconfirmed)


def with_asset(text: str, asset: int) -> str:
    """A per-order error as the live venue writes it: the table's text, then " asset=N"."""
    return f"{text} asset={asset}"


def decimals(x: Decimal) -> int:
    exponent = x.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def sig_figs(x: Decimal) -> int:
    digits = x.normalize().as_tuple().digits
    return len(digits)


def price_ok(px: Decimal, sz_decimals: int) -> bool:
    """A perp price: any integer, else ≤ 5 significant figures and ≤ 6 − szDecimals decimals."""
    if px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    return sig_figs(px) <= MAX_SIG_FIGS and decimals(px) <= MAX_PERP_DECIMALS - sz_decimals


def size_ok(sz: Decimal, sz_decimals: int) -> bool:
    return sz > 0 and decimals(sz) <= sz_decimals


def round_price(px: Decimal, sz_decimals: int, up: bool) -> Decimal:
    """The nearest valid price at or beyond `px` (up for asks, down for bids)."""
    from decimal import ROUND_CEILING, ROUND_FLOOR

    rounding = ROUND_CEILING if up else ROUND_FLOOR
    if px >= 10**MAX_SIG_FIGS:
        return px.quantize(Decimal(1), rounding=rounding)
    adjusted = px.adjusted()  # exponent of the leading digit
    places = min(MAX_SIG_FIGS - 1 - adjusted, MAX_PERP_DECIMALS - sz_decimals)
    return px.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def tick_of(px: Decimal, sz_decimals: int) -> Decimal:
    """The price increment at `px`."""
    if px >= 10**MAX_SIG_FIGS:
        return Decimal(1)
    places = min(MAX_SIG_FIGS - 1 - px.adjusted(), MAX_PERP_DECIMALS - sz_decimals)
    return Decimal(1).scaleb(-places)
