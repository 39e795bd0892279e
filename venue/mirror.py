"""The local exchange as a mirror of a real venue (`market = "mirror:URL"`): paper orders meet a
Hyperliquid-compatible venue's public book, trades, marks and funding, and never reach it.

Pure, as the rest of the core: this module holds what the source last said and applies it to the
exchange; venue.mirror_feed does the I/O (websocket, REST, the staleness clock) and calls it.

What a paper order meets on a mirror:
- **The source's book** (its ≤ 20 levels a side, sizes and order counts) as the exchange's own
  liquidity, replaced whenever the source sends a newer book. An order that crosses takes it at
  the source's prices, level by level, and pays the configured fees (Hyperliquid's base tier by
  default). What it took stays taken until the source's next book: the order never reached the
  source, so that book restores the liquidity (no market impact of our own on the source, and
  none that lasts on the mirror).
- **Resting orders** fill at their own price when the source's book crosses them (requote, as on
  every market of the local exchange), or when the source trades strictly beyond their price, up
  to the trade's size (`trade_through`): a trade *at* their price would have needed a queue
  position nobody can know, so it fills nothing.
- **Marks** are the source's markPx (margin, triggers, liquidation), the oracle its oraclePx; the
  asset context (/info metaAndAssetCtxs, activeAssetCtx) is the source's.
- **Funding** is the source's: each hourly row the source publishes (fundingHistory) is paid to
  the mirror's positions at its rate and the source's oracle price; the exchange's own funding
  formula is off.
- **Stale** (decided here): a coin whose book the source has not confirmed for
  `mirror.stale_after_s` (no push, no REST answer) has its liquidity withdrawn
  and every new order on it refused with a text naming the source and the reason; resting
  orders stay but cannot fill (the book they would meet is gone), triggers cannot fire (marks
  stop), and the first fresh book brings everything back. Until the first book arrives, every
  coin is stale. The feed logs each change as an error or a recovery.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from venue import upkeep
from venue.accounts import MARKET_MAKER
from venue.book import Order
from venue.config import SimConfig
from venue.market import Market

if TYPE_CHECKING:
    from venue.engine import Exchange

MIRROR = "mirror:"
WAITING = "no book from the source yet"
# Fields of the source's asset context the mirror shows as its own (midPx and the book are ours).
CTX_FIELDS = ("funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx",
              "markPx", "impactPxs", "dayBaseVlm")
TRADES_REMEMBERED = 2000  # per coin, to apply a trade pushed twice once

Level = tuple[Decimal, Decimal, int]  # px, size, order count


def is_mirror(spec: str) -> bool:
    return spec.startswith(MIRROR)


def source_url(spec: str) -> str:
    """The REST base URL of a `mirror:URL` market spec (http or https, no trailing slash)."""
    url = spec[len(MIRROR):].strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ValueError(f"market {spec!r}: mirror:URL needs the REST base URL of a "
                         "Hyperliquid-compatible venue, e.g. mirror:https://api.hyperliquid.xyz")
    return url


def _level(wire: dict) -> Level:
    return Decimal(str(wire["px"])), Decimal(str(wire["sz"])), int(wire.get("n", 1) or 1)


class MirrorMarket(Market):
    """What the source last said: per coin its book (and that book's source time), its asset
    context, whether it is stale and why."""

    funding_from_source = True

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.source = source_url(config.market)
        self.books: dict[str, tuple[list[Level], list[Level]]] = {}
        self.book_time: dict[str, int] = {}  # source ms of the newest book taken, per coin
        self.oracle: dict[str, Decimal] = dict(self.fair)
        self.ctx: dict[str, dict] = {}
        self.stale: dict[str, str] = {coin: WAITING for coin in self.fair}
        self.dirty: set[str] = set(self.fair)  # coins whose liquidity must be requoted
        self.source_time_ms = 0  # the newest source time seen (books, trades)
        self.trade_horizon: dict[str, int] = {}  # trades at or before this source ms are old
        self.seen_trades: dict[str, OrderedDict[tuple[Any, Any], None]] = {
            coin: OrderedDict() for coin in self.fair}

    # ------------------------------------------------------------------ what the source says
    def apply_book(self, data: dict) -> bool:
        """Take an l2Book snapshot; True when it is newer than the one held (a confirmation)."""
        coin = data.get("coin")
        if coin not in self.fair:
            return False
        t = int(data["time"])
        if t <= self.book_time.get(coin, -1):
            return False
        bids, asks = data["levels"]
        self.books[coin] = ([_level(lvl) for lvl in bids], [_level(lvl) for lvl in asks])
        self.book_time[coin] = t
        self.source_time_ms = max(self.source_time_ms, t)
        if coin not in self.ctx:  # no mark from the source yet: its book's mid
            book = self.books[coin]
            if book[0] and book[1]:
                self.fair[coin] = (book[0][0][0] + book[1][0][0]) / 2
        self.dirty.add(coin)
        return True

    def apply_ctx(self, coin: str, ctx: dict) -> None:
        """Take the source's asset context: marks, oracle, funding and the day's figures."""
        if coin not in self.fair or not isinstance(ctx, dict):
            return
        self.ctx[coin] = ctx
        if ctx.get("markPx"):
            self.fair[coin] = Decimal(str(ctx["markPx"]))
        if ctx.get("oraclePx"):
            self.oracle[coin] = Decimal(str(ctx["oraclePx"]))

    def new_trades(self, coin: str, trades: list[dict]) -> list[dict]:
        """The trades not applied before: after the horizon set at (re)subscription (a venue
        may send recent trades as a snapshot) and not seen already."""
        if coin not in self.fair:
            return []
        horizon = self.trade_horizon.get(coin, 0)
        seen = self.seen_trades[coin]
        out = []
        for trade in trades:
            t = int(trade["time"])
            key = (trade.get("tid"), trade.get("hash"))
            if t <= horizon or key in seen:
                continue
            seen[key] = None
            if len(seen) > TRADES_REMEMBERED:
                seen.popitem(last=False)
            self.source_time_ms = max(self.source_time_ms, t)
            out.append(trade)
        return out

    def set_stale(self, coin: str, reason: str) -> bool:
        """Withdraw the coin's liquidity and refuse its orders; True if it was fresh."""
        was_fresh = coin not in self.stale
        self.stale[coin] = reason
        if was_fresh:
            self.dirty.add(coin)
        return was_fresh

    def set_fresh(self, coin: str) -> bool:
        """The source confirmed the coin's book; True if it was stale."""
        if self.stale.pop(coin, None) is None:
            return False
        self.dirty.add(coin)
        return True

    # ------------------------------------------------------------------ the Market interface
    def step(self) -> dict[str, Decimal]:
        return dict(self.fair)  # prices move only when the source says so

    def record(self, now_ms: int) -> None:
        """Candles come from the source's trades (and our own fills), not from ticks."""

    def jump(self, coin: str, px: Decimal) -> None:
        raise ValueError(f"this exchange mirrors {self.source}: its prices follow the source "
                         "(move the source instead)")

    def ladder(self, coin: str):
        if coin in self.stale or coin not in self.books:
            return [], []
        return self.books[coin]

    def needs_requote(self, coin: str) -> bool:
        if coin in self.dirty:
            self.dirty.discard(coin)
            return True
        return False

    def halt_reason(self, coin: str) -> str | None:
        reason = self.stale.get(coin)
        if reason is None:
            return None
        return (f"Mirrored market data for {coin} is stale ({reason}; source {self.source}): "
                "no orders at stale prices.")

    def asset_ctx(self, coin: str) -> dict:
        ctx = self.ctx.get(coin)
        if not ctx:
            return {}
        return {k: ctx[k] for k in CTX_FIELDS if k in ctx}


# ---------------------------------------------------------------------- applied to the exchange
def apply_trades(ex: Exchange, market: MirrorMarket, coin: str, trades: list[dict],
                 trade_through: bool, now_ms: int) -> Decimal:
    """The source's new trades on `coin`: into the candles, onto the mirror's trades channel,
    and (with `trade_through`) through resting orders they passed. Returns the size filled."""
    new = market.new_trades(coin, trades)
    filled = Decimal(0)
    if not new:
        return filled
    ex.outbox.append(("trades", coin, new))
    for trade in new:
        px, sz = Decimal(str(trade["px"])), Decimal(str(trade["sz"]))
        market.candles.update(coin, px, int(trade["time"]), volume=sz, trades=1)
        if trade_through:
            filled += fill_through(ex, coin, buyer_took=trade["side"] == "B", px=px, sz=sz,
                                   now_ms=now_ms)
    return filled


def fill_through(ex: Exchange, coin: str, buyer_took: bool, px: Decimal, sz: Decimal,
                 now_ms: int) -> Decimal:
    """A source trade at `px` of `sz`, the buyer the taker (`buyer_took`) or the seller: our
    resting orders on the side it hit, priced strictly better than `px` (asks below it for a
    buyer, bids above it for a seller), fill at their own price in price-time order, up to `sz`.
    Returns the size filled."""
    book = ex.books[coin]
    side = book.asks if buyer_took else book.bids
    makers = []
    for level_px, level in side.iter_levels():
        if (buyer_took and level_px >= px) or (not buyer_took and level_px <= px):
            break
        makers.extend(o for o in level if not o.is_synthetic)
    left = sz
    for maker in makers:
        if left <= 0:
            break
        take = min(left, maker.sz)
        if maker.reduce_only:
            szi = ex.accounts[maker.user].szi(coin)
            if szi == 0 or (szi > 0) == maker.is_buy:
                ex.cancel_order(maker, "reduceOnlyCanceled", now_ms)
                continue
            take = min(take, abs(szi))
        # The source's other side, standing in as the taker (the exchange's exempt liquidity).
        taker = Order(oid=ex.new_oid(), coin=coin, asset=ex.asset_of[coin], user=MARKET_MAKER,
                      is_buy=buyer_took, px=px, sz=take, orig_sz=take, tif="Ioc",
                      timestamp=now_ms, is_synthetic=True)
        trade = ex.fill(taker, maker, maker.px, take, now_ms)
        ex.outbox.append(("trades", coin, [trade]))
        left -= take
    return sz - left


def pay_source_funding(ex: Exchange, market: MirrorMarket, row: dict) -> None:
    """One of the source's hourly funding rows, paid to the mirror's positions at the source's
    oracle price and recorded in the mirror's own fundingHistory."""
    coin = str(row["coin"])
    if coin not in market.fair:
        return
    upkeep.pay_funding(ex, coin, Decimal(str(row["fundingRate"])),
                       Decimal(str(row.get("premium") or 0)), market.oracle[coin], int(row["time"]))
