"""A limit order book for one coin: price levels, price-time priority, partial fills.

Pure and synchronous. The book only holds resting orders and answers "who trades against an
incoming order, in which order"; money and positions are the accounts' business.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(slots=True)
class Order:
    """A resting or incoming order. Sizes in coin units, prices in USD, times in ms."""

    oid: int
    coin: str
    asset: int
    user: str
    is_buy: bool
    px: Decimal
    sz: Decimal  # remaining
    orig_sz: Decimal
    tif: str  # Gtc | Ioc | Alo | FrontendMarket (triggered market orders)
    reduce_only: bool = False
    cloid: str | None = None
    timestamp: int = 0
    trigger_px: Decimal | None = None
    tpsl: str | None = None  # "tp" | "sl" for trigger orders
    is_market: bool = False
    is_synthetic: bool = False  # the simulator's own liquidity
    is_position_tpsl: bool = False  # a TP/SL attached to the position (grouping positionTpsl)
    count: int = 1  # orders it stands for in l2Book's `n` (a mirrored or imported level)

    @property
    def side(self) -> str:
        return "B" if self.is_buy else "A"


@dataclass(slots=True)
class _Side:
    is_bid: bool
    prices: list[Decimal] = field(default_factory=list)  # ascending keys (negated for bids)
    levels: dict[Decimal, deque[Order]] = field(default_factory=dict)

    def _key(self, px: Decimal) -> Decimal:
        return -px if self.is_bid else px

    def add(self, order: Order) -> None:
        level = self.levels.get(order.px)
        if level is None:
            level = deque()
            self.levels[order.px] = level
            bisect.insort(self.prices, self._key(order.px))
        level.append(order)

    def remove(self, order: Order) -> bool:
        level = self.levels.get(order.px)
        if level is None:
            return False
        try:
            level.remove(order)
        except ValueError:
            return False
        if not level:
            self._drop_level(order.px)
        return True

    def _drop_level(self, px: Decimal) -> None:
        del self.levels[px]
        i = bisect.bisect_left(self.prices, self._key(px))
        del self.prices[i]

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        k = self.prices[0]
        return -k if self.is_bid else k

    def iter_levels(self):
        for k in self.prices:
            px = -k if self.is_bid else k
            yield px, self.levels[px]

    def pop_empty_front(self) -> None:
        while self.prices:
            px = self.best()
            assert px is not None
            if self.levels[px]:
                return
            self._drop_level(px)


class Book:
    """Resting orders of one coin. Bids best (highest) first, asks best (lowest) first."""

    def __init__(self, coin: str) -> None:
        self.coin = coin
        self.bids = _Side(is_bid=True)
        self.asks = _Side(is_bid=False)
        self.by_oid: dict[int, Order] = {}

    def side(self, is_buy: bool) -> _Side:
        return self.bids if is_buy else self.asks

    def add(self, order: Order) -> None:
        self.side(order.is_buy).add(order)
        self.by_oid[order.oid] = order

    def remove(self, order: Order) -> bool:
        self.by_oid.pop(order.oid, None)
        return self.side(order.is_buy).remove(order)

    def best_bid(self) -> Decimal | None:
        return self.bids.best()

    def best_ask(self) -> Decimal | None:
        return self.asks.best()

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def crosses(self, is_buy: bool, px: Decimal) -> bool:
        """Would an order at `px` trade immediately?"""
        best = self.best_ask() if is_buy else self.best_bid()
        if best is None:
            return False
        return px >= best if is_buy else px <= best

    def next_maker(self, is_buy: bool, px: Decimal) -> Order | None:
        """The resting order an incoming order at `px` meets first (price, then time), if any."""
        opposite = self.side(not is_buy)
        opposite.pop_empty_front()
        best = opposite.best()
        if best is None:
            return None
        if (is_buy and best > px) or (not is_buy and best < px):
            return None
        return opposite.levels[best][0]

    def fill_maker(self, maker: Order, sz: Decimal) -> None:
        maker.sz -= sz
        if maker.sz <= 0:
            self.remove(maker)

    def levels(self, depth: int = 20) -> tuple[list[tuple[Decimal, Decimal, int]], list[tuple[Decimal, Decimal, int]]]:
        """(bids, asks), each up to `depth` levels of (px, total size, order count)."""
        out = []
        for side in (self.bids, self.asks):
            rows = []
            for px, level in side.iter_levels():
                if not level:
                    continue
                rows.append((px, sum((o.sz for o in level), Decimal(0)), sum(o.count for o in level)))
                if len(rows) >= depth:
                    break
            out.append(rows)
        return out[0], out[1]

    def orders(self) -> list[Order]:
        return list(self.by_oid.values())
