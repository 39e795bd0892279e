"""What risk knows, as plain values: per account a book (kept in KV, survives restarts), per
account what it hears live (execution's status, throttles; rebuilt after a restart), the market
view, and the registry.

Positions are exact Decimals in coins, signed (long > 0). An order risk approved counts as
exposure from the approval until execution reports its end (filled, canceled, expired, rejected),
so two intents decided before the first fill cannot together pass a limit each passes alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import msgspec

from agents.risk.config import Feed, RiskSection
from schemas import (
    OPERATOR,
    Account,
    ExecutionStatus,
    OrderApproved,
    OrderDenied,
    RegistryEntry,
    SubmitOrder,
)
from schemas.system import TradingStateName

ZERO = Decimal(0)
DAY_NS = 86_400 * 10**9
SEVERITY: dict[str, int] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
RISK = "risk"  # the strategy id of risk's own flatten orders


class Now(msgspec.Struct, frozen=True):
    """The two times risk works with: the organism's clock (days, ages; replayed markets count
    their own) and the wall clock (throttles, heartbeats). Both ns since the epoch."""

    clock: int
    wall: int

    @property
    def day(self) -> int:
        return self.clock // DAY_NS


class Trip(msgspec.Struct, frozen=True, kw_only=True):
    """A latched breaker: it holds until the operator resumes (or `until`, on the organism's
    clock, for the daily-loss halt)."""

    breaker: str  # kill_switch | max_drawdown | daily_loss | exchange_errors
    state: Literal["REDUCING", "HALTED"]
    cause: str
    since: int
    until: int = 0  # ns; 0 = until `organism resume`
    flatten: bool = False


class OpenOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An approved order execution has not reported the end of yet."""

    command_id: str
    cloid: str
    strategy_id: str
    coin: str
    remaining: Decimal  # signed, coins
    at_wall: int  # ns
    origin: Literal["intent", "flatten"] = "intent"
    resting: bool = False  # may rest at the venue (Gtc/Alo limit, post-only): cancel on flatten


class StrategyBook(msgspec.Struct, frozen=True, kw_only=True):
    """One strategy in one account, from its own fills: position, PnL, trades today."""

    positions: dict[str, Decimal] = {}
    cash: Decimal = ZERO  # realised cash flow net of fees (USD): sells add, buys and fees take
    peak_pnl: Decimal = ZERO  # highest PnL seen (USD)
    drawdown: float = 0.0  # last measured (fraction of its capital)
    day: int = -1  # organism-clock day of trades_today
    trades_today: int = 0
    deactivated: str = ""  # why risk stopped its new exposure; "" = trading
    deactivated_at: int = 0
    deactivations: int = 0  # how many times (msg ids of DeactivationRequested)
    flag_seen: bool = False  # the registry's `deactivated` flag was seen set since

    def pnl(self, marks: Mapping[str, Decimal]) -> Decimal | None:
        total = self.cash
        for coin, size in self.positions.items():
            if size:
                mark = marks.get(coin)
                if mark is None:
                    return None
                total += size * mark
        return total


class AccountBook(msgspec.Struct, frozen=True, kw_only=True):
    """One account as risk keeps it (KV `risk`, key `book.{account}`)."""

    account: Account
    trips: dict[str, Trip] = {}
    equity: Decimal | None = None  # the venue's account value (USD)
    net_transfers: Decimal = ZERO  # deposits - withdrawals - transfers (USD)
    peak_pnl: Decimal | None = None  # highest equity - net_transfers seen
    last_pnl: Decimal | None = None
    day: int = -1  # organism-clock day of day_start_*
    day_start_pnl: Decimal | None = None
    day_start_equity: Decimal | None = None
    positions: dict[str, Decimal] = {}  # the venue's, signed coins
    liquidation: dict[str, Decimal] = {}  # the venue's liquidation price per coin (USD)
    open_orders: dict[str, OpenOrder] = {}  # by command id
    strategies: dict[str, StrategyBook] = {}
    flatten_seq: int = 0
    flattening: str = ""  # why positions are being closed; "" = not
    flatten_by: Literal["risk", "operator"] = "risk"
    last_flatten_wall: int = 0
    events_seq: int = 0  # last EXEC_EVENTS stream sequence applied
    # the trading state last published (risk.state.{account}) and how many changes so far
    state: TradingStateName = "ACTIVE"
    cause: str = ""
    breaker: str = ""
    until: int = 0
    state_seq: int = 0

    def pnl_now(self) -> Decimal | None:
        return None if self.equity is None else self.equity - self.net_transfers

    def high_water(self) -> Decimal | None:
        """The high-water mark of equity with today's transfers: a withdrawal lowers equity and
        the mark alike, so it never reads as a drawdown."""
        return None if self.peak_pnl is None else self.peak_pnl + self.net_transfers

    def strategy(self, strategy_id: str) -> StrategyBook:
        return self.strategies.get(strategy_id) or StrategyBook()


@dataclass(frozen=True)
class AccountLive:
    """What risk hears about an account while it runs (not kept: a restart hears it again)."""

    status: ExecutionStatus | None = None
    status_wall: int = 0  # when execution's status was last heard (wall ns)
    heartbeat_wall: int = 0  # when execution's heartbeat was last heard (wall ns)
    rejections: tuple[int, ...] = ()  # wall ns of recent exchange rejections
    orders: tuple[int, ...] = ()  # wall ns of recent approvals (the order-rate throttle)


@dataclass(frozen=True)
class Quote:
    mark: Decimal  # USD
    at: int  # organism clock ns


@dataclass(frozen=True)
class MarketView:
    quotes: Mapping[str, Quote] = field(default_factory=dict)
    volume: Mapping[str, Decimal] = field(default_factory=dict)  # 24 h notional (USD)
    md_heartbeat_wall: int = 0
    stale: Mapping[str, str] = field(default_factory=dict)  # "stream:coin" -> what md.status said

    def marks(self) -> dict[str, Decimal]:
        return {coin: q.mark for coin, q in self.quotes.items()}


@dataclass(frozen=True)
class RiskState:
    """Everything `decide` and the breakers read. Replaced, never changed in place."""

    config: RiskSection
    feed: Feed = "sim"
    default_weight: float = 0.1
    books: Mapping[str, AccountBook] = field(default_factory=dict)
    live: Mapping[str, AccountLive] = field(default_factory=dict)
    market: MarketView = field(default_factory=MarketView)
    registry: Mapping[str, RegistryEntry] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    started_wall: int = 0

    def book(self, account: str) -> AccountBook:
        return self.books.get(account) or AccountBook(account=account)  # type: ignore[arg-type]

    def live_of(self, account: str) -> AccountLive:
        return self.live.get(account) or AccountLive()

    def with_book(self, book: AccountBook) -> "RiskState":
        return _replace(self, books={**self.books, book.account: book})

    def with_live(self, account: str, live: AccountLive) -> "RiskState":
        return _replace(self, live={**self.live, account: live})

    def weight(self, strategy_id: str) -> float:
        return self.weights.get(strategy_id, self.default_weight)


@dataclass(frozen=True)
class Out:
    """A message to publish durably, with the Nats-Msg-Id that makes a retry harmless."""

    subject: str
    message: Any
    msg_id: str


def _replace(obj, **changes):
    return dataclasses.replace(obj, **changes)


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The one decision an intent got (KV `risk_decisions`, keyed by intent id)."""

    decision: OrderApproved | OrderDenied
    command: SubmitOrder | None = None
    published: bool = False  # decision and command are on the bus


def signed(side: str, size: Decimal) -> Decimal:
    return size if side == "buy" else -size


def pending(book: AccountBook, coin: str, strategy_id: str | None = None) -> Decimal:
    """Signed coins of the approved orders not yet ended (of one strategy, or all)."""
    return sum((o.remaining for o in book.open_orders.values()
                if o.coin == coin and (strategy_id is None or o.strategy_id == strategy_id)),
               ZERO)


def account_position(book: AccountBook, coin: str) -> Decimal:
    """The account's position in `coin` once every open order fills (signed coins)."""
    return book.positions.get(coin, ZERO) + pending(book, coin)


def strategy_position(book: AccountBook, strategy_id: str, coin: str) -> Decimal:
    """A strategy's position in `coin` once its open orders fill. The operator's position, for
    deciding what reduces, is the account's: `organism order` may close anything."""
    if strategy_id == OPERATOR:
        return account_position(book, coin)
    return book.strategy(strategy_id).positions.get(coin, ZERO) + pending(book, coin, strategy_id)


def reduces(before: Decimal, delta: Decimal) -> bool:
    """Whether adding `delta` moves a position toward zero without crossing it."""
    return before != 0 and delta != 0 and (before > 0) != (delta > 0) and abs(delta) <= abs(before)


def day_roll(s: StrategyBook, day: int) -> StrategyBook:
    return s if s.day == day else msgspec.structs.replace(s, day=day, trades_today=0)
