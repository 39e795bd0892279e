"""Cross-margin accounts: cash, positions, realised PnL, fees, funding, margin and liquidation.

Pure and synchronous; prices and money are Decimal. The identity that tests hold us to:
cash = deposits + Σ closedPnl − Σ fees − Σ funding paid + bad debt covered, and
accountValue = cash + Σ szi·(mark − entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
# The simulator's own liquidity provider (and liquidation backstop): margin-exempt, never a signer.
MARKET_MAKER = "0x00000000000000000000000000000000000000aa"


@dataclass(slots=True)
class Position:
    szi: Decimal = ZERO  # signed size, coin units
    entry_px: Decimal = ZERO
    cum_funding_all: Decimal = ZERO  # USDC paid (+) or received (−) over the position's life
    cum_funding_open: Decimal = ZERO
    cum_funding_change: Decimal = ZERO


@dataclass(slots=True)
class FillResult:
    start_position: Decimal
    direction: str
    closed_pnl: Decimal


@dataclass(slots=True)
class Account:
    address: str
    cash: Decimal = ZERO
    deposits: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_paid: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    bad_debt_covered: Decimal = ZERO  # losses beyond the account's money, taken over by the backstop
    volume: Decimal = ZERO  # USD notional traded, for the address action budget
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    exempt: bool = False  # the simulator's market maker: never margin-checked or liquidated

    def deposit(self, usdc: Decimal) -> None:
        self.cash += usdc
        self.deposits += usdc

    def position(self, coin: str) -> Position:
        pos = self.positions.get(coin)
        if pos is None:
            pos = Position()
            self.positions[coin] = pos
        return pos

    def szi(self, coin: str) -> Decimal:
        pos = self.positions.get(coin)
        return pos.szi if pos else ZERO

    def apply_fill(self, coin: str, is_buy: bool, px: Decimal, sz: Decimal, fee: Decimal) -> FillResult:
        """Book a fill of `sz` at `px` with `fee` (USDC); returns what userFills reports."""
        pos = self.position(coin)
        start = pos.szi
        delta = sz if is_buy else -sz
        closed = ZERO
        if start == 0 or (start > 0) == is_buy:
            # Opening or adding: entry is the size-weighted average.
            new = start + delta
            pos.entry_px = (abs(start) * pos.entry_px + sz * px) / abs(new)
            pos.szi = new
        else:
            closing = min(sz, abs(start))
            sign = 1 if start > 0 else -1
            closed = closing * (px - pos.entry_px) * sign
            pos.szi = start + delta
            if pos.szi == 0:
                pos.entry_px = ZERO
            elif (pos.szi > 0) != (start > 0):
                pos.entry_px = px  # flipped: the remainder opens at the fill price
                pos.cum_funding_open = ZERO
        self.cash += closed - fee
        self.realized_pnl += closed
        self.fees_paid += fee
        self.volume += sz * px
        if pos.szi == 0:
            pos.cum_funding_open = ZERO
        return FillResult(start_position=start, direction=direction(start, is_buy, pos.szi), closed_pnl=closed)

    def pay_funding(self, coin: str, amount: Decimal) -> None:
        """`amount` USDC leaves the account (negative: it arrives)."""
        pos = self.position(coin)
        self.cash -= amount
        self.funding_paid += amount
        pos.cum_funding_all += amount
        pos.cum_funding_open += amount
        pos.cum_funding_change += amount

    def leverage_of(self, coin: str, max_leverage: int) -> int:
        return self.leverage.get(coin, min(20, max_leverage))

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (p.szi * (marks[c] - p.entry_px) for c, p in self.positions.items() if p.szi != 0), ZERO
        )

    def account_value(self, marks: dict[str, Decimal]) -> Decimal:
        return self.cash + self.unrealized(marks)

    def notional(self, marks: dict[str, Decimal]) -> Decimal:
        return sum((abs(p.szi) * marks[c] for c, p in self.positions.items() if p.szi != 0), ZERO)

    def margin_used(self, marks: dict[str, Decimal], max_lev: dict[str, int]) -> Decimal:
        return sum(
            (
                abs(p.szi) * marks[c] / self.leverage_of(c, max_lev[c])
                for c, p in self.positions.items()
                if p.szi != 0
            ),
            ZERO,
        )

    def maintenance_margin(self, marks: dict[str, Decimal], max_lev: dict[str, int]) -> Decimal:
        """Half the initial margin at max leverage (Hyperliquid's rule for the base tier)."""
        return sum(
            (abs(p.szi) * marks[c] / (2 * max_lev[c]) for c, p in self.positions.items() if p.szi != 0),
            ZERO,
        )


def direction(start: Decimal, is_buy: bool, end: Decimal) -> str:
    """userFills' `dir`: Open Long, Close Short, Long > Short, ..."""
    if start == 0 or (start > 0) == is_buy:
        return "Open Long" if is_buy else "Open Short"
    if end != 0 and (end > 0) != (start > 0):
        return "Short > Long" if is_buy else "Long > Short"
    return "Close Short" if is_buy else "Close Long"


def liquidation_px(account: Account, coin: str, marks: dict[str, Decimal], max_lev: dict[str, int]) -> Decimal | None:
    """The mark of `coin` at which the account value meets maintenance margin, others fixed."""
    pos = account.positions.get(coin)
    if pos is None or pos.szi == 0:
        return None
    value = account.account_value(marks)
    maint = account.maintenance_margin(marks, max_lev)
    mark = marks[coin]
    # d(value)/d(mark) = szi ; d(maint)/d(mark) = |szi| / (2·maxLev)
    slope = pos.szi - abs(pos.szi) / (2 * max_lev[coin])
    if slope == 0:
        return None
    px = mark - (value - maint) / slope
    return px if px > 0 else None
