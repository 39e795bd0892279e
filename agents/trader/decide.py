"""What the trader does for one strategy on each event: a closed bar, a mid price, a fill, a
flatten, the strategy leaving the paper and live stages. Each returns the new book and the
intents to send. Pure: time and prices come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec

from agents.trader import book as bk
from agents.trader.book import Book, coins_for
from agents.trader.model import (
    EXIT_SIGNAL,
    EXIT_MAX_HOLD,
    Bar,
    BarSignals,
    Exits,
    disarm,
    flattened,
    on_close,
    on_fill_price,
    on_mid,
    stop_price,
)
from schemas import OrderFilled, OrderIntent

STALE_NS = 3_600 * 10**9  # an ended intent waits at most this long for the backtest's price


@dataclass(frozen=True)
class Sizing:
    """What turns a decision into coins, and the venue's and backtest's constants."""

    equity: Decimal | None  # the account's equity (USD); None = not heard yet
    weight: float  # alloc.target's weight, else trader.default_weight
    min_notional: Decimal
    slippage: float = 1e-4  # the backtest's slippage per fill (fraction)
    max_leverage: float = 3.0
    post_only_s: float = 0.0


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _exit_fill(side: int, level: float, slippage: float) -> float:
    """The backtest's fill of a stop or take-profit at `level` (side: the position's)."""
    return level * (1 - slippage) if side > 0 else level * (1 + slippage)


def on_bar(book: Book, bar: Bar, sig: BarSignals, exits: Exits, interval_ms: int, sz: Sizing,
           *, trading: bool, now_ns: int) -> tuple[Book, list[OrderIntent]]:
    """Bar `bar` closed. `trading`: the strategy may take new exposure (paper or live, not
    paused, not deactivated). A bar at or before the last one decided changes nothing."""
    if bar.open_ms <= book.last_bar:
        return book, []
    book = bk.assume(book, bar.open_ms, bar.open, interval_ms, sz.slippage)
    has_equity = sz.equity is not None and sz.equity > 0
    model, d = on_close(book.model, bar, sig, exits, interval_ms, slippage=sz.slippage,
                        max_leverage=sz.max_leverage, may_enter=trading and has_equity)
    close = _dec(bar.close)
    target = book.target
    note = book.note
    if d.side_after == 0:
        target = bk.ZERO
    elif d.entered:
        target = coins_for(d.side_after, model.size, sz.weight, sz.equity, close)  # type: ignore[arg-type]
    if d.suppressed:
        note = ("an entry was not allowed " + ("(no equity heard on exec.account yet)"
                if trading and not has_equity else "(paused, deactivated or not trading)")
                + "; it waits for a fresh signal")
    side_word = {1: "long", -1: "short", 0: "flat"}
    if d.exit_reason and d.exit_reason not in (EXIT_SIGNAL, EXIT_MAX_HOLD) and not d.entered:
        kind, assumed = "stop", _exit_fill(d.side_before, d.exit_level, sz.slippage)
        reason = f"{d.exit_reason} touched in the bar (level {d.exit_level:.6g})"
    elif d.entered:
        kind, assumed = "entry", 0.0
        reason = (f"{side_word[d.side_after]} entry at the close: size {model.size:g} x weight "
                  f"{sz.weight:g} x equity {sz.equity}")
    elif d.side_before != 0 and d.side_after == 0:
        kind, assumed = "exit", 0.0
        reason = f"{side_word[d.side_before]} exit at the close ({d.exit_reason or 'signal'})"
    else:
        kind, assumed = "adjust", 0.0
        reason = f"holding {side_word[d.side_after]}: the rest of the target"
    book = msgspec.structs.replace(book, model=model, target=target, note=note,
                                   last_bar=bar.open_ms, first_bar=book.first_bar or bar.open_ms,
                                   decisions=book.decisions + 1)
    stop = stop_price(d.side_after, bar.close, exits) if d.entered else None
    book, intent = bk.order(book, price=close, kind=kind, reason=reason, now_ns=now_ns,
                            bar_ms=bar.open_ms, min_notional=sz.min_notional,
                            stop_price=_dec(stop) if stop is not None else None,
                            assumed=assumed, post_only_s=sz.post_only_s)
    book = bk.settle(book, now_ns, STALE_NS)
    return book, [intent] if intent is not None else []


def on_price(book: Book, mid: float, exits: Exits, interval_ms: int, sz: Sizing, *,
             now_ns: int) -> tuple[Book, list[OrderIntent]]:
    """A mid-price update: the strategy's stops, trailing stop and take-profit, between closes."""
    model, why, level = on_mid(book.model, mid, exits)
    if model is book.model:
        return book, []
    if not why:
        return msgspec.structs.replace(book, model=model), []
    side = book.model.side
    book = msgspec.structs.replace(book, model=model, target=bk.ZERO)
    return _send(book, _dec(mid), "stop", f"{why} reached by the mid ({mid:.6g}, level "
                 f"{level:.6g})", now_ns, book.last_bar + interval_ms, sz,
                 assumed=_exit_fill(side, level, sz.slippage))


def on_fill(book: Book, fill: OrderFilled) -> Book:
    """A fill attributed to this strategy; the levels hang on its average entry from now on."""
    book = bk.apply_fill(book, fill)
    m = book.model
    if m.side != 0 and book.position != 0 and (book.position > 0) == (m.side > 0) \
            and book.avg_px > 0:
        book = msgspec.structs.replace(book, model=on_fill_price(m, float(book.avg_px)))
    return book


def on_denied(book: Book, intent_id: str, reason: str) -> Book:
    """Risk said no. A denied exit or close is asked again at the next close (a position must be
    able to go); a denied entry is given up: the target becomes what the strategy holds and
    that side waits for a fresh signal, so a limit, a halt or a deactivation is not asked again
    at every bar."""
    w = next((w for w in book.working if w.intent_id == intent_id), None)
    book = bk.end(book, "denied", intent_id=intent_id)
    if w is None or w.kind not in ("entry", "adjust"):
        return book
    held = book.position + book.outstanding
    side = 1 if w.delta > 0 else -1
    return msgspec.structs.replace(
        book, target=held, model=disarm(book.model, side),
        note=f"entry denied by risk ({reason}); it waits for a fresh signal")


def on_flatten(book: Book, who: str) -> Book:
    """Risk or the operator closed the strategy's position: zero it, and wait for a fresh
    entry signal before trading again (never buy back what was just sold)."""
    book = bk.zeroed(book)
    return msgspec.structs.replace(book, model=flattened(book.model),
                                   note=f"flattened by {who}; waits for a fresh entry signal")


def wind_down(book: Book, price: Decimal, why: str, interval_ms: int, sz: Sizing, *,
              now_ns: int) -> tuple[Book, list[OrderIntent]]:
    """The strategy no longer trades (retired, moved off the account, coin blocked, flattened
    by the operator): close its virtual position."""
    book = msgspec.structs.replace(book, target=bk.ZERO, model=flattened(book.model))
    return _send(book, price, "close", why, now_ns,
                 (book.last_bar + interval_ms) if book.last_bar else 0, sz)


def _send(book: Book, price: Decimal, kind: str, reason: str, now_ns: int, bar_ms: int,
          sz: Sizing, assumed: float = 0.0) -> tuple[Book, list[OrderIntent]]:
    book, intent = bk.order(book, price=price, kind=kind, reason=reason, now_ns=now_ns,
                            bar_ms=bar_ms, min_notional=sz.min_notional, assumed=assumed,
                            post_only_s=sz.post_only_s)
    return book, [intent] if intent is not None else []


def position_difference(books: list[Book], operator: Decimal, venue: Decimal) -> Decimal:
    """Venue position - (strategies' virtual positions + the operator's), one coin and account."""
    return venue - operator - sum((b.position for b in books), bk.ZERO)


def exits_of(strategy) -> Exits:
    return Exits(strategy.stop_loss, strategy.take_profit, strategy.trailing_stop,
                 strategy.max_hold)
