"""What happens as time passes: the synthetic liquidity is requoted around the market, triggers
fire, dead-man switches cancel, funding is paid each interval, and accounts below maintenance
margin are liquidated. Functions of the core and `now_ms`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from loguru import logger

from venue import rules
from venue.accounts import MARKET_MAKER, ZERO
from venue.book import Order
from venue.limits import DAY_MS
from venue.wire import BPS, fmt


if TYPE_CHECKING:
    from venue.engine import Exchange


def requote(ex: Exchange, now_ms: int) -> None:
    """Replace the synthetic liquidity around the fair price; quotes that cross resting user
    orders trade with them first (that is how a moving market fills resting orders)."""
    cfg = ex.config
    half = Decimal(cfg.mm_half_spread_bps) / BPS
    step = Decimal(cfg.mm_level_step_bps) / BPS
    level_usd = Decimal(cfg.mm_level_usd)
    for coin in ex.coins:
        if not ex.market.needs_requote(coin):
            continue
        book = ex.books[coin]
        for order in [o for o in book.orders() if o.is_synthetic]:
            book.remove(order)
        fair = ex.market.fair[coin]
        spec = ex.specs[coin]
        lot = Decimal(1).scaleb(-spec.sz_decimals)
        ladder = ex.market.ladder(coin)
        for is_buy in (False, True):
            if ladder is not None:
                levels = ladder[0] if is_buy else ladder[1]
                quotes = [(rules.round_price(lvl[0], spec.sz_decimals, up=not is_buy), lvl[1],
                           lvl[2] if len(lvl) > 2 else 1) for lvl in levels]
            else:
                quotes = []
                for i in range(cfg.mm_levels):
                    off = half + step * i
                    raw = fair * (1 - off) if is_buy else fair * (1 + off)
                    px = rules.round_price(raw, spec.sz_decimals, up=not is_buy)
                    quotes.append((px, max(lot, (level_usd / px).quantize(lot, rounding="ROUND_DOWN")), 1))
            for px, sz, count in quotes:
                if px <= 0 or sz <= 0:
                    continue
                order = Order(
                    oid=ex.new_oid(), coin=coin, asset=ex.asset_of[coin], user=MARKET_MAKER,
                    is_buy=is_buy, px=px, sz=sz, orig_sz=sz, tif="Gtc", timestamp=now_ms, is_synthetic=True,
                    count=count,
                )
                ex.match(order, now_ms)
                if order.sz > 0:
                    book.add(order)


def fire_triggers(ex: Exchange, now_ms: int) -> None:
    marks = ex.marks()
    for order in list(ex.triggers.values()):
        if order.oid not in ex.triggers:  # canceled as the sibling of one that fired
            continue
        if ex.market.halt_reason(order.coin):  # a stale mirror: no book to fill it, it waits
            continue
        mark = marks[order.coin]
        assert order.trigger_px is not None
        # A stop fires when the price moves against the position it protects, a take-profit
        # when it moves in its favour: sell-sl and buy-tp below, sell-tp and buy-sl above.
        above = (order.tpsl == "tp") != order.is_buy
        if (above and mark < order.trigger_px) or (not above and mark > order.trigger_px):
            continue
        del ex.triggers[order.oid]
        ex.open_by_user.get(order.user, {}).pop(order.oid, None)
        ex.remember(order, "triggered", now_ms)
        ex.order_update(order, "triggered", now_ms)
        for sibling_oid in ex.siblings.pop(order.oid, []):
            sibling = ex.triggers.get(sibling_oid)
            if sibling is not None:
                ex.cancel_order(sibling, "siblingFilledCanceled", now_ms)
        acct = ex.accounts[order.user]
        szi = acct.szi(order.coin)
        if order.reduce_only and (szi == 0 or (szi > 0) == order.is_buy):
            ex.remember(order, "reduceOnlyCanceled", now_ms)
            ex.order_update(order, "reduceOnlyCanceled", now_ms)
            continue
        order.tif = "Ioc" if order.is_market else "Gtc"
        trigger_px = order.trigger_px
        order.trigger_px = None
        filled, _ = ex.match(order, now_ms)
        if order.sz > 0 and not order.is_market:
            ex.books[order.coin].add(order)
            ex.open_by_user.setdefault(order.user, {})[order.oid] = order
            ex.remember(order, "open", now_ms)
        else:
            status = "filled" if order.sz == 0 else "canceled"
            ex.remember(order, status, now_ms)
            ex.order_update(order, status, now_ms)
        order.trigger_px = trigger_px


def fire_schedules(ex: Exchange, now_ms: int) -> None:
    for user, when in list(ex.schedule.items()):
        if now_ms < when:
            continue
        del ex.schedule[user]
        day = now_ms // DAY_MS
        ex.schedule_triggers[(user, day)] = ex.schedule_triggers.get((user, day), 0) + 1
        canceled = []
        for order in list(ex.open_by_user.get(user, {}).values()):
            ex.cancel_order(order, "scheduledCancel", now_ms)
            canceled.append({"coin": order.coin, "oid": order.oid})
        if canceled:
            ex.outbox.append(("user", user, {"nonUserCancel": canceled}))
        logger.info("dead-man switch fired for {}: {} orders canceled", user, len(canceled))


def fund(ex: Exchange, now_ms: int) -> None:
    """Pay every funding interval that ended since the last call (a clock jump pays each)."""
    if ex.market.funding_from_source:
        return  # a mirror pays its source's rows as they come (venue.mirror)
    slot = now_ms // ex.config.funding_interval_ms
    first = max(ex.last_funding_slot + 1, slot - 24 * 7)
    for due in range(first, slot + 1):
        fund_once(ex, due * ex.config.funding_interval_ms)
    ex.last_funding_slot = max(ex.last_funding_slot, slot)


def fund_once(ex: Exchange, at: int) -> None:
    interest = Decimal(ex.config.funding_interest_8h)
    cap = Decimal(ex.config.funding_cap_hourly)
    for coin in ex.coins:
        oracle = ex.market.fair[coin]
        premium = (ex.mid(coin) - oracle) / oracle
        clamp = max(Decimal("-0.0005"), min(Decimal("0.0005"), interest - premium))
        rate = max(-cap, min(cap, (premium + clamp) / 8)).quantize(Decimal("1e-10")).normalize()
        pay_funding(ex, coin, rate, premium.quantize(Decimal("1e-10")), oracle, at)


def pay_funding(ex: Exchange, coin: str, rate: Decimal, premium: Decimal, oracle: Decimal,
                at: int) -> None:
    """One funding payment on `coin` at `at`: every position pays size × oracle × rate."""
    ex.funding_rate[coin] = rate
    ex.funding_history[coin].append(
        {"coin": coin, "fundingRate": fmt(rate), "premium": fmt(premium), "time": at}
    )
    for acct in ex.accounts.values():
        szi = acct.szi(coin)
        if szi == 0:
            continue
        amount = szi * oracle * rate  # exact: the payments of all sides sum to zero
        acct.pay_funding(coin, amount)
        if not acct.exempt:
            event = {"time": at, "coin": coin, "usdc": fmt(-amount), "szi": fmt(szi), "fundingRate": fmt(rate)}
            ex.outbox.append(("user", acct.address, {"funding": event}))
            delta = {"type": "funding", "coin": coin, "usdc": event["usdc"], "szi": event["szi"],
                     "fundingRate": event["fundingRate"], "nSamples": None}
            ex.user_funding.setdefault(acct.address, []).append(
                {"time": at, "hash": "0x" + "0" * 64, "delta": delta}
            )


def liquidate(ex: Exchange, now_ms: int) -> None:
    marks = ex.marks()
    mm = ex.accounts[MARKET_MAKER]
    for acct in list(ex.accounts.values()):
        if acct.exempt or not any(p.szi for p in acct.positions.values()):
            continue
        value = acct.account_value(marks)
        if value >= acct.maintenance_margin(marks, ex.max_lev):
            continue
        ntl = acct.notional(marks)
        ex.now_ms = now_ms
        ex.ledger_row(acct.address, {
            "type": "liquidation", "liquidatedNtlPos": fmt(ntl), "accountValue": fmt(value),
            "leverageType": "Cross",
            "liquidatedPositions": [{"coin": c, "szi": fmt(p.szi)}
                                    for c, p in acct.positions.items() if p.szi != 0],
        })
        for order in list(ex.open_by_user.get(acct.address, {}).values()):
            ex.cancel_order(order, "liquidatedCanceled", now_ms)
            ex.outbox.append(("user", acct.address, {"nonUserCancel": [{"coin": order.coin, "oid": order.oid}]}))
        for coin, pos in list(acct.positions.items()):
            if pos.szi == 0:
                continue
            close = Order(
                oid=ex.new_oid(), coin=coin, asset=ex.asset_of[coin], user=acct.address, is_buy=pos.szi < 0,
                px=marks[coin], sz=abs(pos.szi), orig_sz=abs(pos.szi), tif="Ioc", timestamp=now_ms,
            )
            backstop = Order(
                oid=ex.new_oid(), coin=coin, asset=ex.asset_of[coin], user=mm.address, is_buy=not close.is_buy,
                px=marks[coin], sz=close.sz, orig_sz=close.sz, tif="Gtc", timestamp=now_ms, is_synthetic=True,
            )
            # The liquidator (the simulator's backstop) takes the position over at the mark.
            ex.books[coin].add(backstop)
            detail = {"liquidatedUser": acct.address, "markPx": fmt(marks[coin]), "method": "market"}
            trade = ex.fill(close, backstop, marks[coin], close.sz, now_ms, liquidation=detail)
            ex.outbox.append(("trades", coin, [trade]))
            ex.books[coin].remove(backstop)
        if acct.cash < 0:
            # Like Hyperliquid's backstop vault, the liquidator absorbs a loss beyond the account's money.
            deficit = -acct.cash
            mm.cash -= deficit
            acct.cash = ZERO
            acct.bad_debt_covered += deficit
        logger.info("liquidated {} (account value {}, notional {})", acct.address, value, ntl)
        ex.outbox.append(
            (
                "user",
                acct.address,
                {
                    "liquidation": {
                        "lid": ex.next_tid,
                        "liquidator": MARKET_MAKER,
                        "liquidated_user": acct.address,
                        "liquidated_ntl_pos": fmt(ntl),
                        "liquidated_account_value": fmt(value),
                    }
                },
            )
        )
