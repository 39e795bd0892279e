"""The trader on the bus between closes: fills attributed by cloid, a denial ends an intent, a
flatten by risk zeroes the book and nothing is bought back, the operator's flatten closes the
strategy's position, and a venue position that does not add up is reported."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec

from agents.trader.agent import BUCKET, book_key
from agents.trader.book import Book
from bus import subjects
from bus.registry import Registry
from quant.data import synthetic
from quant.dsl import parse_strategy
from schemas import (
    DenyReason,
    FlattenRequested,
    OrderDenied,
    OrderFilled,
    PositionReport,
    StrategyControl,
    cloid_for,
)
from tests.bus.helpers import eventually
from tests.trader.conftest import (
    RunningTrader,
    consumed,
    enter,
    equity,
    publish_candle,
    store_bars,
    trader_config,
)

STORED = 100
ALWAYS = "(strategy (long-entry (> close 1)) (long-exit (< close 1)))"


async def book(bus, sid: str) -> Book | None:
    kv = await bus.kv(BUCKET)
    try:
        item = await kv.get(book_key(sid))
    except Exception:
        return None
    return msgspec.json.decode(item.value, type=Book)


def filled(intent_id: str, sid: str, size: str, px: str) -> OrderFilled:
    now = time.time_ns()
    return OrderFilled(ts_event=now, ts_init=now, correlation_id=intent_id, coin="BTC",
                       cloid=cloid_for(intent_id), venue_order_id=7, fill_id=f"f-{intent_id}",
                       side="buy" if Decimal(size) > 0 else "sell", price=Decimal(px),
                       size=abs(Decimal(size)), fee=Decimal("0.1"), liquidity="taker",
                       strategy_id=sid, account="paper")


async def test_events_between_closes(nats_server, bus, tmp_path):
    ds = synthetic(seed=3, bars=STORED + 10, interval="1h")
    store_bars(tmp_path, ds, "BTC", STORED)
    await enter(bus, "e_1", parse_strategy(ALWAYS))
    await enter(bus, "e_2", parse_strategy(ALWAYS))
    trader = RunningTrader(trader_config(tmp_path, position_check_s=0.05), nats_server.url)
    try:
        await trader.ready(bus)
        await equity(bus, usd="100000")
        await eventually(lambda: trader.agent.equity.get("paper") is not None, what="equity")

        async def close(i):
            await publish_candle(bus, ds, "BTC", i, tmp_path)
            await eventually(lambda: consumed(bus), what=f"candle {i}")

        await close(STORED)
        b1, b2 = await book(bus, "e_1"), await book(bus, "e_2")
        (w1,), (w2,) = b1.working, b2.working
        # e_1 fills (twice delivered: applied once); e_2 is denied by risk
        fill = filled(w1.intent_id, "e_1", str(w1.delta), "30000")
        for _ in range(2):
            await bus.publish_durable(subjects.exec_event("paper", "filled", "BTC"), fill,
                                      msg_id=f"fill-{w1.intent_id}-{_}")
        await bus.publish_durable(subjects.risk_decision("paper", "e_2"), OrderDenied(
            ts_event=1, ts_init=1, correlation_id=w2.intent_id, intent_id=w2.intent_id,
            strategy_id="e_2", reason=DenyReason("strategy_notional"), account="paper"),
            msg_id=f"deny-{w2.intent_id}")

        async def settled():
            a, b = await book(bus, "e_1"), await book(bus, "e_2")
            return a.position == w1.delta and b.working and b.working[0].ended == "denied"

        await eventually(settled, what="the fill and the denial applied")
        assert (await book(bus, "e_1")).tracking.fills == 1
        # the venue holds more than the books say: reported after trader.position_check_s
        kv = await bus.kv(BUCKET)
        sent = [0]

        async def reported() -> bool:  # the venue keeps saying so, as execution does
            sent[0] += 1
            await bus.publish_durable(subjects.exec_position("paper", "BTC"), PositionReport(
                ts_event=1, ts_init=1, correlation_id="pos", coin="BTC",
                size=w1.delta + Decimal("1"), account="paper"), msg_id=f"pos-{sent[0]}")
            return await _has(kv, "check.paper.BTC")

        await eventually(reported, interval=0.05, what="the difference reported")

        # risk flattens the account: books zeroed; the entry condition still true at the next
        # close buys nothing back
        await bus.publish_durable(subjects.risk_flatten("paper"), FlattenRequested(
            ts_event=1, ts_init=1, correlation_id="flatten-paper-1", account="paper",
            by="risk", reason="kill switch"), msg_id="flatten-1")
        await eventually(lambda: _zero(bus, "e_1"), what="e_1 zeroed")
        await close(STORED + 1)
        b1 = await book(bus, "e_1")
        assert b1.position == 0 and b1.target == 0 and b1.model.side == 0
        assert [w for w in b1.working if not w.ended] == []
        assert "flattened by risk" in b1.note

        # the operator flattens e_2 (which holds nothing now): no order for nothing
        await bus.publish_durable(subjects.ctl_strategy("e_2"), StrategyControl(
            ts_event=1, ts_init=1, strategy_id="e_2", action="flatten", operator="operator"),
            msg_id="ctl-e_2")
        await eventually(lambda: consumed(bus, stream="CONTROL"), what="the control handled")

        # a strategy retired while it holds a position is closed; so is one whose coin is
        # blocked or that moved to the other account (the same path, at every close)
        await enter(bus, "e_3", parse_strategy(ALWAYS))
        await close(STORED + 2)
        (w3,) = (await book(bus, "e_3")).working
        await bus.publish_durable(subjects.exec_event("paper", "filled", "BTC"),
                                  filled(w3.intent_id, "e_3", str(w3.delta), "30000"),
                                  msg_id=f"fill-{w3.intent_id}")
        await eventually(lambda: _held(bus, "e_3"), what="e_3 filled")
        await (await Registry.open(bus, "operator")).move("e_3", "retired", "enough", 2)

        async def closing():
            b = await book(bus, "e_3")
            return [w for w in b.working if w.kind == "close" and w.delta == -w3.delta]

        await eventually(closing, what="the retired strategy's position closed")
    finally:
        assert await trader.close() == 0


async def _has(kv, key: str) -> bool:
    try:
        await kv.get(key)
        return True
    except Exception:
        return False


async def _held(bus, sid: str) -> bool:
    b = await book(bus, sid)
    return b is not None and b.position > 0


async def _zero(bus, sid: str) -> bool:
    b = await book(bus, sid)
    return b is not None and b.position == 0 and b.model.side == 0
