"""Closing an account's positions: risk's own orders, origin "flatten".

For each coin the venue says the account holds, a reduce-only market order for the whole
position (strategy id "risk", intent id `flatten-{account}-{coin}-{n}`, so its command id, cloid
and Nats-Msg-Id are derived and a retry is the same order); resting orders risk approved are
canceled; a FlattenRequested on `risk.flatten.{account}` tells the trader to zero the virtual
positions it holds, so it never buys back what was sold. Risk zeroes its own view of each
strategy's position at the mark for the same reason. While positions remain, the flatten is sent
again every `risk.flatten_retry_s` (a rejected or partly filled close does not end it).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from agents.risk.book import RISK, ZERO, Now, OpenOrder, Out, RiskState
from bus import subjects
from schemas import CancelOrder, FlattenRequested, SubmitOrder, cloid_for


def flatten(state: RiskState, account: str, reason: str, by: Literal["risk", "operator"],
            now: Now) -> tuple[RiskState, list[Out]]:
    book = state.book(account)
    marks = state.market.marks()
    outs: list[Out] = []
    orders = dict(book.open_orders)
    closing = {o.coin for o in orders.values() if o.origin == "flatten"}
    for o in book.open_orders.values():
        if o.resting and o.origin == "intent":
            cancel = CancelOrder(ts_event=now.clock, ts_init=now.wall, correlation_id=o.command_id,
                                 command_id=f"cancel-{o.command_id}", coin=o.coin, cloid=o.cloid,
                                 strategy_id=o.strategy_id, account=account,  # type: ignore[arg-type]
                                 origin="flatten")
            outs.append(Out(subjects.exec_cmd(account, o.coin), cancel, f"cancel:{o.command_id}"))
    seq = book.flatten_seq
    holding = False
    for coin, size in sorted(book.positions.items()):
        if not size:
            continue
        holding = True
        if coin in closing:
            continue  # a close is on its way; the retry looks again
        seq += 1
        intent_id = f"flatten-{account}-{coin}-{seq}"
        command = SubmitOrder(
            ts_event=now.clock, ts_init=now.wall, correlation_id=intent_id,
            command_id=f"cmd-{intent_id}", intent_id=intent_id, strategy_id=RISK, coin=coin,
            side="sell" if size > 0 else "buy", size=abs(size), kind="market",
            time_in_force="Ioc", reduce_only=True, cloid=cloid_for(intent_id),
            account=account, origin="flatten", reference_price=marks.get(coin))  # type: ignore[arg-type]
        orders[command.command_id] = OpenOrder(
            command_id=command.command_id, cloid=command.cloid, strategy_id=RISK, coin=coin,
            remaining=-size, at_wall=now.wall, origin="flatten")
        outs.append(Out(subjects.exec_cmd(account, coin), command, f"cmd:{intent_id}"))
    strategies = {}
    for sid, sb in book.strategies.items():
        if any(sb.positions.values()):
            cash = sb.cash + sum((q * marks[c] for c, q in sb.positions.items()
                                  if q and c in marks), ZERO)
            sb = msgspec.structs.replace(sb, positions={}, cash=cash)
        strategies[sid] = sb
    seq += 1
    event = FlattenRequested(ts_event=now.clock, ts_init=now.wall,
                             correlation_id=f"flatten-{account}-{seq}", account=account,  # type: ignore[arg-type]
                             by=by, reason=reason)
    outs.append(Out(subjects.risk_flatten(account), event, f"flatten:{account}:{seq}"))
    book = msgspec.structs.replace(book, open_orders=orders, strategies=strategies,
                                   flatten_seq=seq, flattening=reason if holding else "",
                                   flatten_by=by, last_flatten_wall=now.wall)
    return state.with_book(book), outs


def retry(state: RiskState, account: str, now: Now) -> tuple[RiskState, list[Out]]:
    """While a flatten is under way: done when nothing is held; sent again when positions
    remain, no close is open and `flatten_retry_s` passed."""
    book = state.book(account)
    if not book.flattening:
        return state, []
    held = any(book.positions.values())
    closing = any(o.origin == "flatten" for o in book.open_orders.values())
    if not held and not closing:
        return state.with_book(msgspec.structs.replace(book, flattening="")), []
    if held and not closing and now.wall - book.last_flatten_wall >= \
            state.config.flatten_retry_s * 1e9:
        return flatten(state, account, book.flattening, book.flatten_by, now)
    return state, []
