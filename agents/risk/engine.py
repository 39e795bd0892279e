"""Risk as one pure state machine: each input (an intent, an execution event, an operator
command, a status, a price, a timer tick) maps the state to a new state and the messages to
publish. The agent (agent.py) only feeds it, publishes, persists and acks.

After every input the agent calls `settle`, which publishes the trading state of each account
when it changed.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import msgspec

from agents.risk import breakers, events
from agents.risk.book import Now, Out, RiskState
from agents.risk.breakers import settle  # noqa: F401  (re-exported for the agent)
from agents.risk.checks import decide, denied
from agents.risk.flatten import flatten, retry
from schemas import (
    AccountReport,
    AllocationTarget,
    DenyReason,
    ExecutionStatus,
    Heartbeat,
    KillSwitch,
    OrderApproved,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    PositionReport,
    RegistryEntry,
    ResumeTrading,
    SubmitOrder,
)


def on_intent(state: RiskState, intent: OrderIntent, subject: str, now: Now
              ) -> tuple[RiskState, OrderApproved | OrderDenied, SubmitOrder | None]:
    """An intent from `order.intent.{account}.{strategy_id}`: the subject must name the same
    account and strategy as the message (the broker lets only the operator publish as
    `operator`, so the subject is what proves who sent it)."""
    tokens = subject.split(".")
    if len(tokens) != 4 or tokens[2] != intent.account or tokens[3] != intent.strategy_id:
        return state, denied(intent, DenyReason.INVALID_ORDER,
                             f"published on {subject} but names account {intent.account} and "
                             f"strategy {intent.strategy_id}", {}, now), None
    return decide(state, intent, now)


def on_exec(state: RiskState, msg, seq: int, now: Now) -> tuple[RiskState, list[Out]]:
    """An execution event, position or account report (EXEC_EVENTS stream sequence `seq`;
    one already applied before a restart is skipped)."""
    account = getattr(msg, "account", None)
    if account not in ("paper", "live"):
        return state, []
    book = state.book(account)
    if seq and seq <= book.events_seq:
        return state, []
    if isinstance(msg, OrderFilled):
        state = events.fill(state, msg)
    elif isinstance(msg, OrderRejected):
        state = events.end_order(state, account, msg.command_id, msg.cloid)
        state = breakers.rejections(state, account, now)
    elif isinstance(msg, (OrderCanceled, OrderExpired)):
        state = events.end_order(state, account, msg.command_id, msg.cloid)
    elif isinstance(msg, PositionReport):
        state = events.position(state, msg, now)
    elif isinstance(msg, AccountReport):
        state = _roll_day(state, account, now)
        state = events.account(state, msg)
    if seq:
        state = state.with_book(msgspec.structs.replace(state.book(account), events_seq=seq))
    return _after_change(state, account, now)


def _roll_day(state: RiskState, account: str, now: Now) -> RiskState:
    book = state.book(account)
    rolled = breakers.roll_day(book, now, state.config.daily_loss_resume_next_day)
    return state if rolled is book else state.with_book(rolled)


def _after_change(state: RiskState, account: str, now: Now) -> tuple[RiskState, list[Out]]:
    """The equity breakers (flattening when one asks for it) and the strategies' drawdowns."""
    state, trips = breakers.equity_breakers(state, account, now)
    outs: list[Out] = []
    for name in trips:
        state, more = flatten(state, account, state.book(account).trips[name].cause, "risk", now)
        outs += more
    state, more = breakers.strategy_drawdowns(state, account, now)
    return state, outs + more


def on_control(state: RiskState, msg, now: Now) -> tuple[RiskState, list[Out]]:
    """The operator: `ctl.kill` (HALTED, and flatten unless told not to), `ctl.resume`."""
    outs: list[Out] = []
    if isinstance(msg, KillSwitch):
        state, to_flatten = breakers.kill(state, msg, now)
        for account in to_flatten:
            state, more = flatten(state, account, f"kill switch by {msg.operator}: {msg.reason}",
                                  "operator", now)
            outs += more
    elif isinstance(msg, ResumeTrading):
        state = breakers.resume(state, msg, now)
    return state, outs


def on_status(state: RiskState, msg: ExecutionStatus, now: Now) -> RiskState:
    return events.status(state, msg, now)


def on_heartbeat(state: RiskState, msg: Heartbeat, now: Now) -> RiskState:
    return events.heartbeat(state, msg, now)


def on_market(state: RiskState, msg, now: Now) -> RiskState:
    return events.market(state, msg, now)


def on_price(state: RiskState, coin: str, close: float, at_clock: int) -> RiskState:
    """A price known from storage (the last candle's close, at its close time)."""
    return events.quote(state, coin, Decimal(repr(close)), Now(clock=at_clock, wall=0))


def on_registry(state: RiskState, entry: RegistryEntry, now: Now) -> RiskState:
    return breakers.registry_changed(state, entry, now)


def on_allocation(state: RiskState, msg: AllocationTarget) -> RiskState:
    """The allocation agent's weights replace the default weight of the strategies it names."""
    weights = {w.strategy_id: w.weight for w in msg.weights}
    return dataclasses.replace(state, weights=weights)


def on_tick(state: RiskState, now: Now) -> tuple[RiskState, list[Out]]:
    """Timed work: a new day (the daily-loss halt may lift), orders execution never ended stop
    counting, flattens are checked and retried, strategies' drawdowns move with prices."""
    outs: list[Out] = []
    ttl = state.config.open_order_ttl_s * 1e9
    for account in ("paper", "live"):
        state = _roll_day(state, account, now)
        book = state.book(account)
        alive = {k: o for k, o in book.open_orders.items() if now.wall - o.at_wall < ttl}
        if len(alive) != len(book.open_orders):
            state = state.with_book(msgspec.structs.replace(book, open_orders=alive))
        state, more = _after_change(state, account, now)
        outs += more
        state, more = retry(state, account, now)
        outs += more
    return state, outs
