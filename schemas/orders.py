"""The order path: intent → risk decision → execution command → execution events.

Every message here carries `correlation_id` (the intent's id), and every price, size, fee and PnL
is an exact Decimal. Commands are imperative (`SubmitOrder`), events past tense (`OrderFilled`).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Literal

from schemas.base import Ident, Message, Money, Nanos, OrderPathMessage, PositiveMoney

Side = Literal["buy", "sell"]
# "trigger": a reduce-only stop (or take-profit) resting at the venue until its trigger price
OrderKind = Literal["market", "limit", "trigger"]
TimeInForce = Literal["Gtc", "Ioc", "Alo"]
Cloid = str  # "0x" + 32 hex characters, derived from the intent id
# Two accounts on every order-path message, position and trading state: breakers, equity and
# limits are per account, so a paper halt never stops live trading and the reverse.
Account = Literal["paper", "live"]
ACCOUNTS: tuple[Account, ...] = ("paper", "live")
# Who a command comes from: an approved intent, or risk's own flatten (a breaker, the kill switch).
# A command with no origin (an older message, or a forged one) is refused by execution.
CommandOrigin = Literal["", "intent", "flatten"]
# The strategy id reserved for `organism order` (the operator's own intents).
OPERATOR = "operator"


def cloid_for(intent_id: str) -> Cloid:
    """The venue's client order id of an intent: derived, so a retried or redelivered command is
    recognisably the same order and never a second one."""
    return "0x" + hashlib.sha256(intent_id.encode()).hexdigest()[:32]


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
    account: Account = "paper"
    # Where the strategy's stop would close the position (USD): risk's capital-at-risk check
    # reads |price - stop_price| x size; without it, risk assumes its configured stop distance.
    stop_price: Money | None = None
    # The price the decision was made at (the bar's close, USD): slippage and tracking error.
    reference_price: Money | None = None
    # Execution style per strategy: rest post-only first for this long (s), then cross with IOC.
    post_only_s: float = 0.0
    bar_time: Nanos = 0  # open time of the bar that produced this intent; 0 = not from a bar


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
    # added with the risk agent (issue 12): one code per pre-trade check
    STALE_INTENT = "stale_intent"
    STRATEGY_NOTIONAL = "strategy_notional"  # a strategy's position notional over its limit
    COIN_NOTIONAL = "coin_notional"  # the account's net notional in one coin over its limit
    EQUITY_SHARE = "equity_share"  # a strategy's position over 40 % of account equity
    LIQUIDATION_DISTANCE = "liquidation_distance"
    CAPITAL_AT_RISK = "capital_at_risk"  # loss to the stop over 2 % of equity
    PRICE_BAND = "price_band"  # limit price too far from the mark
    DAILY_TRADES = "daily_trades"  # more than 100 trades a day for one strategy
    MIN_VOLUME = "min_volume"  # the coin trades less than the minimum 24 h volume
    MIN_NOTIONAL = "min_notional"  # below the venue's $10 minimum
    NO_PRICE = "no_price"  # no mark price known for the coin yet
    STRATEGY_PAUSED = "strategy_paused"
    STRATEGY_DEACTIVATED = "strategy_deactivated"  # its drawdown over k x the validated one
    WRONG_ACCOUNT = "wrong_account"  # the intent's account is not the one its stage trades
    EXECUTION_NOT_READY = "execution_not_ready"  # reconciling, VPN down, or silent
    ACTION_BUDGET = "action_budget"  # the venue's per-address action budget is nearly spent


class OrderApproved(OrderPathMessage, frozen=True, kw_only=True):
    """Risk's yes: the matching `SubmitOrder` goes out on `exec.cmd.{account}.{coin}`."""

    intent_id: Ident
    strategy_id: Ident
    command_id: Ident
    account: Account = "paper"
    # the figures the checks saw, as exact decimal strings (e.g. {"equity": "10000.00"})
    numbers: dict[str, str] = {}


class OrderDenied(OrderPathMessage, frozen=True, kw_only=True):
    """Risk's no, with a stable reason code and the numbers behind it."""

    intent_id: Ident
    strategy_id: Ident
    reason: DenyReason
    detail: str = ""
    account: Account = "paper"
    # the numbers behind the refusal, exact decimal strings: {"value": ..., "limit": ...}
    numbers: dict[str, str] = {}


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
    account: Account = "paper"
    origin: CommandOrigin = ""  # refused by execution when empty
    trigger_price: Money | None = None  # kind "trigger": the stop's trigger (USD)
    tpsl: Literal["sl", "tp"] = "sl"
    post_only_s: float = 0.0  # rest post-only this long (s) first, then IOC; 0 = IOC at once
    reference_price: Money | None = None  # the price the intent was decided at (USD)


class CancelOrder(OrderPathMessage, frozen=True, kw_only=True):
    command_id: Ident
    coin: Ident
    cloid: Cloid
    strategy_id: str = ""
    account: Account = "paper"
    origin: CommandOrigin = ""


class OrderSubmitted(OrderPathMessage, frozen=True, kw_only=True):
    """Execution sent the order to the venue (the state machine's first state)."""

    command_id: Ident
    coin: Ident
    cloid: Cloid
    strategy_id: str = ""
    account: Account = "paper"
    intent_id: str = ""
    side: Side = "buy"
    size: Money = Money(0)  # after rounding to the venue's lot size
    limit_price: Money | None = None  # after rounding to the venue's tick rules


class OrderAccepted(OrderPathMessage, frozen=True, kw_only=True):
    """The venue acknowledged the order (resting or about to fill)."""

    command_id: Ident
    coin: Ident
    cloid: Cloid
    venue_order_id: int
    strategy_id: str = ""
    account: Account = "paper"


class OrderRejected(OrderPathMessage, frozen=True, kw_only=True):
    command_id: Ident
    coin: Ident
    cloid: Cloid
    reason: str  # the venue's text, verbatim
    retryable: bool = False
    strategy_id: str = ""
    account: Account = "paper"


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
    account: Account = "paper"
    remaining: Money = Money(0)  # of the order, after this fill (coins)
    time_ms: int = 0  # the venue's fill time (ms)
    # "reconciled": found at the venue after the fact (a fill missed while down, a trigger, a
    # liquidation, an order placed by hand), not heard live
    source: Literal["live", "reconciled", "liquidation"] = "live"


class OrderCanceled(OrderPathMessage, frozen=True, kw_only=True):
    command_id: str = ""
    coin: Ident
    cloid: Cloid
    venue_order_id: int = 0
    reason: str = ""
    strategy_id: str = ""
    account: Account = "paper"
    filled: Money = Money(0)  # of the order before it ended (coins)


class OrderExpired(OrderPathMessage, frozen=True, kw_only=True):
    """The order's time ran out unfilled or partly filled: an IOC remainder, a post-only timeout,
    or an order the venue never heard of after the lookup by cloid (declared lost)."""

    command_id: str = ""
    coin: Ident
    cloid: Cloid
    reason: str = ""
    strategy_id: str = ""
    account: Account = "paper"
    filled: Money = Money(0)


class PositionReport(OrderPathMessage, frozen=True, kw_only=True):
    """The venue's view of one position, after reconciliation."""

    coin: Ident
    size: Money  # signed, in coins: positive long, negative short
    entry_price: Money | None = None
    unrealized_pnl: Money = Money(0)
    margin_used: Money = Money(0)
    leverage: float = 1.0
    account_value: Money | None = None
    account: Account = "paper"
    liquidation_price: Money | None = None
    mark_price: Money | None = None


class AccountReport(OrderPathMessage, frozen=True, kw_only=True):
    """The account at the venue after reconciliation (`exec.account.{account}`), every minute and
    on every change. Risk's equity, high-water mark and daily loss exclude `net_transfers`."""

    account: Account
    equity: Money  # account value, USD
    margin_used: Money = Money(0)
    total_notional: Money = Money(0)  # sum of |position| x mark, USD
    withdrawable: Money = Money(0)
    # deposits minus withdrawals and transfers since the venue's ledger began (USD)
    net_transfers: Money = Money(0)
    positions: dict[str, Money] = {}  # coin -> signed size (coins)


class ExecutionStatus(Message, frozen=True, kw_only=True):
    """Execution's readiness per account (`exec.status.{account}`, every heartbeat): risk halts
    the account while it is not `ready` or goes silent."""

    account: Account
    state: Literal["starting", "reconciling", "ready", "not_ready"]
    reason: str = ""
    vpn_ok: bool = True
    actions_left: int = -1  # the venue's per-address action budget left; -1 = unknown
    weight_used: int = 0  # request weight used in the current minute
    dead_man_ms: int = 0  # when the venue's dead-man switch fires (ms); 0 = not armed
    open_orders: int = 0


class ReconciliationEvent(OrderPathMessage, frozen=True, kw_only=True):
    """Something execution found at the venue that it did not do, or did not hear of:
    `exec.event.{account}.reconciled.{coin}`. Never a ghost: every difference becomes one."""

    account: Account
    coin: Ident
    kind: Literal[
        "unknown_order",  # an open order at the venue we never sent (placed by hand?)
        "missed_fill",  # a fill found by REST, published as OrderFilled(source="reconciled")
        "position_mismatch",  # the venue's position differs from the fills we know
        "liquidation",
        "dead_man_fired",  # the venue's scheduled cancel took our orders
        "order_lost",  # unacknowledged, and the venue does not know the cloid
        "order_closed",  # an order we thought open is gone (canceled or filled elsewhere)
    ]
    detail: str = ""
    cloid: str = ""
    venue_order_id: int = 0
    size: Money | None = None  # the difference in coins, when there is one


class DeactivationRequested(OrderPathMessage, frozen=True, kw_only=True):
    """Risk found a strategy's drawdown over k x its validated maximum drawdown
    (`risk.deactivate.{strategy_id}`): its intents are denied from now on, and the lifecycle
    decides what happens to its stage."""

    strategy_id: Ident
    account: Account
    drawdown: float  # the strategy's drawdown from its own high-water mark, fraction
    limit: float  # k x validated maximum drawdown, fraction
    validated_max_drawdown: float
    reason: str = ""


class FlattenRequested(OrderPathMessage, frozen=True, kw_only=True):
    """Positions are being closed by risk (a breaker, the kill switch) or the operator
    (`risk.flatten.{account}`): the trader zeroes the virtual positions it covers, so it never
    buys back what was sold. Empty `coin` / `strategy_id` = all of them."""

    account: Account
    by: Literal["risk", "operator"]
    reason: str
    coin: str = ""
    strategy_id: str = ""
