"""The breakers and the trading state ACTIVE / REDUCING / HALTED of each account, as plain
functions of the state.

Two kinds of cause:
- latched trips, kept in the account's book (KV) until `organism resume`: the kill switch
  (HALTED, flattens unless --no-flatten), drawdown from the high-water mark (HALTED, flattens),
  daily loss (HALTED until the next day on the organism's clock when
  `risk.daily_loss_resume_next_day`, else until resumed), repeated exchange rejections
  (REDUCING);
- conditions, true while the world is so and gone when it is not: execution or market data
  silent (HALTED), execution not ready (HALTED: starting, reconciling, VPN down), stale market
  data (REDUCING). A restart of execution must not need an operator; a decision must.
The state is the most severe cause; its text is the first latched trip's, else the condition's.

Equity, the high-water mark and the daily loss exclude deposits, withdrawals and transfers: they
work on PnL = equity - net_transfers (AccountReport), so a withdrawal is never a loss.
Resuming re-bases the high-water mark and the day's start at the current PnL: the operator has
seen the loss, and the breaker must not trip again on the same one.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import NamedTuple

import msgspec

from agents.risk.book import (
    DAY_NS,
    SEVERITY,
    AccountBook,
    Now,
    Out,
    RiskState,
    Trip,
)
from bus import subjects
from quant.lifecycle.drawdown import deactivation_limit, exceeds_validated_drawdown, strategy_drawdown
from schemas import ACCOUNTS, OPERATOR, DeactivationRequested, TradingStateChanged
from schemas.system import KillSwitch, ResumeTrading

LATCHED_ORDER = ("kill_switch", "max_drawdown", "daily_loss", "exchange_errors")


class Effective(NamedTuple):
    state: str
    cause: str
    breaker: str
    until: int


def conditions(state: RiskState, account: str, now: Now) -> list[Trip]:
    """The causes that hold only while they are true."""
    cfg = state.config
    live = state.live_of(account)
    timeout = cfg.heartbeat_timeout_s * 1e9
    out: list[Trip] = []
    heard = max(live.heartbeat_wall, live.status_wall, state.started_wall)
    agent = f"execution_{account}"
    if now.wall - heard > timeout:
        out.append(Trip(breaker="agent_silent", state="HALTED", since=0,
                        cause=f"{agent} silent: no heartbeat for over "
                              f"{cfg.heartbeat_timeout_s:g} s"))
    elif live.status is None:
        out.append(Trip(breaker="execution_not_ready", state="HALTED", since=0,
                        cause=f"no status from {agent} yet"))
    elif live.status.state != "ready" or not live.status.vpn_ok:
        st = live.status
        why = f"{agent} is {st.state}" + (f" ({st.reason})" if st.reason else "")
        if not st.vpn_ok:
            why += "; VPN down"
        out.append(Trip(breaker="execution_not_ready", state="HALTED", since=0, cause=why))
    md = cfg.market_data_agent
    if md and now.wall - max(state.market.md_heartbeat_wall, state.started_wall) > timeout:
        out.append(Trip(breaker="agent_silent", state="HALTED", since=0,
                        cause=f"{md} silent: no heartbeat for over {cfg.heartbeat_timeout_s:g} s"))
    if state.market.stale:
        key = sorted(state.market.stale)[0]
        out.append(Trip(breaker="stale_market_data", state="REDUCING", since=0,
                        cause=f"market data stale: {state.market.stale[key]}"))
    max_age = cfg.price_age(state.feed)
    if max_age:
        book = state.book(account)
        for coin in sorted(c for c, size in book.positions.items() if size):
            q = state.market.quotes.get(coin)
            if q is not None and (now.clock - q.at) / 1e9 > max_age:
                out.append(Trip(breaker="stale_market_data", state="REDUCING", since=0,
                                cause=f"no {coin} price for over {max_age:g} s while holding it"))
                break
    return out


def trading_state(state: RiskState, account: str, now: Now) -> Effective:
    book = state.book(account)
    causes = [book.trips[k] for k in LATCHED_ORDER if k in book.trips]
    causes += [t for k, t in book.trips.items() if k not in LATCHED_ORDER]
    causes += conditions(state, account, now)
    if not causes:
        return Effective("ACTIVE", "", "", 0)
    worst = max(SEVERITY[t.state] for t in causes)
    first = next(t for t in causes if SEVERITY[t.state] == worst)
    return Effective(first.state, first.cause, first.breaker, first.until)


def settle(state: RiskState, now: Now) -> tuple[RiskState, list[Out]]:
    """Publish each account's trading state when it (or its cause) changed."""
    outs: list[Out] = []
    for account in ACCOUNTS:
        eff = trading_state(state, account, now)
        book = state.book(account)
        if (eff.state, eff.cause, eff.until) == (book.state, book.cause, book.until):
            continue
        seq = book.state_seq + 1
        msg = TradingStateChanged(ts_event=now.clock, ts_init=now.wall, state=eff.state,  # type: ignore[arg-type]
                                  previous=book.state, reason=eff.cause or "all clear",
                                  breaker=eff.breaker, account=account,  # type: ignore[arg-type]
                                  until=eff.until, flatten=bool(book.flattening))
        book = msgspec.structs.replace(book, state=eff.state, cause=eff.cause,
                                       breaker=eff.breaker, until=eff.until, state_seq=seq)
        state = state.with_book(book)
        outs.append(Out(subjects.risk_state(account), msg, f"state:{account}:{seq}"))
    return state, outs


def state_message(book: AccountBook, now: Now) -> TradingStateChanged:
    """The account's trading state as last published (the KV value of `state.{account}`)."""
    return TradingStateChanged(ts_event=now.clock, ts_init=now.wall, state=book.state,
                               reason=book.cause or "all clear", breaker=book.breaker,
                               account=book.account, until=book.until,
                               flatten=bool(book.flattening))


# --- equity breakers -------------------------------------------------------------------------
def roll_day(book: AccountBook, now: Now, resume_next_day: bool) -> AccountBook:
    """A new day on the organism's clock: the day's start is the last PnL seen; the daily-loss
    halt lifts if configured to."""
    if book.day == now.day:
        return book
    trips = book.trips
    daily = trips.get("daily_loss")
    if daily is not None and resume_next_day and daily.until and now.clock >= daily.until:
        trips = {k: v for k, v in trips.items() if k != "daily_loss"}
    return msgspec.structs.replace(book, day=now.day, day_start_pnl=book.last_pnl,
                                   day_start_equity=book.equity, trips=trips)


def equity_breakers(state: RiskState, account: str, now: Now) -> tuple[RiskState, list[str]]:
    """Drawdown and daily loss; returns the names of trips that ask for a flatten."""
    cfg = state.config
    book = state.book(account)
    pnl, equity = book.pnl_now(), book.equity
    if pnl is None or equity is None:
        return state, []
    trips = dict(book.trips)
    flatten: list[str] = []
    hwm = book.high_water()
    if hwm is not None and hwm > 0 and "max_drawdown" not in trips:
        dd = (hwm - equity) / hwm
        if dd >= Decimal(str(cfg.max_drawdown)):
            trips["max_drawdown"] = Trip(
                breaker="max_drawdown", state="HALTED", since=now.clock, flatten=True,
                cause=f"drawdown {dd:.2%} from the high-water mark ${hwm:.2f} reached "
                      f"{cfg.max_drawdown:.0%} (equity ${equity:.2f}, transfers excluded)")
            flatten.append("max_drawdown")
    start, start_equity = book.day_start_pnl, book.day_start_equity
    if start is not None and start_equity and start_equity > 0 and "daily_loss" not in trips:
        loss = start - pnl
        limit = Decimal(str(cfg.max_daily_loss)) * start_equity
        if loss >= limit:
            until = (now.day + 1) * DAY_NS if cfg.daily_loss_resume_next_day else 0
            trips["daily_loss"] = Trip(
                breaker="daily_loss", state="HALTED", since=now.clock, until=until,
                cause=f"daily loss ${loss:.2f} reached {cfg.max_daily_loss:.1%} of the day's "
                      f"starting equity ${start_equity:.2f}"
                      + (" (until the next day)" if until else " (until resumed)"))
    if trips != book.trips:
        state = state.with_book(msgspec.structs.replace(book, trips=trips))
    return state, flatten


def rejections(state: RiskState, account: str, now: Now) -> RiskState:
    """Count an exchange rejection; too many in the window put the account in REDUCING."""
    cfg = state.config
    live = state.live_of(account)
    window = cfg.rejection_window_s * 1e9
    recent = tuple(t for t in live.rejections if now.wall - t < window) + (now.wall,)
    book = state.book(account)
    if len(recent) >= cfg.max_rejections and "exchange_errors" not in book.trips:
        trip = Trip(breaker="exchange_errors", state="REDUCING", since=now.clock,
                    cause=f"{len(recent)} exchange rejections within "
                          f"{cfg.rejection_window_s:g} s (risk.max_rejections)")
        state = state.with_book(msgspec.structs.replace(
            book, trips={**book.trips, "exchange_errors": trip}))
        recent = ()
    return state.with_live(account, dataclasses.replace(live, rejections=recent))


# --- the operator ----------------------------------------------------------------------------
def accounts_of(target: str) -> tuple[str, ...]:
    return ACCOUNTS if target == "all" else (target,)


def kill(state: RiskState, msg: KillSwitch, now: Now) -> tuple[RiskState, list[str]]:
    """HALTED on the named account(s); returns the accounts to flatten. A kill switch read long
    after it was given (a new durable on an old stream) halts without flattening."""
    fresh = (now.wall - msg.ts_event) / 1e9 <= state.config.kill_flatten_max_age_s
    flatten = []
    for account in accounts_of(msg.account):
        book = state.book(account)
        trip = Trip(breaker="kill_switch", state="HALTED", since=now.clock,
                    flatten=msg.flatten and fresh,
                    cause=f"kill switch by {msg.operator}: {msg.reason}")
        state = state.with_book(msgspec.structs.replace(
            book, trips={**book.trips, "kill_switch": trip}))
        if trip.flatten:
            flatten.append(account)
    return state, flatten


def resume(state: RiskState, msg: ResumeTrading, now: Now) -> RiskState:
    """Lift every latched trip of the named account(s); conditions stay while they are true."""
    for account in accounts_of(msg.account):
        book = state.book(account)
        pnl = book.pnl_now()
        book = msgspec.structs.replace(
            book, trips={}, flattening="",
            peak_pnl=pnl if pnl is not None else book.peak_pnl,
            day_start_pnl=pnl if pnl is not None else book.day_start_pnl,
            day_start_equity=book.equity if book.equity is not None else book.day_start_equity)
        live = dataclasses.replace(state.live_of(account), rejections=())
        state = state.with_book(book).with_live(account, live)
    return state


# --- strategies ------------------------------------------------------------------------------
def strategy_drawdowns(state: RiskState, account: str, now: Now) -> tuple[RiskState, list[Out]]:
    """Measure each strategy's drawdown (quant.lifecycle.drawdown) and deactivate the ones past
    k x their validated maximum drawdown: their new exposure is denied from now on and
    DeactivationRequested goes to the lifecycle."""
    cfg = state.config
    book = state.book(account)
    if book.equity is None or book.equity <= 0 or not book.strategies:
        return state, []
    marks = state.market.marks()
    outs: list[Out] = []
    changed = {}
    for sid, sb in book.strategies.items():
        if sid == OPERATOR or sid not in state.registry:
            continue
        pnl = sb.pnl(marks)
        if pnl is None:
            continue
        peak = max(sb.peak_pnl, pnl)
        capital = Decimal(str(state.weight(sid))) * book.equity
        dd = strategy_drawdown(pnl, peak, capital)
        new = msgspec.structs.replace(sb, peak_pnl=peak, drawdown=dd)
        entry = state.registry[sid]
        validated = (entry.validation.max_drawdown if entry.validation is not None
                     else cfg.unvalidated_max_drawdown)
        if not sb.deactivated and exceeds_validated_drawdown(dd, validated, cfg.deactivation_k):
            limit = deactivation_limit(validated, cfg.deactivation_k)
            why = (f"drawdown {dd:.1%} of its capital ${capital:.2f} > {cfg.deactivation_k:g} x "
                   f"validated {validated:.1%}")
            n = sb.deactivations + 1
            new = msgspec.structs.replace(new, deactivated=why, deactivated_at=now.clock,
                                          deactivations=n, flag_seen=False)
            outs.append(Out(subjects.risk_deactivate(sid), DeactivationRequested(
                ts_event=now.clock, ts_init=now.wall, correlation_id=f"deactivate-{sid}",
                strategy_id=sid, account=account, drawdown=dd, limit=limit,  # type: ignore[arg-type]
                validated_max_drawdown=validated, reason=why), f"deact:{account}:{sid}:{n}"))
        if new != sb:
            changed[sid] = new
    if changed:
        state = state.with_book(msgspec.structs.replace(
            book, strategies={**book.strategies, **changed}))
    return state, outs


def registry_changed(state: RiskState, entry, now: Now) -> RiskState:
    """The lifecycle's `deactivated` flag, once seen set and then cleared (the strategy was
    reinstated), lifts risk's own deactivation and re-bases its peak."""
    book = state.book(entry.account)
    sb = book.strategies.get(entry.strategy_id)
    if sb is None:
        return state
    if entry.flags.deactivated is not None:
        new = msgspec.structs.replace(sb, flag_seen=True)
    elif sb.flag_seen and sb.deactivated:
        pnl = sb.pnl(state.market.marks())
        new = msgspec.structs.replace(sb, deactivated="", flag_seen=False, drawdown=0.0,
                                      peak_pnl=pnl if pnl is not None else sb.peak_pnl)
    else:
        return state
    if new == sb:
        return state
    return state.with_book(msgspec.structs.replace(
        book, strategies={**book.strategies, entry.strategy_id: new}))
