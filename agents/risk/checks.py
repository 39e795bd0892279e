"""`decide(state, intent, now) -> (state, decision, command | None)`: every intent's one answer.

Modelled on NautilusTrader's RiskEngine: the trading state first (HALTED lets only flattening
through, REDUCING only reductions), then the strategy, then pre-trade checks, each with its own
reason code and the numbers behind it. The first check that fails decides.

Checks that bound exposure (notional, equity share, leverage, liquidation distance, capital at
risk, trades a day, volume, stale price, action budget) judge only intents that add exposure: an
intent that moves both its strategy's and the account's position toward zero without crossing
it always passes them, so a strategy over a limit can always get back under it. Exposure counts
the approved orders execution has not finished yet (book.py).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import msgspec

from agents.risk.book import (
    ZERO,
    AccountBook,
    Now,
    OpenOrder,
    RiskState,
    account_position,
    day_roll,
    reduces,
    signed,
    strategy_position,
)
from agents.risk.breakers import trading_state
from schemas import (
    OPERATOR,
    DenyReason,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    SubmitOrder,
    cloid_for,
)

R = DenyReason
SIX = Decimal("0.000001")


def dec(x: float) -> Decimal:
    """A configured fraction as an exact Decimal (0.4 -> Decimal('0.4'), not its binary twin)."""
    return Decimal(str(x))


def money(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.01")) if abs(x) >= 1 else x.normalize())


def frac(x: Decimal) -> str:
    return str(x.quantize(SIX))


class Deny(Exception):
    """A failed check: its code, what a person reads, and the numbers behind it."""

    def __init__(self, reason: DenyReason, detail: str, **numbers: str) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.numbers = reason, detail, numbers


def command_id_for(intent_id: str) -> str:
    return f"cmd-{intent_id}"


def denied(intent: OrderIntent, reason: DenyReason, detail: str, numbers: dict[str, str],
           now: Now) -> OrderDenied:
    return OrderDenied(ts_event=now.clock, ts_init=now.wall, correlation_id=intent.correlation_id,
                       intent_id=intent.intent_id, strategy_id=intent.strategy_id, reason=reason,
                       detail=detail, account=intent.account, numbers=numbers)


STATE_CODE: dict[str, DenyReason] = {
    "kill_switch": R.KILL_SWITCH, "max_drawdown": R.MAX_DRAWDOWN, "daily_loss": R.DAILY_LOSS,
    "exchange_errors": R.EXCHANGE_ERRORS, "stale_market_data": R.STALE_MARKET_DATA,
    "agent_silent": R.AGENT_SILENT, "execution_not_ready": R.EXECUTION_NOT_READY,
}


def decide(state: RiskState, intent: OrderIntent, now: Now
           ) -> tuple[RiskState, OrderApproved | OrderDenied, SubmitOrder | None]:
    """Judge one intent. Pure: the state comes back replaced (the approved order counted as
    exposure, the strategy's trades today, the throttle), never changed in place."""
    try:
        numbers = _check(state, intent, now)
    except Deny as no:
        return state, denied(intent, no.reason, no.detail, no.numbers, now), None
    return _approve(state, intent, now, numbers)


def _check(state: RiskState, intent: OrderIntent, now: Now) -> dict[str, str]:
    cfg = state.config
    age_s = (now.clock - intent.ts_event) / 1e9
    if age_s > cfg.max_intent_age_s:
        raise Deny(R.STALE_INTENT, f"intent is {age_s:.1f} s old (organism clock); the bound is "
                   f"{cfg.max_intent_age_s:g} s (risk.max_intent_age_s)",
                   value=f"{age_s:.3f}", limit=f"{cfg.max_intent_age_s:g}")
    if intent.kind == "trigger":
        raise Deny(R.INVALID_ORDER, "trigger orders are execution's protective stops, never an "
                   "intent's")
    if intent.kind == "limit" and intent.limit_price is None:
        raise Deny(R.INVALID_ORDER, "a limit intent needs limit_price")
    if intent.limit_price is not None and intent.limit_price <= 0:
        raise Deny(R.INVALID_ORDER, f"limit_price must be > 0, got {intent.limit_price}")

    sid, account, coin = intent.strategy_id, intent.account, intent.coin
    entry = None
    if sid != OPERATOR:
        entry = state.registry.get(sid)
        if entry is None:
            raise Deny(R.UNKNOWN_STRATEGY, f"{sid} is not in the registry (the strategy id "
                       f"{OPERATOR!r} is reserved for `organism order`)")

    book = state.book(account)
    quote = state.market.quotes.get(coin)
    if quote is None:
        raise Deny(R.NO_PRICE, f"no mark price for {coin} yet (md.ctx, md.book, md.candle)")
    mark = quote.mark
    px = intent.limit_price if intent.kind == "limit" and intent.limit_price else mark
    delta = signed(intent.side, intent.size)
    s_before = strategy_position(book, sid, coin)
    a_before = account_position(book, coin)
    reduction = reduces(s_before, delta) and reduces(a_before, delta)
    numbers = {"mark": money(mark), "size": str(intent.size), "notional": money(abs(delta) * px),
               "strategy_position": str(s_before), "account_position": str(a_before)}
    if intent.reduce_only and not reduces(a_before, delta):
        raise Deny(R.INVALID_ORDER, f"reduce-only {intent.side} {intent.size} {coin} would not "
                   f"reduce the account's position {a_before}", **numbers)
    if entry is not None and entry.account != account and not reduction:
        # A strategy that moved (paper -> live, or back) may still close what it holds on the
        # account it left; it may add nothing there.
        raise Deny(R.WRONG_ACCOUNT, f"{sid} is in stage {entry.stage}, which trades the "
                   f"{entry.account} account, not {account}; only reductions of what it still "
                   f"holds on {account} pass", **numbers)

    trading, cause, breaker, _ = trading_state(state, account, now)
    if trading == "HALTED":
        closes = reduction and s_before + delta == 0
        if not closes:
            raise Deny(STATE_CODE.get(breaker, R.TRADING_HALTED),
                       f"{account} is HALTED ({cause}): only an intent closing a whole position "
                       f"passes (the {'account' if sid == OPERATOR else 'strategy'} holds "
                       f"{s_before} {coin})", state="2", **numbers)
    elif trading == "REDUCING" and not reduction:
        raise Deny(STATE_CODE.get(breaker, R.REDUCING_ONLY),
                   f"{account} is REDUCING ({cause}): only reductions pass", state="1", **numbers)

    if entry is not None and not reduction:
        strat = book.strategy(sid)
        if entry.stage == "retired":
            raise Deny(R.STRATEGY_DEACTIVATED, f"{sid} is retired; only reductions pass")
        if entry.stage not in ("paper", "live"):
            raise Deny(R.STRATEGY_PAUSED, f"{sid} is in stage {entry.stage}, which does not "
                       "trade yet; only reductions pass")
        if strat.deactivated or entry.flags.deactivated is not None:
            why = strat.deactivated or entry.flags.deactivated.reason  # type: ignore[union-attr]
            raise Deny(R.STRATEGY_DEACTIVATED, f"{sid} is deactivated ({why}); only reductions "
                       "pass", drawdown=frac(dec(strat.drawdown)))
        if entry.flags.paused is not None:
            raise Deny(R.STRATEGY_PAUSED, f"{sid} is paused ({entry.flags.paused.reason}); only "
                       "reductions pass")

    live = state.live_of(account)
    recent = [t for t in live.orders if now.wall - t < cfg.order_window_s * 1e9]
    if len(recent) >= cfg.max_orders:
        raise Deny(R.RATE_LIMIT, f"{len(recent)} orders approved on {account} in the last "
                   f"{cfg.order_window_s:g} s; the limit is {cfg.max_orders} (risk.max_orders)",
                   value=str(len(recent)), limit=str(cfg.max_orders))
    if intent.limit_price is not None:
        off = abs(intent.limit_price - mark) / mark
        if off > dec(cfg.price_band):
            raise Deny(R.PRICE_BAND, f"limit {intent.limit_price} is {off:.2%} from the mark "
                       f"{mark}; the band is {cfg.price_band:.2%} (risk.price_band)",
                       value=frac(off), limit=frac(dec(cfg.price_band)), **numbers)
    notional = abs(delta) * px
    floor = cfg.usd("min_notional_usd")
    if not intent.reduce_only and notional < floor:
        raise Deny(R.MIN_NOTIONAL, f"order value ${money(notional)} is below the venue's "
                   f"${money(floor)} minimum (reduce-only orders are exempt)",
                   value=money(notional), limit=money(floor), **numbers)
    if reduction:
        return numbers
    _exposure_checks(state, intent, now, book, entry, mark, px, delta, numbers)
    return numbers


def _exposure_checks(state, intent, now, book: AccountBook, entry, mark, px, delta,
                     numbers) -> None:
    cfg = state.config
    sid, account, coin = intent.strategy_id, intent.account, intent.coin
    max_age = cfg.price_age(state.feed)
    quote = state.market.quotes[coin]
    age_s = (now.clock - quote.at) / 1e9
    if max_age and age_s > max_age:
        raise Deny(R.STALE_MARKET_DATA, f"the last {coin} price is {age_s:.0f} s old; the bound "
                   f"on {state.feed} is {max_age:g} s (risk.max_price_age_s.{state.feed})",
                   value=f"{age_s:.3f}", limit=f"{max_age:g}", **numbers)
    min_volume = cfg.min_volume(state.feed)
    if min_volume > 0:
        volume = state.market.volume.get(coin)
        if volume is None or volume < min_volume:
            raise Deny(R.MIN_VOLUME, f"{coin}'s 24 h volume ${money(volume or ZERO)} is below "
                       f"${money(min_volume)} (risk.min_day_volume_usd.{state.feed})",
                       value=money(volume or ZERO), limit=money(min_volume), **numbers)
    status = state.live_of(account).status
    if status is not None and 0 <= status.actions_left < cfg.min_actions_left:
        raise Deny(R.ACTION_BUDGET, f"the venue's action budget for {account} is down to "
                   f"{status.actions_left}; the rest is kept for exits (risk.min_actions_left)",
                   value=str(status.actions_left), limit=str(cfg.min_actions_left))
    trades_limit = cfg.max_trades_per_day
    if entry is not None and entry.limits.max_trades_per_day is not None:
        trades_limit = entry.limits.max_trades_per_day
    trades = day_roll(book.strategy(sid), now.day).trades_today
    if trades >= trades_limit:
        raise Deny(R.DAILY_TRADES, f"{sid} traded {trades} times today (organism clock); the "
                   f"limit is {trades_limit}", value=str(trades), limit=str(trades_limit))

    equity = book.equity
    if equity is None or equity <= 0:
        raise Deny(R.EXECUTION_NOT_READY, f"no account report with a positive equity for "
                   f"{account} yet (exec.account.{account})", **numbers)
    numbers["equity"] = money(equity)
    marks = state.market.marks()

    def value(coin_: str, size: Decimal) -> Decimal:
        if not size:
            return ZERO
        price = px if coin_ == coin else marks.get(coin_)
        if price is None:
            raise Deny(R.NO_PRICE, f"no mark price for {coin_}, where {account} holds {size}")
        return abs(size) * price

    s_after = strategy_position(book, sid, coin) + delta
    a_after = account_position(book, coin) + delta
    # the strategy's other coins (the operator's are the account's)
    if sid == OPERATOR:
        s_coins = set(book.positions) | {o.coin for o in book.open_orders.values()}
    else:
        s_coins = set(book.strategy(sid).positions) | {
            o.coin for o in book.open_orders.values() if o.strategy_id == sid}
    s_coins.discard(coin)
    s_other = {c: strategy_position(book, sid, c) for c in s_coins}

    s_notional = value(coin, s_after)
    limit = cfg.usd("max_strategy_notional_usd")
    if entry is not None and entry.limits.max_notional_usd is not None:
        limit = entry.limits.max_notional_usd
    if s_notional > limit:
        raise Deny(R.STRATEGY_NOTIONAL, f"{sid}'s {coin} position would be ${money(s_notional)}; "
                   f"its limit is ${money(limit)}", value=money(s_notional), limit=money(limit),
                   **numbers)
    a_notional = value(coin, a_after)
    limit = cfg.coin_limit(coin)
    if a_notional > limit:
        raise Deny(R.COIN_NOTIONAL, f"{account}'s {coin} position would be ${money(a_notional)}; "
                   f"the limit is ${money(limit)} (risk.max_coin_notional_usd)",
                   value=money(a_notional), limit=money(limit), **numbers)
    share = (s_notional + sum((value(c, q) for c, q in s_other.items()), ZERO)) / equity
    if share > dec(cfg.max_equity_share):
        raise Deny(R.EQUITY_SHARE, f"{sid}'s positions would be {share:.1%} of {account}'s equity "
                   f"${money(equity)}; the cap is {cfg.max_equity_share:.0%}",
                   value=frac(share), limit=frac(dec(cfg.max_equity_share)), **numbers)
    coins = (set(book.positions) | {o.coin for o in book.open_orders.values()}) - {coin}
    total = a_notional + sum((value(c, account_position(book, c)) for c in coins), ZERO)
    leverage = total / equity
    if leverage > dec(cfg.max_leverage):
        raise Deny(R.LEVERAGE_LIMIT, f"{account}'s leverage would be {leverage:.2f}x; the limit "
                   f"is {cfg.max_leverage:g}x (risk.max_leverage)", value=frac(leverage),
                   limit=frac(dec(cfg.max_leverage)), **numbers)
    distance = equity / total - dec(cfg.maintenance_margin) if total else None
    liq = book.liquidation.get(coin)
    if liq is not None and liq > 0 and a_after and (a_after > 0) == (liq < mark):
        venue_distance = abs(mark - liq) / mark
        distance = venue_distance if distance is None else min(distance, venue_distance)
    if distance is not None and distance < dec(cfg.min_liquidation_distance):
        raise Deny(R.LIQUIDATION_DISTANCE, f"{account} would be {distance:.1%} from liquidation; "
                   f"the minimum is {cfg.min_liquidation_distance:.0%} "
                   "(risk.min_liquidation_distance)", value=frac(distance),
                   limit=frac(dec(cfg.min_liquidation_distance)), **numbers)
    if intent.stop_price is not None:
        at_risk = abs(s_after) * abs(px - intent.stop_price)
    else:
        at_risk = s_notional * dec(cfg.default_stop_distance)
    at_risk += sum((value(c, q) for c, q in s_other.items()), ZERO) * dec(cfg.default_stop_distance)
    limit = equity * dec(cfg.max_capital_at_risk)
    if at_risk > limit:
        raise Deny(R.CAPITAL_AT_RISK, f"{sid} would lose ${money(at_risk)} to its stop; the "
                   f"limit is {cfg.max_capital_at_risk:.0%} of equity, ${money(limit)}",
                   value=money(at_risk), limit=money(limit), **numbers)
    numbers.update(strategy_notional=money(s_notional), coin_notional=money(a_notional),
                   equity_share=frac(share), leverage=frac(leverage),
                   capital_at_risk=money(at_risk), trades_today=str(trades))


def _approve(state: RiskState, intent: OrderIntent, now: Now, numbers: dict[str, str]
             ) -> tuple[RiskState, OrderApproved, SubmitOrder]:
    command_id = command_id_for(intent.intent_id)
    cloid = cloid_for(intent.intent_id)
    command = SubmitOrder(
        ts_event=now.clock, ts_init=now.wall, correlation_id=intent.correlation_id,
        command_id=command_id, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
        coin=intent.coin, side=intent.side, size=intent.size, kind=intent.kind,
        limit_price=intent.limit_price, time_in_force=intent.time_in_force,
        reduce_only=intent.reduce_only, cloid=cloid, account=intent.account, origin="intent",
        post_only_s=intent.post_only_s, reference_price=intent.reference_price)
    approved = OrderApproved(ts_event=now.clock, ts_init=now.wall,
                             correlation_id=intent.correlation_id, intent_id=intent.intent_id,
                             strategy_id=intent.strategy_id, command_id=command_id,
                             account=intent.account, numbers=numbers)
    book = state.book(intent.account)
    strat = day_roll(book.strategy(intent.strategy_id), now.day)
    strat = msgspec.structs.replace(strat, trades_today=strat.trades_today + 1)
    resting = intent.kind == "limit" and (intent.time_in_force != "Ioc" or intent.post_only_s > 0)
    order = OpenOrder(command_id=command_id, cloid=cloid, strategy_id=intent.strategy_id,
                      coin=intent.coin, remaining=signed(intent.side, intent.size),
                      at_wall=now.wall, resting=resting)
    book = msgspec.structs.replace(
        book, strategies={**book.strategies, intent.strategy_id: strat},
        open_orders={**book.open_orders, command_id: order})
    live = state.live_of(intent.account)
    window = state.config.order_window_s * 1e9
    live = dataclasses.replace(
        live, orders=tuple(t for t in live.orders if now.wall - t < window) + (now.wall,))
    return state.with_book(book).with_live(intent.account, live), approved, command
