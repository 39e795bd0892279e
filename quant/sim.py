"""The simulation kernel: one numba pass per strategy over bars, long and short.

Timing: signals decided at bar t's close fill at bar t+1's open (taker fee + slippage). Stops,
trailing stops and take-profits trigger inside the bar from its high/low; when both a stop and a
take-profit could have been touched in one bar, the stop wins (we cannot know the order, so we
assume the worse). A bar that opens through a level fills at the open. Funding is charged at each
bar's close on the position held: longs pay a positive rate. Equity is cash + position · close.

Signal resolution follows vectorbt's `from_signals` defaults so the two agree where they model the
same thing: an entry and an exit on the same side at once cancel; long and short entries at once
cancel; an opposite entry reverses the position; no pyramiding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# the pending actions decided at a close, and their codes' layout
from quant.codes import _CLOSE, _NONE, _OPEN_LONG, _OPEN_SHORT, decision_code_nb
from quant.data import Dataset
from quant.genome import Strategy
from quant.signals import Signals

TAKER_FEE_BPS = 4.5  # Hyperliquid base tier
MAKER_FEE_BPS = 1.5
DEFAULT_FUNDING_PER_HOUR = 0.0000125  # 0.01 % per 8 h, Hyperliquid's baseline interest component

# Trade record columns (float64 matrix, one row per trade).
T_ENTRY_IDX, T_EXIT_IDX, T_DIR, T_SIZE, T_ENTRY_PX, T_EXIT_PX, T_PNL, T_RET, T_REASON = range(9)
N_TRADE_COLS = 9
# Exit reasons.
EXIT_SIGNAL, EXIT_STOP, EXIT_TAKE_PROFIT, EXIT_TRAILING, EXIT_MAX_HOLD, EXIT_END, \
    EXIT_LIQUIDATED = range(7)
EXIT_NAMES = ("signal", "stop-loss", "take-profit", "trailing-stop", "max-hold", "end-of-data",
              "liquidated")

@njit(cache=True)
def trade_capacity(n):
    """Rows a trade buffer needs for n bars. A bar can close two trades (the reversal at its
    open, then a stop on the new position) and the run can add a liquidation and an open trade
    at the end; the kernel does not bounds-check, so the buffer must hold the worst case."""
    return 2 * n + 4


@njit(cache=True, error_model="numpy", nogil=True)
def simulate_nb(open_, high, low, close, funding, le, lx, se, sx, size, size_is_units,
                fee, slippage, stop_loss, take_profit, trailing_stop, max_hold, max_leverage,
                init_cash):
    """`simulate_into_nb` with freshly allocated outputs; returns (equity, returns, position,
    turnover, trades, n_trades)."""
    n = close.shape[0]
    equity = np.empty(n)
    rets = np.empty(n)
    position = np.empty(n)
    trades = np.empty((trade_capacity(n), N_TRADE_COLS))
    nt, turnover, _ = simulate_into_nb(
        open_, high, low, close, funding, le, lx, se, sx, size, size_is_units, fee, slippage,
        stop_loss, take_profit, trailing_stop, max_hold, max_leverage, init_cash, equity, rets,
        position, trades)
    return equity, rets, position, turnover, trades, nt


@njit(cache=True, error_model="numpy", nogil=True, fastmath=True)
def _action_codes_nb(le, lx, se, sx, codes):
    """What a close decides in each state, vectorised (no branch per bar):
    bits 0-1 when flat, 2-3 when long, 4-5 when short (values _NONE/_OPEN_*/_CLOSE).
    Same-side entry+exit cancel, long+short entries cancel (vectorbt's defaults)."""
    for t in range(le.shape[0]):
        codes[t] = decision_code_nb(np.uint8(le[t]), np.uint8(lx[t]), np.uint8(se[t]),
                                    np.uint8(sx[t]))


@njit(cache=True, error_model="numpy", nogil=True)
def _record_trade_nb(trades, nt, entry_idx, exit_idx, pos, entry_px, exit_px, pnl, entry_cost,
                     reason):
    """Write trade `nt` (one row of T_* columns); returns the next free row."""
    trades[nt, T_ENTRY_IDX] = entry_idx
    trades[nt, T_EXIT_IDX] = exit_idx
    trades[nt, T_DIR] = 1.0 if pos > 0 else -1.0
    trades[nt, T_SIZE] = abs(pos)
    trades[nt, T_ENTRY_PX] = entry_px
    trades[nt, T_EXIT_PX] = exit_px
    trades[nt, T_PNL] = pnl
    trades[nt, T_RET] = pnl / entry_cost
    trades[nt, T_REASON] = reason
    return nt + 1


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _mark_nb(e, prev, top, mdd, dd, mdd_bars):
    """One bar's equity `e` after `prev`: its simple return (0 after a bar that ended at zero
    equity), and the drawdown state (running peak from the initial cash, deepest drawdown as a
    fraction of the peak, bars below the peak now and at most), updated exactly as
    quant.metrics' level pass did it over the finished curve."""
    r = e / prev - 1.0 if prev > 0 else 0.0
    if e >= top:
        top = e
        dd = 0
    else:
        dd += 1
        if dd > mdd_bars:
            mdd_bars = dd
        if e < top * (1.0 - mdd):  # a deeper trough: only then pay for the division
            mdd = 1.0 - e / top
    return r, top, mdd, dd, mdd_bars


# The in-position stretch, one function per side so each loop is short and branch-light: fund,
# mark, follow the best price, decide, bar after bar from bar t. Stops before bar u, where u is
# the first bar the general path must take (a level touched inside it, or an equity that would
# not stay positive) or the bar after a close that decided something (pending != _NONE), or n.
# Returns (u, cash, trade_pnl, peak, pending, prev, top, mdd, dd, mdd_bars); bars t..u-1 have
# their equity and return written, and the drawdown state (_mark_nb) has seen them.
@njit(cache=True, error_model="numpy", nogil=True)
def _long_stretch_nb(t, high, low, close, funding, fstep, codes, pos, cash, trade_pnl, peak,
                     has_stops, has_tr, trail, sl_level, tp_level, hold_last, equity, rets,
                     prev, top, mdd, dd, mdd_bars):
    n = close.shape[0]
    last = n - 1
    u = t
    while u < n:
        if has_stops:
            stop = sl_level
            if has_tr and peak * trail > stop:
                stop = peak * trail
            if not (low[u] > stop and high[u] < tp_level):
                return u, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars
        c = close[u]
        f = pos * c * funding[u * fstep]
        eq = cash - f + pos * c
        if eq <= 0.0:
            return u, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars
        cash -= f
        trade_pnl -= f
        h = high[u]
        if h > peak:
            peak = h
        equity[u] = eq
        rets[u], top, mdd, dd, mdd_bars = _mark_nb(eq, prev, top, mdd, dd, mdd_bars)
        prev = eq
        if u < last:
            code = (codes[u] >> 2) & 3
            if code != _NONE:
                return (u + 1, cash, trade_pnl, peak, np.int64(code), prev, top, mdd, dd,
                        mdd_bars)
            if u >= hold_last:
                return u + 1, cash, trade_pnl, peak, _CLOSE, prev, top, mdd, dd, mdd_bars
        u += 1
    return n, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars


@njit(cache=True, error_model="numpy", nogil=True)
def _short_stretch_nb(t, high, low, close, funding, fstep, codes, pos, cash, trade_pnl, peak,
                      has_stops, has_tr, trail, sl_level, tp_level, hold_last, equity, rets,
                      prev, top, mdd, dd, mdd_bars):
    n = close.shape[0]
    last = n - 1
    u = t
    while u < n:
        if has_stops:
            stop = sl_level
            if has_tr and peak * trail < stop:
                stop = peak * trail
            if not (high[u] < stop and low[u] > tp_level):
                return u, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars
        c = close[u]
        f = pos * c * funding[u * fstep]
        eq = cash - f + pos * c
        if eq <= 0.0:
            return u, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars
        cash -= f
        trade_pnl -= f
        lo = low[u]
        if lo < peak:
            peak = lo
        equity[u] = eq
        rets[u], top, mdd, dd, mdd_bars = _mark_nb(eq, prev, top, mdd, dd, mdd_bars)
        prev = eq
        if u < last:
            code = (codes[u] >> 4) & 3
            if code != _NONE:
                return (u + 1, cash, trade_pnl, peak, np.int64(code), prev, top, mdd, dd,
                        mdd_bars)
            if u >= hold_last:
                return u + 1, cash, trade_pnl, peak, _CLOSE, prev, top, mdd, dd, mdd_bars
        u += 1
    return n, cash, trade_pnl, peak, _NONE, prev, top, mdd, dd, mdd_bars


@njit(cache=True, error_model="numpy", nogil=True)
def simulate_into_nb(open_, high, low, close, funding, le, lx, se, sx, size, size_is_units,
                     fee, slippage, stop_loss, take_profit, trailing_stop, max_hold,
                     max_leverage, init_cash, equity, rets, position, trades):
    """`simulate_codes_into_nb` on four signal arrays (bool): long entry, long exit, short
    entry, short exit at each close."""
    codes = np.empty(close.shape[0], dtype=np.uint8)
    _action_codes_nb(le, lx, se, sx, codes)
    nt, turnover, exposed, _, _ = simulate_codes_into_nb(
        open_, high, low, close, funding, codes, size, size_is_units, fee, slippage, stop_loss,
        take_profit, trailing_stop, max_hold, max_leverage, init_cash, equity, rets, position,
        trades)
    return nt, turnover, exposed


# The flat path's two loops live in functions of their own, over slices: written inline in the
# big simulation loop below they ran at half the speed (a flat run of 10^4 bars: 22 µs, now 11).
@njit(cache=True, error_model="numpy", nogil=True)
def _first_decision_nb(codes, t, last):
    """The first bar u in t..last-1 whose close decides something when flat, else last."""
    c = codes[t:last]
    for k in range(c.shape[0]):
        if c[k] & 3:
            return t + k
    return last


@njit(cache=True, error_model="numpy", nogil=True)
def _fill_flat_nb(equity, rets, t, u, cash):
    """Bars t..u of a flat stretch: the same equity; returns of zero after bar t (cash over
    itself, 0 after a run that ended at zero equity)."""
    eq = equity[t:u + 1]
    for i in range(eq.shape[0]):
        eq[i] = cash
    z = cash / cash - 1.0 if cash > 0 else 0.0
    r = rets[t + 1:u + 1]
    for i in range(r.shape[0]):
        r[i] = z


@njit(cache=True, error_model="numpy", nogil=True)
def simulate_codes_into_nb(open_, high, low, close, funding, codes, size, size_is_units,
                           fee, slippage, stop_loss, take_profit, trailing_stop, max_hold,
                           max_leverage, init_cash, equity, rets, position, trades):
    """Run one strategy from its decision codes (`_action_codes_nb`: what each close decides
    when flat, long or short; quant.program writes them straight from a strategy's trees).
    Fractions everywhere: fee and slippage per fill (4.5 bps = 0.00045), stops as fractions
    of the entry fill price, funding per bar. NaN disables a stop, max_hold < 1
    disables the holding limit. `size` is notional / equity, or units when size_is_units.
    `funding` and `size` may have length 1 (one value for every bar).

    Fills the outputs (caller-owned, so a hot loop reuses them instead of paying for fresh
    pages each run): equity at each close, simple per-bar returns, position in units at each
    close (skipped when `position` is empty: at 10^5 bars memory traffic is most of the cost),
    and trade records (T_* columns; see trade_capacity for the rows needed).
    Returns (number of trades, total traded notional / equity, bars ending in a position,
    maximum drawdown as a fraction of the running peak of equity (initial cash included),
    longest stretch of bars below a previous peak): the drawdowns and the returns are
    measured as each bar's equity is written, which spares two more passes over the curve.
    """
    n = close.shape[0]
    fstep = 1 if funding.shape[0] == n else 0
    sstep = 1 if size.shape[0] == n else 0
    rec_pos = position.shape[0] == n
    turnover = 0.0
    exposed = 0
    nt = 0
    cash = init_cash
    pos = 0.0
    entry_px = 0.0
    entry_idx = -1
    entry_cost = 0.0  # cash paid (long) or margin notional (short) at entry, for trade returns
    trade_pnl = 0.0  # running fees + funding for the open trade
    peak = 0.0
    pending = _NONE
    pending_size = 0.0
    alive = True
    has_sl = not np.isnan(stop_loss)
    has_tp = not np.isnan(take_profit)
    has_tr = not np.isnan(trailing_stop)
    has_stops = has_sl or has_tp or has_tr
    sl_level = 0.0  # stop-loss and take-profit prices of the open position
    tp_level = 0.0
    hold_last = n  # last bar whose close keeps the position under max_hold
    prev = init_cash  # equity at the previous close, for the returns
    top = init_cash  # drawdown state (_mark_nb)
    mdd = 0.0
    dd = 0
    mdd_bars = 0
    last = n - 1  # no decision is taken at the last close
    t = 0
    while t < n:
        if pending == _NONE and alive:
            if pos == 0.0:
                # flat and idle, the common case: run to the first close that decides
                # something (same decisions as the general path below, in a loop that only
                # scans the decision codes)
                u = _first_decision_nb(codes, t, last)
                # u - t + 1 bars of the same equity: one return, then zeros; the drawdown
                # state moves once (repeating a bar's update changes nothing but the count)
                rets[t], top, mdd, dd, mdd_bars = _mark_nb(cash, prev, top, mdd, dd, mdd_bars)
                _fill_flat_nb(equity, rets, t, u, cash)
                if u > t:
                    if dd > 0:
                        dd += u - t
                        if dd > mdd_bars:
                            mdd_bars = dd
                prev = cash
                if rec_pos:
                    for i in range(t, u + 1):
                        position[i] = 0.0
                if u < last:
                    pending = codes[u] & 3
                    pending_size = size[u * sstep]
                t = u + 1
                continue
            # in a position, nothing pending: fund, mark, follow the best price and decide,
            # bar after bar, until a level is touched inside a bar or the equity would not
            # stay positive (the general path takes that bar) or a close decides something
            if pos > 0:
                u, cash, trade_pnl, peak, pending, prev, top, mdd, dd, mdd_bars = \
                    _long_stretch_nb(t, high, low, close, funding, fstep, codes, pos, cash,
                                     trade_pnl, peak, has_stops, has_tr, 1.0 - trailing_stop,
                                     sl_level, tp_level, hold_last, equity, rets, prev, top,
                                     mdd, dd, mdd_bars)
            else:
                u, cash, trade_pnl, peak, pending, prev, top, mdd, dd, mdd_bars = \
                    _short_stretch_nb(t, high, low, close, funding, fstep, codes, pos, cash,
                                      trade_pnl, peak, has_stops, has_tr, 1.0 + trailing_stop,
                                      sl_level, tp_level, hold_last, equity, rets, prev, top,
                                      mdd, dd, mdd_bars)
            if rec_pos:
                for i in range(t, u):
                    position[i] = pos
            if pending != _NONE:
                pending_size = size[(u - 1) * sstep]
            exposed += u - t
            t = u
            if pending != _NONE or u >= n:
                continue
            # bar u touched a level or would wipe the account out: the general path takes it
        o = open_[t]
        # 1. fills at this bar's open, for the decision taken at the previous close
        opened_now = False
        if pending != _NONE and alive:
            if pos != 0.0:
                px = o * (1.0 - slippage) if pos > 0 else o * (1.0 + slippage)
                eq_before = cash + pos * o
                notional = abs(pos) * px
                cash += pos * px - notional * fee
                if eq_before > 0:
                    turnover += notional / eq_before
                pnl = pos * (px - entry_px) - notional * fee + trade_pnl
                reason = EXIT_MAX_HOLD if pending == _CLOSE and max_hold >= 1 and \
                    t - entry_idx >= max_hold else EXIT_SIGNAL
                nt = _record_trade_nb(trades, nt, entry_idx, t, pos, entry_px, px, pnl,
                                      entry_cost, reason)
                pos = 0.0
            if (pending == _OPEN_LONG or pending == _OPEN_SHORT) and cash > 0.0 and \
                    pending_size > 0.0:
                if pending == _OPEN_LONG:
                    px = o * (1.0 + slippage)
                else:
                    px = o * (1.0 - slippage)
                cap = max_leverage * cash / (px * (1.0 + fee))
                if size_is_units:
                    units = min(pending_size, cap)
                else:
                    units = min(pending_size, max_leverage) * cash / (px * (1.0 + fee))
                    units = min(units, cap)
                notional = units * px
                turnover += notional / cash
                if pending == _OPEN_LONG:
                    cash -= notional * (1.0 + fee)
                    pos = units
                else:
                    cash += notional * (1.0 - fee)
                    pos = -units
                entry_px = px
                entry_idx = t
                hold_last = t + max_hold - 1 if max_hold >= 1 else n
                entry_cost = notional
                trade_pnl = -notional * fee
                peak = px
                opened_now = True
                if pos > 0:
                    sl_level = entry_px * (1.0 - stop_loss) if has_sl else -np.inf
                    tp_level = entry_px * (1.0 + take_profit) if has_tp else np.inf
                else:
                    sl_level = entry_px * (1.0 + stop_loss) if has_sl else np.inf
                    tp_level = entry_px * (1.0 - take_profit) if has_tp else -np.inf
            pending = _NONE
        # 2. stops inside the bar; the stop is checked before the take-profit (conservative)
        if pos != 0.0 and alive and (has_sl or has_tp or has_tr):
            exit_px = np.nan
            reason = 0
            if pos > 0:
                stop = -np.inf
                if has_sl:
                    stop = entry_px * (1.0 - stop_loss)
                    reason = EXIT_STOP
                if has_tr and peak * (1.0 - trailing_stop) > stop:
                    stop = peak * (1.0 - trailing_stop)
                    reason = EXIT_TRAILING
                if (has_sl or has_tr) and not opened_now and o <= stop:
                    exit_px = o
                elif (has_sl or has_tr) and low[t] <= stop:
                    exit_px = stop
                elif has_tp:
                    target = entry_px * (1.0 + take_profit)
                    if not opened_now and o >= target:
                        exit_px = o
                        reason = EXIT_TAKE_PROFIT
                    elif high[t] >= target:
                        exit_px = target
                        reason = EXIT_TAKE_PROFIT
                fill = exit_px * (1.0 - slippage)
            else:
                stop = np.inf
                if has_sl:
                    stop = entry_px * (1.0 + stop_loss)
                    reason = EXIT_STOP
                if has_tr and peak * (1.0 + trailing_stop) < stop:
                    stop = peak * (1.0 + trailing_stop)
                    reason = EXIT_TRAILING
                if (has_sl or has_tr) and not opened_now and o >= stop:
                    exit_px = o
                elif (has_sl or has_tr) and high[t] >= stop:
                    exit_px = stop
                elif has_tp:
                    target = entry_px * (1.0 - take_profit)
                    if not opened_now and o <= target:
                        exit_px = o
                        reason = EXIT_TAKE_PROFIT
                    elif low[t] <= target:
                        exit_px = target
                        reason = EXIT_TAKE_PROFIT
                fill = exit_px * (1.0 + slippage)
            if not np.isnan(exit_px):
                eq_before = cash + pos * exit_px
                notional = abs(pos) * fill
                cash += pos * fill - notional * fee
                if eq_before > 0:
                    turnover += notional / eq_before
                pnl = pos * (fill - entry_px) - notional * fee + trade_pnl
                nt = _record_trade_nb(trades, nt, entry_idx, t, pos, entry_px, fill, pnl,
                                      entry_cost, reason)
                pos = 0.0
        if pos > 0 and high[t] > peak:
            peak = high[t]
        elif pos < 0 and low[t] < peak:
            peak = low[t]
        # 3. funding on the position held through this bar, then mark to the close
        c = close[t]
        if pos != 0.0:
            f = pos * c * funding[t * fstep]
            cash -= f
            trade_pnl -= f
        eq = cash + pos * c
        if alive and eq <= 0.0:  # wiped out: the venue liquidates, nothing trades again
            alive = False
            if pos != 0.0:
                nt = _record_trade_nb(trades, nt, entry_idx, t, pos, entry_px, c,
                                      pos * (c - entry_px) + trade_pnl, entry_cost,
                                      EXIT_LIQUIDATED)
            pos = 0.0
            cash = 0.0
            eq = 0.0
        equity[t] = eq
        rets[t], top, mdd, dd, mdd_bars = _mark_nb(eq, prev, top, mdd, dd, mdd_bars)
        prev = eq
        if rec_pos:
            position[t] = pos
        if pos != 0.0:
            exposed += 1
        # 4. decision at this close, for the next open
        if t == n - 1 or not alive:
            t += 1
            continue
        code = codes[t]
        if pos > 0:
            pending = (code >> 2) & 3
        elif pos < 0:
            pending = (code >> 4) & 3
        else:
            pending = code & 3
        if pending == _NONE and pos != 0.0 and max_hold >= 1 and \
                t - entry_idx + 1 >= max_hold:
            pending = _CLOSE  # held max_hold bars by this close
        pending_size = size[t * sstep]
        t += 1
    # an open position at the end is reported as a trade marked at the last close
    if pos != 0.0:
        c = close[n - 1]
        pnl = pos * (c - entry_px) + trade_pnl
        nt = _record_trade_nb(trades, nt, entry_idx, n - 1, pos, entry_px, c, pnl, entry_cost,
                              EXIT_END)
    return nt, turnover, exposed, mdd, mdd_bars


@dataclass(frozen=True)
class SimConfig:
    """Costs and limits of a backtest. Fees and slippage in basis points per fill."""

    fee_bps: float = TAKER_FEE_BPS
    slippage_bps: float = 1.0
    funding_per_hour: float = DEFAULT_FUNDING_PER_HOUR  # used when the dataset has no funding
    max_leverage: float = 3.0  # cap on notional / equity at entry
    init_cash: float = 10_000.0


@dataclass(frozen=True)
class BacktestResult:
    equity: np.ndarray  # at each close, USD
    returns: np.ndarray  # simple per-bar returns (fractions)
    position: np.ndarray | None  # units held at each close (negative = short), if recorded
    turnover: float  # total traded notional / equity over the run
    exposed_bars: int  # bars that ended with a position
    trades: np.ndarray  # (n_trades, 9) records, columns T_*
    bars_per_year: float
    init_cash: float


def funding_per_bar(dataset: Dataset, config: SimConfig) -> np.ndarray:
    """The funding rate charged at each bar's close: the dataset's series, else (and where the
    series is NaN: no observation) the constant hourly rate times the bar length in hours."""
    constant = config.funding_per_hour * dataset.bar_seconds / 3600.0
    if dataset.funding is not None:
        f = np.asarray(dataset.funding, dtype=np.float64)
        return np.ascontiguousarray(np.where(np.isnan(f), constant, f))
    return np.full(len(dataset), constant)


def _opt(x: float | None) -> float:
    return np.nan if x is None else float(x)


class Workspace:
    """Reusable output buffers for one dataset length and one config.

    Results simulated into a workspace are views of its buffers: valid until the next
    simulation into the same workspace. Evolution's hot loop computes the metrics at once and
    moves on; anything kept must be copied. Positions are recorded only on request.
    """

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 record_position: bool = False):
        n = len(dataset)
        self.n = n
        self.config = config
        self.funding = funding_per_bar(dataset, config)
        if np.all(self.funding == self.funding[0]):
            self.funding = self.funding[:1].copy()  # one value: less memory traffic per bar
        self.equity = np.empty(n)
        self.returns = np.empty(n)
        self.position = np.empty(n if record_position else 0)
        self.trades = np.empty((trade_capacity(n), N_TRADE_COLS))


def simulate(strategy: Strategy, signals: Signals, dataset: Dataset,
             config: SimConfig = SimConfig(), workspace: Workspace | None = None
             ) -> BacktestResult:
    """Simulate compiled signals. Without a workspace the result owns fresh arrays (positions
    included)."""
    ws = workspace if workspace is not None else Workspace(dataset, config, True)
    if ws.n != len(dataset) or ws.config != config:
        raise ValueError("workspace was made for another dataset length or config")
    size = signals.size
    if size.shape[0] not in (1, len(dataset)):
        raise ValueError(f"size has {size.shape[0]} values for {len(dataset)} bars")
    nt, turnover, exposed = simulate_into_nb(
        dataset.open, dataset.high, dataset.low, dataset.close, ws.funding,
        signals.long_entry, signals.long_exit, signals.short_entry, signals.short_exit,
        size, False, config.fee_bps * 1e-4, config.slippage_bps * 1e-4,
        _opt(strategy.stop_loss), _opt(strategy.take_profit), _opt(strategy.trailing_stop),
        -1 if strategy.max_hold is None else int(strategy.max_hold),
        float(config.max_leverage), float(config.init_cash),
        ws.equity, ws.returns, ws.position, ws.trades,
    )
    trades = ws.trades[:nt] if workspace is not None else ws.trades[:nt].copy()
    position = ws.position if ws.position.shape[0] == ws.n else None
    return BacktestResult(ws.equity, ws.returns, position, float(turnover), int(exposed), trades,
                          dataset.bars_per_year, config.init_cash)
