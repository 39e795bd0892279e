"""A strategy's virtual position and its orders in flight (the trader's KV value `s.{id}`).

The position is the sum of the fills attributed to the strategy (by strategy id and cloid); the
target is what its last decision wants; an order goes out for target - position - what is still
in flight. Each intent is remembered until it ends (denied, rejected, canceled, expired or filled)
and until the backtest's assumed fill for it is known (the next bar's open, or the stop level),
so slippage against the decision's price and tracking error against the backtest's fill are
measured per strategy. Exact Decimal for positions and money; pure.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import msgspec

from agents.trader.model import Model
from schemas import OrderFilled, OrderIntent, cloid_for

ZERO = Decimal(0)
COIN_STEP = Decimal("0.00000001")  # targets are rounded toward zero to 1e-8 coin
KEEP_FILL_IDS = 256  # recent fill ids per strategy: a redelivered fill is applied once
KEEP_TRADES = 500  # closed live trades kept for the live-versus-backtest figures


class Working(msgspec.Struct, frozen=True, kw_only=True):
    """One intent the trader sent for a strategy, until it ended and its fills were measured."""

    intent_id: str
    cloid: str
    delta: Decimal  # signed coins asked
    reference: Decimal  # the decision's price (the bar's close, or the mid that hit a level)
    bar_ms: int  # open time of the bar it was decided on (ms)
    kind: str  # entry | exit | stop | adjust | close | flatten
    sent_ns: int
    filled: Decimal = ZERO  # signed coins filled so far
    cost: Decimal = ZERO  # sum of fill size x price (USD)
    fees: Decimal = ZERO
    assumed: float = 0.0  # the backtest's fill price; 0 = not known yet (the next bar's open)
    ended: str = ""  # why nothing more will fill: filled, denied, rejected, canceled, expired

    @property
    def outstanding(self) -> Decimal:
        return ZERO if self.ended else self.delta - self.filled


class Tracking(msgspec.Struct, frozen=True, kw_only=True):
    """Live fills against the decision's price and the backtest's assumed fills, in bps
    (positive = worse for the strategy)."""

    orders: int = 0  # intents measured (they filled and the backtest's price is known)
    fills: int = 0
    filled_notional: Decimal = ZERO  # USD
    fees: Decimal = ZERO  # USD
    slippage_bps_sum: float = 0.0  # notional-weighted sum of (fill vs decision price)
    tracking_bps_sum: float = 0.0  # ... of (fill vs the backtest's fill)
    tracking_bps_sq: float = 0.0  # ... of its square
    weight: float = 0.0  # sum of the weights (USD notional)
    denied: int = 0
    unfilled: int = 0  # intents that ended with nothing filled (rejected, canceled, expired)

    @property
    def slippage_bps(self) -> float:
        return self.slippage_bps_sum / self.weight if self.weight else math.nan

    @property
    def tracking_bps(self) -> float:
        return self.tracking_bps_sum / self.weight if self.weight else math.nan

    @property
    def tracking_error_bps(self) -> float:
        """Root mean square of the per-order difference from the backtest's fill."""
        return math.sqrt(self.tracking_bps_sq / self.weight) if self.weight else math.nan

    def summary(self) -> dict:
        def f(x: float) -> float | None:
            return round(x, 3) if math.isfinite(x) else None

        return {"orders": self.orders, "fills": self.fills, "denied": self.denied,
                "unfilled": self.unfilled, "filled_notional_usd": float(self.filled_notional),
                "fees_usd": float(self.fees), "slippage_bps": f(self.slippage_bps),
                "tracking_bps": f(self.tracking_bps),
                "tracking_error_bps": f(self.tracking_error_bps)}


class Book(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    coin: str
    interval: str
    account: str
    model: Model = Model()
    target: Decimal = ZERO  # signed coins the strategy wants
    position: Decimal = ZERO  # signed coins filled for it
    working: list[Working] = []
    last_bar: int = 0  # open time (ms) of the last bar decided; a bar is decided once
    first_bar: int = 0  # the first bar it decided (it started flat there)
    seq: int = 0  # intents sent; the next intent id is f"{strategy_id}-{seq + 1}"
    fills_seen: list[str] = []
    tracking: Tracking = Tracking()
    # the open live trade (for trade returns): average entry price and realised PnL so far
    avg_px: Decimal = ZERO
    trade_pnl: Decimal = ZERO
    trade_cost: Decimal = ZERO  # entry notional of the open trade (USD)
    trade_returns: list[float] = []  # closed live trades, fractions of their entry notional
    decisions: int = 0  # closes decided
    note: str = ""  # the last thing worth telling the operator (an entry not allowed, ...)

    @property
    def outstanding(self) -> Decimal:
        return sum((w.outstanding for w in self.working), ZERO)

    @property
    def wanted(self) -> Decimal:
        """What is still to be ordered: target - position - in flight."""
        return self.target - self.position - self.outstanding


def coins_for(side: int, size: float, weight: float, equity: Decimal, price: Decimal) -> Decimal:
    """Target position (signed coins) = side x sizing gene x weight x equity / price."""
    if side == 0 or price <= 0 or equity <= 0:
        return ZERO
    notional = Decimal(repr(float(size))) * Decimal(repr(float(weight))) * equity
    return (notional / price * side).quantize(COIN_STEP, rounding=ROUND_DOWN)


def order(book: Book, *, price: Decimal, kind: str, reason: str, now_ns: int, bar_ms: int,
          min_notional: Decimal, stop_price: Decimal | None = None, assumed: float = 0.0,
          post_only_s: float = 0.0) -> tuple[Book, OrderIntent | None]:
    """The intent for what is still wanted, or None when nothing is or it is below the venue's
    minimum (a close of the whole position goes out reduce-only instead: the venue exempts it)."""
    delta = book.wanted
    if delta == 0 or price <= 0:
        return book, None
    closing = book.target == 0
    small = abs(delta) * price < min_notional
    if small and not closing:
        return book, None
    seq = book.seq + 1
    intent_id = f"{book.strategy_id}-{seq}"
    w = Working(intent_id=intent_id, cloid=cloid_for(intent_id), delta=delta, reference=price,
                bar_ms=bar_ms, kind=kind, sent_ns=now_ns, assumed=assumed)
    intent = OrderIntent(
        ts_event=now_ns, ts_init=now_ns, correlation_id=intent_id, intent_id=intent_id,
        strategy_id=book.strategy_id, coin=book.coin, side="buy" if delta > 0 else "sell",
        size=abs(delta), kind="market", reduce_only=closing and small,
        target_position=book.target, reason=reason, account=book.account,  # type: ignore[arg-type]
        stop_price=stop_price if delta * book.target > 0 else None, reference_price=price,
        post_only_s=post_only_s, bar_time=bar_ms * 1_000_000)
    return msgspec.structs.replace(book, seq=seq, working=[*book.working, w]), intent


def _find(book: Book, cloid: str = "", intent_id: str = "") -> int:
    for i, w in enumerate(book.working):
        if (cloid and w.cloid == cloid) or (intent_id and w.intent_id == intent_id):
            return i
    return -1


def apply_fill(book: Book, f: OrderFilled) -> Book:
    """A fill attributed to this strategy (once per fill id)."""
    if f.fill_id in book.fills_seen:
        return book
    signed = f.size if f.side == "buy" else -f.size
    working = list(book.working)
    i = _find(book, cloid=f.cloid)
    if i >= 0:
        w = working[i]
        filled = w.filled + signed
        ended = "filled" if f.remaining == 0 or abs(filled) >= abs(w.delta) else w.ended
        working[i] = msgspec.structs.replace(w, filled=filled, cost=w.cost + f.size * f.price,
                                             fees=w.fees + f.fee, ended=ended)
    book = _trade_accounting(book, signed, f.price)
    t = book.tracking
    tracking = msgspec.structs.replace(t, fills=t.fills + 1, fees=t.fees + f.fee,
                                       filled_notional=t.filled_notional + f.size * f.price)
    return msgspec.structs.replace(
        book, position=book.position + signed, working=working, tracking=tracking,
        fills_seen=[*book.fills_seen, f.fill_id][-KEEP_FILL_IDS:])


def _trade_accounting(book: Book, signed: Decimal, px: Decimal) -> Book:
    """Average entry price, realised PnL and the return of each closed live trade."""
    pos = book.position
    avg, pnl, cost, returns = book.avg_px, book.trade_pnl, book.trade_cost, book.trade_returns
    if pos == 0 or (pos > 0) == (signed > 0):  # opening or adding
        new = pos + signed
        avg = (avg * abs(pos) + px * abs(signed)) / abs(new)
        cost += abs(signed) * px
        return msgspec.structs.replace(book, avg_px=avg, trade_cost=cost)
    closed = min(abs(signed), abs(pos))
    pnl += (px - avg) * closed * (1 if pos > 0 else -1)
    rest = pos + signed
    if rest == 0 or (rest > 0) != (pos > 0):  # closed (or reversed)
        if cost > 0:
            returns = [*returns, float(pnl / cost)][-KEEP_TRADES:]
        if rest == 0:
            return msgspec.structs.replace(book, avg_px=ZERO, trade_pnl=ZERO, trade_cost=ZERO,
                                           trade_returns=returns)
        return msgspec.structs.replace(book, avg_px=px, trade_pnl=ZERO,
                                       trade_cost=abs(rest) * px, trade_returns=returns)
    return msgspec.structs.replace(book, trade_pnl=pnl)


def end(book: Book, why: str, cloid: str = "", intent_id: str = "") -> Book:
    """An intent will fill no more: denied by risk, rejected, canceled or expired at the venue."""
    i = _find(book, cloid=cloid, intent_id=intent_id)
    if i < 0 or book.working[i].ended:
        return book
    working = list(book.working)
    working[i] = msgspec.structs.replace(working[i], ended=why)
    t = book.tracking
    if why == "denied":
        t = msgspec.structs.replace(t, denied=t.denied + 1)
    elif working[i].filled == 0:
        t = msgspec.structs.replace(t, unfilled=t.unfilled + 1)
    return msgspec.structs.replace(book, working=working, tracking=t)


def assume(book: Book, bar_open_ms: int, open_px: float, interval_ms: int,
           slippage: float) -> Book:
    """Bar `bar_open_ms` opened at `open_px`: the backtest's fill of every intent decided at the
    close before it (slippage: the backtest's fraction per fill)."""
    working = []
    changed = False
    for w in book.working:
        if w.assumed == 0.0 and w.bar_ms + interval_ms == bar_open_ms:
            px = open_px * (1 + slippage) if w.delta > 0 else open_px * (1 - slippage)
            w = msgspec.structs.replace(w, assumed=px)
            changed = True
        working.append(w)
    return msgspec.structs.replace(book, working=working) if changed else book


def settle(book: Book, now_ns: int, stale_ns: int) -> Book:
    """Measure and forget the intents that ended and whose backtest fill is known (or that are
    too old to wait for it)."""
    keep, t = [], book.tracking
    for w in book.working:
        done = w.ended and (w.assumed > 0 or now_ns - w.sent_ns > stale_ns)
        if not done:
            keep.append(w)
            continue
        if w.filled != 0 and w.assumed > 0 and w.reference > 0:
            avg = float(w.cost / abs(w.filled))
            side = 1.0 if w.delta > 0 else -1.0
            notional = float(w.cost)
            slip = side * (avg - float(w.reference)) / float(w.reference) * 1e4
            track = side * (avg - w.assumed) / w.assumed * 1e4
            t = msgspec.structs.replace(
                t, orders=t.orders + 1, weight=t.weight + notional,
                slippage_bps_sum=t.slippage_bps_sum + slip * notional,
                tracking_bps_sum=t.tracking_bps_sum + track * notional,
                tracking_bps_sq=t.tracking_bps_sq + track * track * notional)
    if len(keep) == len(book.working):
        return book
    return msgspec.structs.replace(book, working=keep, tracking=t)


def zeroed(book: Book) -> Book:
    """Risk or the operator flattened: no virtual position, no target. Intents in flight count
    as ended (no order goes out to undo them); a fill that still comes is applied, as at the
    venue, and the next close orders it away."""
    working = [w if w.ended else msgspec.structs.replace(w, ended="flattened")
               for w in book.working]
    return msgspec.structs.replace(book, position=ZERO, target=ZERO, avg_px=ZERO,
                                   trade_pnl=ZERO, trade_cost=ZERO, working=working)
