"""The trader's decisions equal the backtest's bar for bar (pure: the model against the
simulator over the same compiled signals), for strategies covering every primitive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.trader.model import (
    Bar,
    BarSignals,
    Exits,
    Model,
    flattened,
    levels,
    on_close,
    on_fill_price,
    on_mid,
    stop_price,
)
from quant.data import synthetic
from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.primitives import PRIMITIVES
from quant.random_genome import random_strategy
from quant.signals import IndicatorCache, compile_signals
from quant.types import THRESHOLD_CONST, WINDOW_CONST
from tests.trader.parity import backtest_sides, model_sides

H = 3_600_000


def used(strategy: Strategy) -> set[str]:
    out: set[str] = set()

    def walk(node):
        if node.name not in (WINDOW_CONST, THRESHOLD_CONST):
            out.add(node.name)
        for c in node.children:
            walk(c)

    for tree in strategy.trees():
        walk(tree)
    return out


def covering_strategies(max_window: int = 120) -> list[Strategy]:
    """Random strategies (with stops, take-profits, trailing stops, holding limits and both
    sizings) until every primitive of the catalogue has been used."""
    rng = np.random.default_rng(13)
    missing = set(PRIMITIVES) - {"true"}  # random genomes never draw the constant true
    out = [parse_strategy("(strategy (long-entry (and true (> close (sma close 10))))"
                          " (long-exit (< close (sma close 10))))")]
    for _ in range(2000):
        if not missing and len(out) >= 40:
            break
        s = random_strategy(rng, depth=4, shorts=rng.random() < 0.8, max_window=max_window)
        u = used(s)
        if u & missing or len(out) < 40:
            out.append(s)
            missing -= u
    assert not missing, f"primitives never drawn: {sorted(missing)}"
    return out


@pytest.fixture(scope="module")
def market():
    return synthetic(seed=7, bars=3000, interval="1h")


def test_every_primitive_is_covered():
    assert set().union(*(used(s) for s in covering_strategies())) == set(PRIMITIVES)


def test_decisions_equal_the_backtest_bar_for_bar(market):
    cache = IndicatorCache(market)
    start = 400
    compared = trades = stop_exits = 0
    for s in covering_strategies():
        sig = compile_signals(s, cache)
        want, want_exits = backtest_sides(s, sig, market, start)
        got, got_exits = model_sides(s, sig, market, start)
        bad = np.flatnonzero(want[start:-1] != got[start:-1])
        assert bad.size == 0, (
            f"{s}: first difference at bar {start + bad[0]}: backtest {want[start + bad[0]]}, "
            f"trader {got[start + bad[0]]}")
        assert got_exits == want_exits
        compared += len(market) - 1 - start
        trades += int(np.count_nonzero(np.diff(got[start:]) != 0))
        stop_exits += len(got_exits)
    assert trades > 500 and stop_exits > 20, (trades, stop_exits)


def test_hand_written_risk_genes(market):
    cache = IndicatorCache(market)
    texts = [
        "(strategy (long-entry (> close (sma close 20))) (long-exit (< close (sma close 50)))"
        " (short-entry (< close (sma close 20))) (short-exit (> close (sma close 50)))"
        " (stop-loss 0.01) (take-profit 0.02))",
        "(strategy (long-entry (cross-above (ema close 5) (ema close 30)))"
        " (long-exit false) (trailing-stop 0.01) (max-hold 12))",
        "(strategy (short-entry (> (rsi close 14) 60)) (short-exit (< (rsi close 14) 40))"
        " (size (vol-target 0.5 24)) (stop-loss 0.02) (trailing-stop 0.015))",
    ]
    for text in texts:
        s = parse_strategy(text)
        sig = compile_signals(s, cache)
        for start in (0, 1, 250):
            want, we = backtest_sides(s, sig, market, start)
            got, ge = model_sides(s, sig, market, start)
            assert np.array_equal(want[start:-1], got[start:-1]) and we == ge, text


X = Exits(stop_loss=0.02, take_profit=0.05, trailing_stop=0.01)


def long_at(px: float) -> Model:
    return Model(side=1, entry_bar=0, entry_px=px, px_from_fill=True, peak=px, size=0.5)


def test_mid_updates_follow_the_levels_between_closes():
    m = long_at(100.0)
    stop, why, tp = levels(m, X)
    assert (stop, why, tp) == (99.0, "trailing-stop", 105.0)
    m, reason, _ = on_mid(m, 102.0, X)  # new peak: the trailing stop rises
    assert reason == "" and m.peak == 102.0
    assert levels(m, X)[0] == pytest.approx(100.98)
    m, reason, level = on_mid(m, 100.9, X)
    assert reason == "trailing-stop" and m.side == 0 and level == pytest.approx(100.98)
    m, reason, _ = on_mid(long_at(100.0), 105.0, X)
    assert reason == "take-profit" and m.side == 0
    short = Model(side=-1, entry_bar=0, entry_px=100.0, px_from_fill=True, peak=100.0)
    m, reason, _ = on_mid(short, 101.0, X)
    assert reason == "trailing-stop" and m.side == 0


def test_levels_hang_on_the_fill_once_heard():
    m = Model(side=1, entry_bar=H, size=0.5)
    m = on_fill_price(m, 200.0)
    assert m.entry_px == 200.0 and m.peak == 200.0
    m2, d = on_close(m, Bar(H, 210.0, 211.0, 199.0, 205.0),
                     BarSignals(False, False, False, False, 0.5), Exits(stop_loss=0.01), H)
    assert d.exit_reason == "stop-loss" and d.exit_level == pytest.approx(198.0) is not None \
        or d.exit_reason == ""  # 199 > 198: not touched
    assert m2.side == 1 and m2.entry_px == 200.0


def test_stop_price_for_risk():
    assert stop_price(1, 100.0, Exits(stop_loss=0.05)) == pytest.approx(95.0)
    assert stop_price(-1, 100.0, Exits(stop_loss=0.05, trailing_stop=0.02)) == pytest.approx(102.0)
    assert stop_price(1, 100.0, Exits()) is None


def test_after_a_flatten_a_side_waits_for_a_fresh_signal():
    """Risk sold the position: a level signal still true at the next close does not buy it
    back; once the condition has been false at a close, the next entry goes through."""
    sig_on = BarSignals(True, False, False, False, 0.5)
    sig_off = BarSignals(False, False, False, False, 0.5)
    m = flattened(long_at(100.0))
    m, d = on_close(m, Bar(H, 1, 1, 1, 1), sig_on, Exits(), H)
    assert m.side == 0 and not d.entered
    m, d = on_close(m, Bar(2 * H, 1, 1, 1, 1), sig_off, Exits(), H)
    assert m.armed_long and m.side == 0
    m, d = on_close(m, Bar(3 * H, 1, 1, 1, 1), sig_on, Exits(), H)
    assert d.entered and m.side == 1 and m.entry_bar == 4 * H


def test_an_entry_not_allowed_disarms_its_side():
    sig_on = BarSignals(True, False, False, False, 0.5)
    m, d = on_close(Model(), Bar(H, 1, 1, 1, 1), sig_on, Exits(), H, may_enter=False)
    assert m.side == 0 and d.suppressed == 1 and not m.armed_long
    m, d = on_close(m, Bar(2 * H, 1, 1, 1, 1), sig_on, Exits(), H)
    assert m.side == 0, "still the same signal: waits for a fresh one"


def test_nan_size_never_enters():
    m, d = on_close(Model(), Bar(H, 1, 1, 1, 1), BarSignals(True, False, False, False, math.nan),
                    Exits(), H)
    assert m.side == 0 and not d.entered


def test_the_history_keeps_its_bound_and_its_last_bars():
    from agents.trader.history import MarketHistory

    ds = synthetic(seed=1, bars=400, interval="1h")
    m = MarketHistory("BTC", "1h", history_bars=200)
    assert m.seed(ds, int(ds.time_ms[300])) == 200
    assert m.bar(0).open_ms == int(ds.time_ms[100])
    for i in range(300, 400):
        assert m.append(Bar(int(ds.time_ms[i]), ds.open[i], ds.high[i], ds.low[i], ds.close[i]),
                        float(ds.volume[i]))
        assert 200 <= len(m) <= 300
    assert not m.append(m.bar(-1), 1.0)  # the same bar again
    assert m.bar(-1).open_ms == int(ds.time_ms[399])
    view = m.dataset()
    assert np.array_equal(view.close, ds.close[400 - len(m):])
