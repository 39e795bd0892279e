"""Virtual positions: intents for the difference, fills attributed by cloid (once), the venue's
minimum, flattens, and slippage / tracking error against the backtest's fills."""

from __future__ import annotations

from decimal import Decimal

import dataclasses

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.trader import book as bk
from agents.trader.book import Book, coins_for
from agents.trader.decide import Sizing, on_bar, on_fill, on_flatten, on_price, position_difference
from agents.trader.model import Bar, BarSignals, Exits
from schemas import OrderFilled, cloid_for

H = 3_600_000
D = Decimal
SZ = Sizing(equity=D("10000"), weight=0.1, min_notional=D("10"))
LONG = BarSignals(True, False, False, False, 1.0)
EXIT = BarSignals(False, True, False, False, 1.0)
NONE = BarSignals(False, False, False, False, 1.0)


def new() -> Book:
    return Book(strategy_id="s1", coin="BTC", interval="1h", account="paper")


def bar(i: int, px: float = 100.0, lo: float | None = None, hi: float | None = None) -> Bar:
    return Bar(i * H, px, hi if hi is not None else px, lo if lo is not None else px, px)


def fill(intent_id: str, side: str, size: str, px: str, n: int = 0, remaining: str = "0",
         sid: str = "s1") -> OrderFilled:
    return OrderFilled(ts_event=1, ts_init=1, correlation_id=intent_id, coin="BTC",
                       cloid=cloid_for(intent_id), venue_order_id=1, fill_id=f"{intent_id}-{n}",
                       side=side, price=D(px), size=D(size), fee=D("0.01"), liquidity="taker",
                       strategy_id=sid, remaining=D(remaining))


def test_entry_sizes_direction_x_gene_x_weight_x_equity():
    b, out = on_bar(new(), bar(1), LONG, Exits(), H, SZ, trading=True, now_ns=5)
    (it,) = out
    assert it.side == "buy" and it.size == D("10") and it.target_position == D("10")
    assert it.intent_id == "s1-1" and it.reference_price == D("100.0") and it.bar_time == H * 10**6
    assert b.target == D("10") and b.wanted == 0
    assert coins_for(-1, 0.5, 0.1, D("10000"), D("200")) == D("-2.5")


def test_fills_are_attributed_once_and_the_rest_is_ordered_at_the_next_close():
    b, (it,) = on_bar(new(), bar(1), LONG, Exits(), H, SZ, trading=True, now_ns=5)
    b = on_fill(b, fill(it.intent_id, "buy", "4", "100.5", 0, remaining="6"))
    b = on_fill(b, fill(it.intent_id, "buy", "4", "100.5", 0, remaining="6"))  # redelivered
    assert b.position == D("4") and b.tracking.fills == 1
    b = bk.end(b, "expired", cloid=cloid_for(it.intent_id))  # IOC remainder
    assert b.wanted == D("6")
    b, out = on_bar(b, bar(2), NONE, Exits(), H, SZ, trading=True, now_ns=6)
    assert [(x.side, x.size, x.intent_id) for x in out] == [("buy", D("6"), "s1-2")]
    # the bar was decided: the same bar again changes nothing
    assert on_bar(b, bar(2), NONE, Exits(), H, SZ, trading=True, now_ns=7) == (b, [])


def test_below_the_minimum_nothing_but_a_whole_close_goes_reduce_only():
    tiny = dataclasses.replace(SZ, equity=D("50"))  # 50 x 0.1 x 1 = $5
    b, out = on_bar(new(), bar(1), LONG, Exits(), H, tiny, trading=True, now_ns=5)
    assert out == [] and b.target == D("0.05")
    b = msgspec.structs.replace(b, position=D("0.05"))
    b, out = on_bar(b, bar(2), EXIT, Exits(), H, tiny, trading=True, now_ns=6)
    (it,) = out
    assert it.side == "sell" and it.size == D("0.05") and it.reduce_only


def test_stops_between_closes_and_the_backtests_fill_for_tracking():
    x = Exits(stop_loss=0.02)
    b, (it,) = on_bar(new(), bar(1), LONG, x, H, SZ, trading=True, now_ns=5)
    assert it.stop_price == D("98.0")
    b = on_fill(b, fill(it.intent_id, "buy", "10", "100.2"))
    assert b.model.entry_px == pytest.approx(100.2)
    b, out = on_price(b, 99.0, x, H, SZ, now_ns=6)
    assert out == [] and b.model.side == 1
    b, (stop,) = on_price(b, 98.1, x, H, SZ, now_ns=7)
    assert stop.side == "sell" and stop.size == D("10") and "stop-loss" in stop.reason
    w = next(w for w in b.working if w.intent_id == stop.intent_id)
    assert w.assumed == pytest.approx(100.2 * 0.98 * (1 - 1e-4))
    b = on_fill(b, fill(stop.intent_id, "sell", "10", "98.0"))
    assert b.position == 0 and len(b.trade_returns) == 1
    # the entry's backtest fill is the next bar's open: known at the next close
    b, _ = on_bar(b, bar(2, 100.1), NONE, x, H, SZ, trading=True, now_ns=8)
    t = b.tracking
    assert t.orders == 2 and t.fills == 2 and b.working == []
    assert t.slippage_bps == pytest.approx(
        (20.0 * 1002 + (98.1 - 98.0) / 98.1 * 1e4 * 980) / (1002 + 980), rel=1e-6)
    assert t.tracking_error_bps > 0


def test_a_flatten_zeroes_and_nothing_is_bought_back():
    b, (it,) = on_bar(new(), bar(1), LONG, Exits(), H, SZ, trading=True, now_ns=5)
    b = on_fill(b, fill(it.intent_id, "buy", "10", "100"))
    b = on_flatten(b, "risk")
    assert b.position == 0 and b.target == 0 and b.model.side == 0
    b, out = on_bar(b, bar(2), LONG, Exits(), H, SZ, trading=True, now_ns=6)
    assert out == []  # the entry condition is still true: not a fresh signal
    b, out = on_bar(b, bar(3), NONE, Exits(), H, SZ, trading=True, now_ns=7)
    b, out = on_bar(b, bar(4), LONG, Exits(), H, SZ, trading=True, now_ns=8)
    assert [x.side for x in out] == ["buy"]


def test_paused_strategies_exit_but_do_not_enter():
    b, (it,) = on_bar(new(), bar(1), LONG, Exits(), H, SZ, trading=True, now_ns=5)
    b = on_fill(b, fill(it.intent_id, "buy", "10", "100"))
    b, out = on_bar(b, bar(2), EXIT, Exits(), H, SZ, trading=False, now_ns=6)
    assert [x.side for x in out] == ["sell"]
    b, out = on_bar(b, bar(3), LONG, Exits(), H, SZ, trading=False, now_ns=7)
    assert out == [] and "not allowed" in b.note


def test_no_equity_heard_no_entry():
    b, out = on_bar(new(), bar(1), LONG, Exits(), H, dataclasses.replace(SZ, equity=None),
                    trading=True, now_ns=5)
    assert out == [] and "exec.account" in b.note


@given(fills=st.lists(st.tuples(st.sampled_from(["buy", "sell"]),
                                st.decimals(D("0.001"), D("5"), places=3),
                                st.decimals(D("50"), D("150"), places=2)), max_size=30))
def test_virtual_positions_add_up_to_the_venue(fills):
    """Whatever fills come (each once, some redelivered), the strategies' positions plus the
    operator's equal the venue's."""
    books = [new(), msgspec.structs.replace(new(), strategy_id="s2")]
    venue, op = D(0), D(0)
    for n, (side, size, px) in enumerate(fills):
        who = n % 3
        signed = size if side == "buy" else -size
        venue += signed
        if who == 2:
            op += signed
            continue
        f = fill(f"x-{n}", side, str(size), str(px), n, sid=books[who].strategy_id)
        books[who] = on_fill(on_fill(books[who], f), f)
    assert position_difference(books, op, venue) == 0


def test_a_denied_entry_is_given_up_and_a_denied_exit_asked_again():
    from agents.trader.decide import on_denied

    b, (it,) = on_bar(new(), bar(1), LONG, Exits(), H, SZ, trading=True, now_ns=5)
    b = on_denied(b, it.intent_id, "strategy_notional")
    assert b.target == 0 and b.wanted == 0 and not b.model.armed_long
    assert "denied by risk (strategy_notional)" in b.note
    b, out = on_bar(b, bar(2), LONG, Exits(), H, SZ, trading=True, now_ns=6)
    assert out == []  # not asked again at every bar
    held = msgspec.structs.replace(new(), position=D("10"), target=D("10"),
                                   model=msgspec.structs.replace(b.model, side=1))
    b, (ex,) = on_bar(held, bar(3), EXIT, Exits(), H, SZ, trading=True, now_ns=7)
    b = on_denied(b, ex.intent_id, "trading_halted")
    b, (again,) = on_bar(b, bar(4), NONE, Exits(), H, SZ, trading=True, now_ns=8)
    assert again.side == "sell" and again.size == D("10")
