"""The simulation kernel as it stood before its idle and in-position bars became stretch loops
(2026-11), kept verbatim as the reference the faster kernel must agree with: per bar, either a
short path or the general one, returns computed inside the loop."""

import numpy as np
from numba import njit

from quant.sim import (EXIT_END, EXIT_LIQUIDATED, EXIT_MAX_HOLD, EXIT_SIGNAL, EXIT_STOP,
                       EXIT_TAKE_PROFIT, EXIT_TRAILING, _CLOSE, _NONE, _OPEN_LONG, _OPEN_SHORT,
                       _action_codes_nb, _record_trade_nb)


@njit(cache=False, error_model="numpy")
def reference_simulate_into_nb(open_, high, low, close, funding, le, lx, se, sx, size, size_is_units,
                     fee, slippage, stop_loss, take_profit, trailing_stop, max_hold,
                     max_leverage, init_cash, equity, rets, position, trades):
    """Run one strategy. Fractions everywhere: fee and slippage per fill (4.5 bps = 0.00045),
    stops as fractions of the entry fill price, funding per bar. NaN disables a stop, max_hold < 1
    disables the holding limit. `size` is notional / equity, or units when size_is_units.
    `funding` and `size` may have length 1 (one value for every bar).

    Fills the outputs (caller-owned, so a hot loop reuses them instead of paying for fresh
    pages each run): equity at each close, simple per-bar returns, position in units at each
    close (skipped when `position` is empty: at 10^5 bars memory traffic is most of the cost),
    and trade records (T_* columns; see trade_capacity for the rows needed).
    Returns (number of trades, total traded notional / equity, bars ending in a position).
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
    prev_eq = init_cash
    alive = True
    has_sl = not np.isnan(stop_loss)
    has_tp = not np.isnan(take_profit)
    has_tr = not np.isnan(trailing_stop)
    has_stops = has_sl or has_tp or has_tr
    sl_level = 0.0  # stop-loss and take-profit prices of the open position
    tp_level = 0.0
    codes = np.empty(n, dtype=np.uint8)
    _action_codes_nb(le, lx, se, sx, codes)
    for t in range(n):
        if pos == 0.0 and pending == _NONE and alive:
            # flat and idle, the common case: nothing to fill, stop or fund (same decisions as
            # the general path below, in a loop light enough to keep its state in registers)
            equity[t] = cash
            rets[t] = cash / prev_eq - 1.0
            prev_eq = cash
            if rec_pos:
                position[t] = 0.0
            if t < n - 1:
                pending = codes[t] & 3
                if pending != _NONE:
                    pending_size = size[t * sstep]
            continue
        quiet = True  # no stop or take-profit level inside this bar's range
        if has_stops and pos != 0.0:
            stop = sl_level
            if pos > 0:
                if has_tr and peak * (1.0 - trailing_stop) > stop:
                    stop = peak * (1.0 - trailing_stop)
                quiet = low[t] > stop and high[t] < tp_level
            else:
                if has_tr and peak * (1.0 + trailing_stop) < stop:
                    stop = peak * (1.0 + trailing_stop)
                quiet = high[t] < stop and low[t] > tp_level
        if pending == _NONE and alive and quiet:
            # in a position, nothing triggered: fund, mark, follow the best price, decide
            c = close[t]
            f = pos * c * funding[t * fstep]
            cash -= f
            trade_pnl -= f
            eq = cash + pos * c
            if eq > 0.0:
                if pos > 0:
                    if high[t] > peak:
                        peak = high[t]
                elif low[t] < peak:
                    peak = low[t]
                equity[t] = eq
                rets[t] = eq / prev_eq - 1.0
                prev_eq = eq
                if rec_pos:
                    position[t] = pos
                exposed += 1
                if t < n - 1:
                    pending = (codes[t] >> 2) & 3 if pos > 0 else (codes[t] >> 4) & 3
                    if pending == _NONE and max_hold >= 1 and t - entry_idx + 1 >= max_hold:
                        pending = _CLOSE
                    pending_size = size[t * sstep]
                continue
            cash += f  # undo: the general path below funds, marks and liquidates
            trade_pnl += f
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
        rets[t] = eq / prev_eq - 1.0 if prev_eq > 0 else 0.0
        prev_eq = eq
        if rec_pos:
            position[t] = pos
        if pos != 0.0:
            exposed += 1
        # 4. decision at this close, for the next open
        if t == n - 1 or not alive:
            continue
        l_in = le[t]
        l_out = lx[t]
        s_in = se[t]
        s_out = sx[t]
        if l_in and l_out:
            l_in = False
            l_out = False
        if s_in and s_out:
            s_in = False
            s_out = False
        if l_in and s_in:
            l_in = False
            s_in = False
        timed_out = pos != 0.0 and max_hold >= 1 and t - entry_idx + 1 >= max_hold
        if pos > 0:
            if s_in:
                pending = _OPEN_SHORT
            elif l_out or timed_out:
                pending = _CLOSE
        elif pos < 0:
            if l_in:
                pending = _OPEN_LONG
            elif s_out or timed_out:
                pending = _CLOSE
        else:
            if l_in:
                pending = _OPEN_LONG
            elif s_in:
                pending = _OPEN_SHORT
        pending_size = size[t * sstep]
    # an open position at the end is reported as a trade marked at the last close
    if pos != 0.0:
        c = close[n - 1]
        pnl = pos * (c - entry_px) + trade_pnl
        nt = _record_trade_nb(trades, nt, entry_idx, n - 1, pos, entry_px, c, pnl, entry_cost,
                              EXIT_END)
    return nt, turnover, exposed


