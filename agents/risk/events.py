"""What execution and market data tell risk, applied to its view (pure functions).

- fills move the account's position and the strategy's (attributed by the fill's strategy id;
  risk's own flatten fills and unattributed ones move only the account's) and shrink the open
  order they belong to; rejections, cancels and expiries end it;
- position and account reports are the venue's truth and replace what fills estimated;
- prices come from whichever source spoke last: md.ctx (mark), md.book (mid), md.candle (close),
  exec.position (the venue's mark); 24 h volume from md.ctx;
- md.status marks a stream stale until it says it is live again.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import msgspec

from agents.risk.book import RISK, ZERO, Now, Quote, RiskState, signed
from schemas import (
    AccountReport,
    AssetContext,
    BookSnapshot,
    Candle,
    ExecutionStatus,
    FeedStatus,
    Heartbeat,
    OrderFilled,
    PositionReport,
)


def end_order(state: RiskState, account: str, command_id: str, cloid: str) -> RiskState:
    book = state.book(account)
    key = command_id if command_id in book.open_orders else next(
        (k for k, o in book.open_orders.items() if o.cloid == cloid), None)
    if key is None:
        return state
    orders = {k: o for k, o in book.open_orders.items() if k != key}
    return state.with_book(msgspec.structs.replace(book, open_orders=orders))


def fill(state: RiskState, f: OrderFilled) -> RiskState:
    book = state.book(f.account)
    delta = signed(f.side, f.size)
    orders = dict(book.open_orders)
    key = f.command_id if f.command_id in orders else next(
        (k for k, o in orders.items() if o.cloid == f.cloid), None)
    if key is not None:
        o = orders[key]
        if f.remaining > 0:
            orders[key] = msgspec.structs.replace(
                o, remaining=f.remaining if o.remaining > 0 else -f.remaining)
        else:
            del orders[key]
    positions = {**book.positions, f.coin: book.positions.get(f.coin, ZERO) + delta}
    strategies = book.strategies
    if f.strategy_id and f.strategy_id != RISK:
        sb = book.strategy(f.strategy_id)
        sb = msgspec.structs.replace(
            sb, positions={**sb.positions, f.coin: sb.positions.get(f.coin, ZERO) + delta},
            cash=sb.cash - delta * f.price - f.fee)
        strategies = {**strategies, f.strategy_id: sb}
    return state.with_book(msgspec.structs.replace(
        book, open_orders=orders, positions=positions, strategies=strategies))


def position(state: RiskState, p: PositionReport, now: Now) -> RiskState:
    book = state.book(p.account)
    liquidation = dict(book.liquidation)
    if p.liquidation_price is not None and p.size:
        liquidation[p.coin] = p.liquidation_price
    else:
        liquidation.pop(p.coin, None)
    book = msgspec.structs.replace(book, positions={**book.positions, p.coin: p.size},
                                   liquidation=liquidation)
    state = state.with_book(book)
    if p.mark_price is not None and p.mark_price > 0:
        state = quote(state, p.coin, p.mark_price, now)
    return state


def account(state: RiskState, a: AccountReport) -> RiskState:
    book = state.book(a.account)
    pnl = a.equity - a.net_transfers
    peak = pnl if book.peak_pnl is None else max(book.peak_pnl, pnl)
    liquidation = {c: px for c, px in book.liquidation.items() if a.positions.get(c)}
    book = msgspec.structs.replace(
        book, equity=a.equity, net_transfers=a.net_transfers, peak_pnl=peak, last_pnl=pnl,
        positions=dict(a.positions), liquidation=liquidation,
        day_start_pnl=pnl if book.day_start_pnl is None else book.day_start_pnl,
        day_start_equity=a.equity if book.day_start_equity is None else book.day_start_equity)
    return state.with_book(book)


def status(state: RiskState, s: ExecutionStatus, now: Now) -> RiskState:
    live = dataclasses.replace(state.live_of(s.account), status=s, status_wall=now.wall)
    return state.with_live(s.account, live)


def heartbeat(state: RiskState, hb: Heartbeat, now: Now) -> RiskState:
    if hb.state == "draining":  # on its way out: silence from now on
        return state
    for account in ("paper", "live"):
        if hb.agent == f"execution_{account}":
            return state.with_live(account, dataclasses.replace(state.live_of(account),
                                                                heartbeat_wall=now.wall))
    if hb.agent == state.config.market_data_agent:
        return dataclasses.replace(state, market=dataclasses.replace(
            state.market, md_heartbeat_wall=now.wall))
    return state


def quote(state: RiskState, coin: str, mark: Decimal, now: Now) -> RiskState:
    quotes = {**state.market.quotes, coin: Quote(mark=mark, at=now.clock)}
    return dataclasses.replace(state, market=dataclasses.replace(state.market, quotes=quotes))


def market(state: RiskState, msg, now: Now) -> RiskState:
    if isinstance(msg, AssetContext):
        state = quote(state, msg.coin, msg.mark_price, now)
        volume = {**state.market.volume, msg.coin: Decimal(str(msg.day_notional_volume))}
        return dataclasses.replace(state, market=dataclasses.replace(state.market, volume=volume))
    if isinstance(msg, BookSnapshot):
        if msg.bids and msg.asks:
            return quote(state, msg.coin, (msg.bids[0].price + msg.asks[0].price) / 2, now)
        return state
    if isinstance(msg, Candle):
        if msg.closed and msg.close > 0:
            return quote(state, msg.coin, Decimal(repr(msg.close)), now)
        return state
    if isinstance(msg, FeedStatus):
        if msg.stream not in state.config.stale_streams:  # e.g. the end of a replay
            return state
        key = f"{msg.stream}:{msg.coin}"
        stale = dict(state.market.stale)
        if msg.state == "live":
            stale.pop(key, None)
        else:
            where = f"{msg.stream} {msg.coin}".strip()
            stale[key] = f"{where} {msg.state}" + (f" ({msg.detail})" if msg.detail else "")
        return dataclasses.replace(state, market=dataclasses.replace(state.market, stale=stale))
    return state
