"""The primitive catalogue: the single source of truth for names, argument kinds, window bounds
and implementations. The DSL, the signal compiler and evolution all read it from here.

A symbol may be overloaded (`>` compares two series or a series with a threshold); each overload
has its own unique key, and the DSL picks the overload from the argument kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from quant import nb_indicators as nb
from quant.types import Kind

S, B, W, K = Kind.SERIES, Kind.BOOL, Kind.WINDOW, Kind.THRESHOLD


@dataclass(frozen=True)
class Arg:
    kind: Kind
    name: str
    lo: float | None = None  # inclusive bounds for window / threshold constants
    hi: float | None = None


@dataclass(frozen=True)
class Primitive:
    key: str  # unique id (tree node name)
    symbol: str  # what the DSL reads and prints
    args: tuple[Arg, ...]
    ret: Kind
    fn: Callable[..., np.ndarray]  # fn(market, *evaluated args) -> float64 or bool array
    doc: str
    commutative: bool = False
    cached: bool = True  # worth keeping in the indicator cache


def _w(name: str, lo: int, hi: int) -> Arg:
    return Arg(W, name, lo, hi)


def _k(name: str, lo: float | None = None, hi: float | None = None) -> Arg:
    return Arg(K, name, lo, hi)


_X = Arg(S, "x")
_Y = Arg(S, "y")
_P = Arg(B, "p")
_Q = Arg(B, "q")


def _f(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


# Comparisons with NaN are False (warm-up bars never signal) and raise no warning.
def _cmp_gt(a, b):
    return np.greater(a, b)


def _cmp_lt(a, b):
    return np.less(a, b)


def _full(m, k: float) -> np.ndarray:
    return np.full(m.close.shape[0], float(k))


_CATALOGUE: list[Primitive] = [
    # Terminals: market columns and boolean constants.
    Primitive("open", "open", (), S, lambda m: m.open, "bar open price", cached=False),
    Primitive("high", "high", (), S, lambda m: m.high, "bar high price", cached=False),
    Primitive("low", "low", (), S, lambda m: m.low, "bar low price", cached=False),
    Primitive("close", "close", (), S, lambda m: m.close, "bar close price", cached=False),
    Primitive("volume", "volume", (), S, lambda m: m.volume, "bar volume", cached=False),
    Primitive("returns", "returns", (), S, lambda m: nb.pct_change(m.close, 1),
              "one-bar simple return of close (fraction)"),
    Primitive("true", "true", (), B, lambda m: np.ones(m.close.shape[0], np.bool_), "always",
              cached=False),
    Primitive("false", "false", (), B, lambda m: np.zeros(m.close.shape[0], np.bool_), "never",
              cached=False),
    # Moving averages and oscillators over any series.
    Primitive("sma", "sma", (_X, _w("n", 2, 500)), S, lambda m, x, n: nb.sma(_f(x), n),
              "simple moving average over n bars"),
    Primitive("ema", "ema", (_X, _w("n", 2, 500)), S, lambda m, x, n: nb.ema(_f(x), n),
              "exponential moving average, SMA-seeded"),
    Primitive("rsi", "rsi", (_X, _w("n", 2, 200)), S, lambda m, x, n: nb.rsi(_f(x), n),
              "Wilder RSI, 0..100"),
    Primitive("macd", "macd", (_X, _w("fast", 2, 200), _w("slow", 3, 400)), S,
              lambda m, x, f, s: nb.ema(_f(x), f) - nb.ema(_f(x), s), "MACD line"),
    Primitive("macd-signal", "macd-signal",
              (_X, _w("fast", 2, 200), _w("slow", 3, 400), _w("signal", 2, 100)), S,
              lambda m, x, f, s, g: nb.macd(_f(x), f, s, g)[1], "MACD signal line"),
    Primitive("macd-hist", "macd-hist",
              (_X, _w("fast", 2, 200), _w("slow", 3, 400), _w("signal", 2, 100)), S,
              lambda m, x, f, s, g: nb.macd(_f(x), f, s, g)[2], "MACD histogram"),
    Primitive("bb-pctb", "bb-pctb", (_X, _w("n", 3, 500), _k("k", 0.5, 4.0)), S,
              lambda m, x, n, k: nb.bollinger_pctb(_f(x), n, k), "Bollinger %B (SMA ± k·std)"),
    Primitive("roc", "roc", (_X, _w("n", 1, 500)), S, lambda m, x, n: nb.roc(_f(x), n),
              "rate of change over n bars, percent"),
    Primitive("zscore", "zscore", (_X, _w("n", 3, 500)), S, lambda m, x, n: nb.zscore(_f(x), n),
              "rolling z-score over n bars"),
    Primitive("realized-vol", "realized-vol", (_X, _w("n", 3, 500)), S,
              lambda m, x, n: nb.realized_vol(_f(x), n), "rolling std of one-bar returns (per bar)"),
    Primitive("lag", "lag", (_X, _w("n", 1, 500)), S, lambda m, x, n: nb.lag(_f(x), n),
              "value n bars earlier"),
    Primitive("rolling-max", "rolling-max", (_X, _w("n", 2, 500)), S,
              lambda m, x, n: nb.rolling_extreme(_f(x), n, True), "highest value over n bars"),
    Primitive("rolling-min", "rolling-min", (_X, _w("n", 2, 500)), S,
              lambda m, x, n: nb.rolling_extreme(_f(x), n, False), "lowest value over n bars"),
    Primitive("exhaustion", "exhaustion", (_X, _w("lag", 1, 20)), S,
              lambda m, x, n: nb.exhaustion_count(_f(x), n),
              "signed count of consecutive closes beyond the value `lag` bars earlier"),
    Primitive("exhausted-up", "exhausted-up", (_X, _w("lag", 1, 20), _w("level", 1, 30)), B,
              lambda m, x, n, lv: nb.exhaustion_count(_f(x), n) >= lv,
              "at least `level` consecutive closes above the value `lag` bars earlier"),
    Primitive("exhausted-down", "exhausted-down", (_X, _w("lag", 1, 20), _w("level", 1, 30)), B,
              lambda m, x, n, lv: nb.exhaustion_count(_f(x), n) <= -lv,
              "at least `level` consecutive closes below the value `lag` bars earlier"),
    # Indicators on the bar itself (high, low, close, volume).
    Primitive("atr", "atr", (_w("n", 2, 200),), S,
              lambda m, n: nb.atr(m.high, m.low, m.close, n), "average true range (Wilder)"),
    Primitive("adx", "adx", (_w("n", 2, 100),), S,
              lambda m, n: nb.adx(m.high, m.low, m.close, n), "average directional index"),
    Primitive("stoch", "stoch", (_w("n", 2, 200), _w("smooth", 1, 20)), S,
              lambda m, n, s: nb.stoch_k(m.high, m.low, m.close, n, s), "stochastic %K, 0..100"),
    Primitive("volume-z", "volume-z", (_w("n", 3, 500),), S,
              lambda m, n: nb.zscore(m.volume, n), "rolling z-score of volume"),
    Primitive("donchian-upper", "donchian-upper", (_w("n", 2, 500),), S,
              lambda m, n: nb.rolling_extreme(m.high, n, True), "highest high over n bars"),
    Primitive("donchian-lower", "donchian-lower", (_w("n", 2, 500),), S,
              lambda m, n: nb.rolling_extreme(m.low, n, False), "lowest low over n bars"),
    Primitive("keltner-upper", "keltner-upper", (_w("n", 2, 200), _k("mult", 0.5, 5.0)), S,
              lambda m, n, k: nb.keltner(m.high, m.low, m.close, n, k, True)[2],
              "EMA(close) + mult · EMA(true range)"),
    Primitive("keltner-lower", "keltner-lower", (_w("n", 2, 200), _k("mult", 0.5, 5.0)), S,
              lambda m, n, k: nb.keltner(m.high, m.low, m.close, n, k, True)[1],
              "EMA(close) - mult · EMA(true range)"),
    Primitive("squeeze-on", "squeeze-on",
              (_w("n", 5, 100), _k("bb-mult", 0.5, 4.0), _k("kc-mult", 0.5, 4.0)), B,
              lambda m, n, b, k: nb.squeeze_state(m.high, m.low, m.close, n, b, k)[0],
              "LazyBear squeeze: Bollinger bands inside the Keltner channel"),
    Primitive("squeeze-off", "squeeze-off",
              (_w("n", 5, 100), _k("bb-mult", 0.5, 4.0), _k("kc-mult", 0.5, 4.0)), B,
              lambda m, n, b, k: nb.squeeze_state(m.high, m.low, m.close, n, b, k)[1],
              "LazyBear squeeze released: Bollinger bands outside the Keltner channel"),
    Primitive("squeeze-mom", "squeeze-mom", (_w("n", 5, 100),), S,
              lambda m, n: nb.squeeze_momentum(m.high, m.low, m.close, n),
              "LazyBear squeeze momentum histogram"),
    # Events, comparisons and logic.
    Primitive("cross-above", "cross-above", (_X, _Y), B,
              lambda m, a, b: nb.cross_above(_f(a), _f(b)), "x crosses above y at this bar"),
    Primitive("cross-above-k", "cross-above", (_X, _k("level")), B,
              lambda m, a, k: nb.cross_above(_f(a), _full(m, k)), "x crosses above a level"),
    Primitive("cross-below", "cross-below", (_X, _Y), B,
              lambda m, a, b: nb.cross_below(_f(a), _f(b)), "x crosses below y at this bar"),
    Primitive("cross-below-k", "cross-below", (_X, _k("level")), B,
              lambda m, a, k: nb.cross_below(_f(a), _full(m, k)), "x crosses below a level"),
    Primitive("gt", ">", (_X, _Y), B, lambda m, a, b: _cmp_gt(a, b), "x > y", cached=False),
    Primitive("gt-k", ">", (_X, _k("level")), B, lambda m, a, k: _cmp_gt(a, k), "x > level",
              cached=False),
    Primitive("lt", "<", (_X, _Y), B, lambda m, a, b: _cmp_lt(a, b), "x < y", cached=False),
    Primitive("lt-k", "<", (_X, _k("level")), B, lambda m, a, k: _cmp_lt(a, k), "x < level",
              cached=False),
    Primitive("and", "and", (_P, _Q), B, lambda m, p, q: p & q, "both", commutative=True,
              cached=False),
    Primitive("or", "or", (_P, _Q), B, lambda m, p, q: p | q, "either", commutative=True,
              cached=False),
    Primitive("not", "not", (_P,), B, lambda m, p: ~p, "negation", cached=False),
    # Protected arithmetic: defined for every input, so any tree evaluates.
    Primitive("add", "+", (_X, _Y), S, lambda m, a, b: a + b, "x + y", commutative=True,
              cached=False),
    Primitive("sub", "-", (_X, _Y), S, lambda m, a, b: a - b, "x - y", cached=False),
    Primitive("mul", "*", (_X, _Y), S, lambda m, a, b: a * b, "x · y", commutative=True,
              cached=False),
    Primitive("mul-k", "*", (_X, _k("factor", -1e6, 1e6)), S, lambda m, a, k: a * k,
              "x · factor", cached=False),
    Primitive("div", "/", (_X, _Y), S, lambda m, a, b: nb.protected_div(_f(a), _f(b)),
              "x / y, 1 where |y| < 1e-12", cached=False),
]

PRIMITIVES: dict[str, Primitive] = {p.key: p for p in _CATALOGUE}
assert len(PRIMITIVES) == len(_CATALOGUE), "primitive keys must be unique"

BY_SYMBOL: dict[str, tuple[Primitive, ...]] = {}
for _p in _CATALOGUE:
    BY_SYMBOL[_p.symbol] = BY_SYMBOL.get(_p.symbol, ()) + (_p,)

# Sections of a strategy are boolean trees; this is the catalogue DEAP's typed sets are built from.
TERMINAL_KEYS = tuple(p.key for p in _CATALOGUE if not p.args)


def primitive(key: str) -> Primitive:
    return PRIMITIVES[key]
