"""The order path: intent → risk decision → execution command → execution events.

Every message here carries `correlation_id` (the intent's id), and every price, size, fee and PnL
is an exact Decimal. Commands are imperative (`SubmitOrder`), events past tense (`OrderFilled`).
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from schemas.base import Ident, Money, OrderPathMessage, PositiveMoney

Side = Literal["buy", "sell"]
OrderKind = Literal["market", "limit"]
TimeInForce = Literal["Gtc", "Ioc", "Alo"]
Cloid = str  # "0x" + 32 hex characters, derived from the intent id


class OrderIntent(OrderPathMessage, frozen=True, kw_only=True):
    """A strategy's wish to trade. Nothing happens until risk approves it."""

    _positive = ("size",)

    intent_id: Ident
    strategy_id: Ident
    coin: Ident
    side: Side
    size: PositiveMoney  # in coins
    kind: OrderKind = "market"
    limit_price: Money | None = None
    time_in_force: TimeInForce = "Ioc"
    reduce_only: bool = False
    target_position: Money | None = None  # the signed position the strategy wants after this
    reason: str = ""


class DenyReason(str, Enum):
    """Why risk refused an intent. Stable codes: dashboards and tests match on them."""

    TRADING_HALTED = "trading_halted"
    REDUCING_ONLY = "reducing_only"
    KILL_SWITCH = "kill_switch"
    MAX_DRAWDOWN = "max_drawdown"
    DAILY_LOSS = "daily_loss"
    POSITION_LIMIT = "position_limit"
    NOTIONAL_LIMIT = "notional_limit"
    LEVERAGE_LIMIT = "leverage_limit"
    STRATEGY_ALLOCATION = "strategy_allocation"
    STALE_MARKET_DATA = "stale_market_data"
    AGENT_SILENT = "agent_silent"
    EXCHANGE_ERRORS = "exchange_errors"
    UNKNOWN_STRATEGY = "unknown_strategy"
    INVALID_ORDER = "invalid_order"
    RATE_LIMIT = "rate_limit"
    DUPLICATE = "duplicate"


class OrderApproved(OrderPathMessage, frozen=True, kw_only=True):
    """Risk's yes: the matching `SubmitOrder` goes out on `exec.cmd.{coin}`."""

    intent_id: Ident
    strategy_id: Ident
    command_id: Ident


class OrderDenied(OrderPathMessage, frozen=True, kw_only=True):
    """Risk's no, with a stable reason code and the numbers behind it."""

    intent_id: Ident
    strategy_id: Ident
    reason: DenyReason
    detail: str = ""


class SubmitOrder(OrderPathMessage, frozen=True, kw_only=True):
    """Command to the execution agent. Only risk may publish it."""

    _positive = ("size",)

    command_id: Ident
    intent_id: Ident
    strategy_id: Ident
    coin: Ident
    side: Side
    size: PositiveMoney
    kind: OrderKind = "market"
    limit_price: Money | None = None
    time_in_force: TimeInForce = "Ioc"
    reduce_only: bool = False
    cloid: Cloid
    max_slippage_bps: float = 50.0


class CancelOrder(OrderPathMessage, frozen=True, kw_only=True):
    command_id: Ident
    coin: Ident
    cloid: Cloid
    strategy_id: str = ""


class OrderAccepted(OrderPathMessage, frozen=True, kw_only=True):
    """The venue acknowledged the order (resting or about to fill)."""

    command_id: Ident
    coin: Ident
    cloid: Cloid
    venue_order_id: int


class OrderRejected(OrderPathMessage, frozen=True, kw_only=True):
    command_id: Ident
    coin: Ident
    cloid: Cloid
    reason: str  # the venue's text, verbatim
    retryable: bool = False


class OrderFilled(OrderPathMessage, frozen=True, kw_only=True):
    """One fill (possibly partial)."""

    _positive = ("price", "size")

    command_id: str = ""
    coin: Ident
    cloid: Cloid
    venue_order_id: int
    fill_id: Ident  # the venue's trade id; fills are de-duplicated on it
    side: Side
    price: PositiveMoney
    size: PositiveMoney
    fee: Money  # in USD, positive = paid
    liquidity: Literal["maker", "taker"]
    closed_pnl: Money = Money(0)
    strategy_id: str = ""


class OrderCanceled(OrderPathMessage, frozen=True, kw_only=True):
    command_id: str = ""
    coin: Ident
    cloid: Cloid
    venue_order_id: int = 0
    reason: str = ""


class PositionReport(OrderPathMessage, frozen=True, kw_only=True):
    """The venue's view of one position, after reconciliation."""

    coin: Ident
    size: Money  # signed, in coins: positive long, negative short
    entry_price: Money | None = None
    unrealized_pnl: Money = Money(0)
    margin_used: Money = Money(0)
    leverage: float = 1.0
    account_value: Money | None = None
