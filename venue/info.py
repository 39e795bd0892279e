"""The /info queries: read-only views of the exchange, in Hyperliquid's reply shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venue.accounts import ZERO, Account
from venue.book import Order
from venue.engine import Exchange
from venue.market import INTERVALS
from venue.wire import fmt, fmt_usd, order_wire

BAD_BODY = "Failed to deserialize the JSON body into the target type"


class InfoError(Exception):
    """A query Hyperliquid would refuse with HTTP 422 and this plain-text body."""

    def __init__(self, text: str = BAD_BODY) -> None:
        super().__init__(text)
        self.text = text


def handle_info(ex: Exchange, body: dict[str, Any], now_ms: int) -> Any:
    kind = body.get("type")
    handler = _HANDLERS.get(kind)  # type: ignore[arg-type]
    if handler is None:
        raise InfoError()
    try:
        return handler(ex, body, now_ms)
    except (KeyError, TypeError, ValueError) as exc:
        raise InfoError() from exc


def meta(ex: Exchange) -> dict:
    return {
        "universe": [
            {"name": c.name, "szDecimals": c.sz_decimals, "maxLeverage": c.max_leverage, "marginTableId": c.max_leverage}
            for c in ex.config.coins
        ]
    }


def asset_ctx(ex: Exchange, coin: str, now_ms: int) -> dict:
    book = ex.books[coin]
    oracle = ex.market.fair[coin]
    mid = book.mid()
    bid, ask = book.best_bid(), book.best_ask()
    oi = sum((max(a.szi(coin), ZERO) for a in ex.accounts.values()), ZERO)
    premium = ((mid - oracle) / oracle).quantize(Decimal("1e-10")) if mid is not None else ZERO
    day_ntl, day_base = ex.day_volume(coin, now_ms)
    ctx = {
        "funding": fmt(ex.funding_rate[coin]),
        "openInterest": fmt(oi),
        "prevDayPx": fmt(ex.prev_day_px(coin, now_ms)),
        "dayNtlVlm": fmt_usd(day_ntl),
        "premium": fmt(premium),
        "oraclePx": fmt(oracle),
        "markPx": fmt(oracle),
        "midPx": fmt(mid) if mid is not None else None,
        "impactPxs": [fmt(bid), fmt(ask)] if bid is not None and ask is not None else None,
        "dayBaseVlm": fmt(day_base),
    }
    ctx.update(ex.market.asset_ctx(coin))  # a mirror shows its source's
    return ctx


def all_mids(ex: Exchange) -> dict[str, str]:
    return {coin: fmt(ex.mid(coin)) for coin in ex.coins}


def l2_book(ex: Exchange, coin: str, now_ms: int) -> dict:
    bids, asks = ex.books[coin].levels(20)
    return {
        "coin": coin,
        "time": now_ms,
        "levels": [
            [{"px": fmt(px), "sz": fmt(sz), "n": n} for px, sz, n in bids],
            [{"px": fmt(px), "sz": fmt(sz), "n": n} for px, sz, n in asks],
        ],
    }


def bbo(ex: Exchange, coin: str, now_ms: int) -> dict:
    bids, asks = ex.books[coin].levels(1)
    def level(rows):
        if not rows:
            return None
        px, sz, n = rows[0]
        return {"px": fmt(px), "sz": fmt(sz), "n": n}
    return {"coin": coin, "time": now_ms, "bbo": [level(bids), level(asks)]}


def clearinghouse_state(ex: Exchange, user: str, now_ms: int) -> dict:
    acct = ex.account(user) or Account(address=user.lower())
    marks = ex.marks()
    positions = []
    for coin, pos in acct.positions.items():
        if pos.szi == 0:
            continue
        lev = acct.leverage_of(coin, ex.max_lev[coin])
        value = abs(pos.szi) * marks[coin]
        upnl = pos.szi * (marks[coin] - pos.entry_px)
        margin = value / lev
        roe = upnl / (abs(pos.szi) * pos.entry_px / lev)
        liq = ex.liquidation_px(acct, coin)
        positions.append(
            {
                "type": "oneWay",
                "position": {
                    "coin": coin,
                    "szi": fmt(pos.szi),
                    "leverage": {"type": "cross", "value": lev},
                    "entryPx": fmt(pos.entry_px.quantize(Decimal("1e-8")).normalize()),
                    "positionValue": fmt_usd(value),
                    "unrealizedPnl": fmt_usd(upnl),
                    "returnOnEquity": fmt(roe.quantize(Decimal("1e-10"))),
                    "liquidationPx": fmt(liq.quantize(Decimal("1e-6"))) if liq is not None else None,
                    "marginUsed": fmt_usd(margin),
                    "maxLeverage": ex.max_lev[coin],
                    "cumFunding": {
                        "allTime": fmt_usd(pos.cum_funding_all),
                        "sinceOpen": fmt_usd(pos.cum_funding_open),
                        "sinceChange": fmt_usd(pos.cum_funding_change),
                    },
                },
            }
        )
    value = acct.account_value(marks)
    used = acct.margin_used(marks, ex.max_lev)
    summary = {
        "accountValue": fmt_usd(value),
        "totalNtlPos": fmt_usd(acct.notional(marks)),
        "totalRawUsd": fmt_usd(value - sum((p.szi * marks[c] for c, p in acct.positions.items()), ZERO)),
        "totalMarginUsed": fmt_usd(used),
    }
    return {
        "marginSummary": summary,
        "crossMarginSummary": dict(summary),
        "crossMaintenanceMarginUsed": fmt_usd(acct.maintenance_margin(marks, ex.max_lev)),
        "withdrawable": fmt_usd(max(ZERO, value - used)),
        "assetPositions": positions,
        "time": now_ms,
    }


def _order_frontend(order: Order) -> dict:
    out = order_wire(order)
    is_trigger = order.trigger_px is not None
    if is_trigger:
        market = "Market" if order.is_market else "Limit"
        order_type = ("Take Profit " if order.tpsl == "tp" else "Stop ") + market
        above = (order.tpsl == "tp") != order.is_buy
        condition = f"Price {'above' if above else 'below'} {fmt(order.trigger_px)}"
    else:
        order_type, condition = "Limit", "N/A"
    out.update(
        {
            "triggerCondition": condition,
            "isTrigger": is_trigger,
            "triggerPx": fmt(order.trigger_px) if is_trigger else "0.0",
            "children": [],
            "isPositionTpsl": order.is_position_tpsl,
            "reduceOnly": order.reduce_only,
            "orderType": order_type,
            "tif": None if is_trigger else order.tif,
            "cloid": order.cloid,
        }
    )
    return out


def open_orders(ex: Exchange, user: str, frontend: bool) -> list[dict]:
    orders = sorted(ex.open_by_user.get(user.lower(), {}).values(), key=lambda o: -o.oid)
    return [_order_frontend(o) if frontend else order_wire(o) for o in orders]


def order_status(ex: Exchange, user: str, ref: Any) -> dict:
    user = user.lower()
    oid = ex.cloids.get((user, ref.lower())) if isinstance(ref, str) else ref
    record = ex.records.get(oid) if isinstance(oid, int) else None
    if record is None or record.order.user != user:
        return {"status": "unknownOid"}
    return {
        "status": "order",
        "order": {"order": _order_frontend(record.order), "status": record.status, "statusTimestamp": record.status_ts},
    }


def _meta(ex, body, now):
    return meta(ex)


def _spot_meta(ex, body, now):
    return {"universe": [], "tokens": []}


def _meta_ctxs(ex, body, now):
    return [meta(ex), [asset_ctx(ex, c, now) for c in ex.coins]]


def _all_mids(ex, body, now):
    return all_mids(ex)


def _l2(ex, body, now):
    coin = body["coin"]
    if coin not in ex.books:
        return None
    return l2_book(ex, coin, now)


def _candles(ex, body, now):
    req = body["req"]
    if req["interval"] not in INTERVALS or req["coin"] not in ex.books:
        return []
    end = req.get("endTime")
    return ex.market.candles.snapshot(req["coin"], req["interval"], int(req["startTime"]), int(end) if end is not None else now)


def _clearinghouse(ex, body, now):
    return clearinghouse_state(ex, body["user"], now)


def _open_orders(ex, body, now):
    return open_orders(ex, body["user"], frontend=False)


def _frontend_open_orders(ex, body, now):
    return open_orders(ex, body["user"], frontend=True)


def _user_fills(ex, body, now):
    fills = ex.fills.get(body["user"].lower(), [])
    return list(reversed(fills[-2000:]))


def _user_fills_by_time(ex, body, now):
    start = int(body["startTime"])
    end = body.get("endTime")
    end = int(end) if end is not None else now
    fills = ex.fills.get(body["user"].lower(), [])
    return [f for f in fills if start <= f["time"] <= end][:2000]


def _funding_history(ex, body, now):
    start = int(body["startTime"])
    end = body.get("endTime")
    end = int(end) if end is not None else now
    rows = ex.funding_history.get(body["coin"], [])
    return [r for r in rows if start <= r["time"] <= end][:500]


def _user_funding(ex, body, now):
    start = int(body["startTime"])
    end = body.get("endTime")
    end = int(end) if end is not None else now
    rows = ex.user_funding.get(body["user"].lower(), [])
    return [r for r in rows if start <= r["time"] <= end][:500]


def _non_funding_ledger(ex, body, now):
    start = int(body["startTime"])
    end = body.get("endTime")
    end = int(end) if end is not None else now
    rows = ex.ledger.get(body["user"].lower(), [])
    return [r for r in rows if start <= r["time"] <= end][:2000]


def _historical_orders(ex, body, now):
    user = body["user"].lower()
    records = [r for r in ex.records.values() if r.order.user == user]
    records.sort(key=lambda r: -r.order.oid)
    return [
        {"order": _order_frontend(r.order), "status": r.status, "statusTimestamp": r.status_ts} for r in records[:2000]
    ]


def _spot_clearinghouse(ex, body, now):
    return {"balances": []}


def _order_status(ex, body, now):
    return order_status(ex, body["user"], body["oid"])


def _perp_dexs(ex, body, now):
    return [None]


def _user_rate_limit(ex, body, now):
    user = body["user"].lower()
    acct = ex.account(user)
    volume = acct.volume if acct else ZERO
    return {
        "cumVlm": fmt_usd(volume),
        "nRequestsUsed": ex.budget.sent.get(user, 0),
        "nRequestsCap": ex.budget.initial + int(volume),
    }


_HANDLERS = {
    "meta": _meta,
    "spotMeta": _spot_meta,
    "metaAndAssetCtxs": _meta_ctxs,
    "allMids": _all_mids,
    "l2Book": _l2,
    "candleSnapshot": _candles,
    "clearinghouseState": _clearinghouse,
    "openOrders": _open_orders,
    "frontendOpenOrders": _frontend_open_orders,
    "userFills": _user_fills,
    "userFillsByTime": _user_fills_by_time,
    "fundingHistory": _funding_history,
    "orderStatus": _order_status,
    "perpDexs": _perp_dexs,
    "userRateLimit": _user_rate_limit,
    "userFunding": _user_funding,
    "userNonFundingLedgerUpdates": _non_funding_ledger,
    "historicalOrders": _historical_orders,
    "spotClearinghouseState": _spot_clearinghouse,
}
