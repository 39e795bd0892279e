"""One strategy's decisions, bar by bar, as the backtest makes them (quant/sim.py), live.

The simulator decides at bar t's close from the compiled signals and fills at t+1's open; stops,
trailing stops and take-profits trigger inside a bar from its high and low (the stop first when
both could have been touched); the maximum holding time closes at a close. The trader decides at
the same closes from the same signals, so its decisions equal the backtest's bar for bar, and
follows the same levels on every mid-price update as well as at the close (a level the mid never
showed but the bar's high or low touched still counts, as in the backtest).

The entry price the levels hang on is the strategy's average fill when fills have been heard,
else the backtest's assumption (the next bar's open with the configured slippage).

Differences from a backtest started at the first bar, on purpose:
- a strategy starts flat at the first bar the trader handles: a position the backtest would
  already hold is not bought in the middle of its trade (parity is with the backtest run on the
  same history with the signals before that bar removed);
- after a flatten (risk's or the operator's), and while entries are not allowed (paused,
  deactivated, no equity known), a side is disarmed: the strategy enters it again only after a
  close where its entry condition was false, i.e. on a fresh signal, so it never buys back at
  once what was just sold.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

EXIT_SIGNAL, EXIT_STOP, EXIT_TP, EXIT_TRAILING, EXIT_MAX_HOLD = (
    "signal", "stop-loss", "take-profit", "trailing-stop", "max-hold")


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy's side and the facts its exits need (kept in the trader's KV bucket)."""

    side: int = 0  # -1 short, 0 flat, 1 long: what the strategy holds or is entering
    entry_bar: int = 0  # open time (ms) of the bar the position opened in (decision bar + 1)
    entry_px: float = 0.0  # 0 = not known yet
    px_from_fill: bool = False  # entry_px is the average fill, not the backtest's assumption
    peak: float = 0.0  # best price since entry (trailing stop)
    size: float = 0.0  # the sizing gene at entry (notional / equity), capped
    armed_long: bool = True
    armed_short: bool = True


@dataclass(frozen=True)
class Exits:
    """A strategy's risk genes as fractions of the entry price; None = not used."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_hold: int | None = None  # bars

    @property
    def any_level(self) -> bool:
        return self.stop_loss is not None or self.take_profit is not None or \
            self.trailing_stop is not None


@dataclass(frozen=True)
class Bar:
    open_ms: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class BarSignals:
    """The compiled signals at one bar (quant.signals.Signals at index t)."""

    long_entry: bool
    long_exit: bool
    short_entry: bool
    short_exit: bool
    size: float


@dataclass(frozen=True)
class Decision:
    side_before: int
    side_after: int  # what the strategy holds (or is entering) after this close
    exit_reason: str = ""  # why a position closed at this bar ("" = it did not)
    exit_level: float = math.nan  # the level a stop closed at (the backtest's fill before slippage)
    entered: bool = False  # a new position opens at the next bar
    suppressed: int = 0  # the side an entry was wanted on but not allowed

    @property
    def changed(self) -> bool:
        return self.side_before != self.side_after or self.entered


def levels(m: Model, x: Exits) -> tuple[float, str, float]:
    """(stop price, which stop, take-profit price) of the open position; ±inf when unused."""
    if m.side > 0:
        stop, why = -math.inf, ""
        if x.stop_loss is not None:
            stop, why = m.entry_px * (1.0 - x.stop_loss), EXIT_STOP
        if x.trailing_stop is not None and m.peak * (1.0 - x.trailing_stop) > stop:
            stop, why = m.peak * (1.0 - x.trailing_stop), EXIT_TRAILING
        tp = m.entry_px * (1.0 + x.take_profit) if x.take_profit is not None else math.inf
    else:
        stop, why = math.inf, ""
        if x.stop_loss is not None:
            stop, why = m.entry_px * (1.0 + x.stop_loss), EXIT_STOP
        if x.trailing_stop is not None and m.peak * (1.0 + x.trailing_stop) < stop:
            stop, why = m.peak * (1.0 + x.trailing_stop), EXIT_TRAILING
        tp = m.entry_px * (1.0 - x.take_profit) if x.take_profit is not None else -math.inf
    return stop, why, tp


def stop_price(side: int, reference: float, x: Exits) -> float | None:
    """Where a new position's stop would close it, from the decision's price (risk's capital
    at risk); None without a stop-loss or trailing stop."""
    fracs = [f for f in (x.stop_loss, x.trailing_stop) if f is not None]
    if not fracs or side == 0:
        return None
    f = min(fracs)
    return reference * (1.0 - f) if side > 0 else reference * (1.0 + f)


def on_fill_price(m: Model, avg_px: float) -> Model:
    """The position's average fill is known: the levels hang on it from now on."""
    if m.side == 0 or avg_px <= 0:
        return m
    peak = avg_px if not m.px_from_fill or m.peak == 0.0 else m.peak
    return msgspec.structs.replace(m, entry_px=avg_px, px_from_fill=True, peak=peak)


def on_mid(m: Model, mid: float, x: Exits) -> tuple[Model, str, float]:
    """A mid-price update: (model, exit reason or "", level). The position closes when the mid
    reaches a level; the trailing peak then follows the mid."""
    if m.side == 0 or m.entry_px <= 0 or not x.any_level or not math.isfinite(mid):
        return m, "", math.nan
    stop, why, tp = levels(m, x)
    if m.side > 0:
        if mid <= stop:
            return _flat(m), why, stop
        if mid >= tp:
            return _flat(m), EXIT_TP, tp
        if mid > m.peak:
            m = msgspec.structs.replace(m, peak=mid)
    else:
        if mid >= stop:
            return _flat(m), why, stop
        if mid <= tp:
            return _flat(m), EXIT_TP, tp
        if mid < m.peak:
            m = msgspec.structs.replace(m, peak=mid)
    return m, "", math.nan


def _flat(m: Model) -> Model:
    return msgspec.structs.replace(m, side=0, entry_bar=0, entry_px=0.0, px_from_fill=False,
                                   peak=0.0, size=0.0)


def _bar_stop(m: Model, bar: Bar, x: Exits) -> tuple[str, float]:
    """The simulator's step 2: levels touched inside `bar` (a bar opening through a level
    closes at the open, except on the bar the position opened in)."""
    opened_now = m.entry_bar == bar.open_ms
    stop, why, tp = levels(m, x)
    has_stop = x.stop_loss is not None or x.trailing_stop is not None
    if m.side > 0:
        if has_stop and not opened_now and bar.open <= stop:
            return why, bar.open
        if has_stop and bar.low <= stop:
            return why, stop
        if x.take_profit is not None:
            if not opened_now and bar.open >= tp:
                return EXIT_TP, bar.open
            if bar.high >= tp:
                return EXIT_TP, tp
    else:
        if has_stop and not opened_now and bar.open >= stop:
            return why, bar.open
        if has_stop and bar.high >= stop:
            return why, stop
        if x.take_profit is not None:
            if not opened_now and bar.open <= tp:
                return EXIT_TP, bar.open
            if bar.low <= tp:
                return EXIT_TP, tp
    return "", math.nan


def on_close(m: Model, bar: Bar, sig: BarSignals, x: Exits, interval_ms: int, *,
             slippage: float = 1e-4, max_leverage: float = 3.0,
             may_enter: bool = True) -> tuple[Model, Decision]:
    """Bar `bar` closed: the backtest's stops inside it, then its decision at the close.
    `slippage`: fraction per fill (the backtest's); `may_enter`: False while the strategy may
    only reduce (paused, deactivated, no equity): an entry it wants then disarms that side."""
    before = m.side
    exit_reason, exit_level = "", math.nan
    if m.side != 0:
        if m.entry_bar == bar.open_ms and not m.px_from_fill:
            # no fill heard: the backtest's fill at this bar's open
            px = bar.open * (1.0 + slippage) if m.side > 0 else bar.open * (1.0 - slippage)
            m = msgspec.structs.replace(m, entry_px=px, peak=px)
        if x.any_level and m.entry_bar <= bar.open_ms:
            exit_reason, exit_level = _bar_stop(m, bar, x)
            if exit_reason:
                m = _flat(m)
        if m.side > 0 and bar.high > m.peak:
            m = msgspec.structs.replace(m, peak=bar.high)
        elif m.side < 0 and bar.low < m.peak:
            m = msgspec.structs.replace(m, peak=bar.low)

    l_in, l_out, s_in, s_out = sig.long_entry, sig.long_exit, sig.short_entry, sig.short_exit
    if l_in and l_out:
        l_in = l_out = False
    if s_in and s_out:
        s_in = s_out = False
    if l_in and s_in:
        l_in = s_in = False
    held = (bar.open_ms - m.entry_bar) // interval_ms + 1 if m.side != 0 else 0
    timed_out = m.side != 0 and x.max_hold is not None and x.max_hold >= 1 and \
        held >= x.max_hold

    want, close = 0, False
    if m.side > 0:
        if s_in:
            want, close = -1, True
        elif l_out or timed_out:
            close = True
    elif m.side < 0:
        if l_in:
            want, close = 1, True
        elif s_out or timed_out:
            close = True
    else:
        want = 1 if l_in else -1 if s_in else 0

    if close:
        exit_reason = EXIT_MAX_HOLD if timed_out and want == 0 else EXIT_SIGNAL
        m = _flat(m)
    size = min(float(sig.size), max_leverage) if math.isfinite(sig.size) else 0.0
    entered, suppressed = False, 0
    if want != 0:
        armed = m.armed_long if want > 0 else m.armed_short
        if not armed or not may_enter or size <= 0.0:
            if armed and not may_enter:
                suppressed = want
                m = msgspec.structs.replace(
                    m, **({"armed_long": False} if want > 0 else {"armed_short": False}))
        else:
            m = msgspec.structs.replace(m, side=want, entry_bar=bar.open_ms + interval_ms,
                                        entry_px=0.0, px_from_fill=False, peak=0.0, size=size)
            entered = True
    # a side is armed again at a close where its entry condition is false (a fresh signal next)
    if not l_in and not m.armed_long:
        m = msgspec.structs.replace(m, armed_long=True)
    if not s_in and not m.armed_short:
        m = msgspec.structs.replace(m, armed_short=True)
    return m, Decision(before, m.side, exit_reason, exit_level, entered, suppressed)


def flattened(m: Model) -> Model:
    """Risk or the operator closed the position: flat, and both sides wait for a fresh entry."""
    return msgspec.structs.replace(_flat(m), armed_long=False, armed_short=False)


def disarm(m: Model, side: int) -> Model:
    if side > 0:
        return msgspec.structs.replace(m, armed_long=False)
    if side < 0:
        return msgspec.structs.replace(m, armed_short=False)
    return m
