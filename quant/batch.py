"""Many strategies on one dataset in one numba call: simulation and metrics, across cores.

Signals are compiled in Python (tree evaluation, shared indicator cache); then a parallel
kernel runs the simulation and every metric for a chunk of strategies, each worker thread on
its own buffers. One call per chunk instead of several per strategy removes the dispatch
overhead that dominates short runs, and `prange` puts both cores to work without the GIL.
"""

from __future__ import annotations

import os

# numba's OpenMP pool spins between parallel regions by default, taking a core away from the
# thread that compiles the next chunk's signals; sleep instead (an explicit setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from quant.metrics import N_METRICS, default_lo_lags, metrics_nb
from quant.sim import N_TRADE_COLS, simulate_into_nb, trade_capacity


@njit(cache=True, error_model="numpy", nogil=True)
def _evaluate_one_nb(j, w, open_, high, low, close, funding, le, lx, se, sx, size, fee,
                     slippage, stop_loss, take_profit, trailing_stop, max_hold, max_leverage,
                     init_cash, bpy, lags, eq_buf, ret_buf, trade_buf, out):
    nt, turnover, exposed = simulate_into_nb(
        open_, high, low, close, funding, le[j], lx[j], se[j], sx[j], size[j], False,
        fee, slippage, stop_loss[j], take_profit[j], trailing_stop[j], max_hold[j],
        max_leverage, init_cash, eq_buf[w], ret_buf[w], np.empty(0), trade_buf[w])
    metrics_nb(ret_buf[w], eq_buf[w], init_cash, bpy, trade_buf[w][:nt], turnover,
               exposed, lags, out[j])


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def evaluate_batch_nb(open_, high, low, close, funding, le, lx, se, sx, size, fee, slippage,
                      stop_loss, take_profit, trailing_stop, max_hold, max_leverage, init_cash,
                      bpy, lags, eq_buf, ret_buf, trade_buf, out):
    """Row j of le/lx/se/sx/size and element j of the risk arrays describe strategy j; its
    metrics land in out[j] (order of quant.metrics.KEYS). Worker w uses buffer row w."""
    k = le.shape[0]
    workers = eq_buf.shape[0]
    for w in prange(workers):
        for j in range(w, k, workers):
            _evaluate_one_nb(j, w, open_, high, low, close, funding, le, lx, se, sx, size, fee,
                             slippage, stop_loss, take_profit, trailing_stop, max_hold,
                             max_leverage, init_cash, bpy, lags, eq_buf, ret_buf, trade_buf, out)


@njit(cache=True, error_model="numpy", nogil=True)
def evaluate_batch_serial_nb(open_, high, low, close, funding, le, lx, se, sx, size, fee,
                             slippage, stop_loss, take_profit, trailing_stop, max_hold,
                             max_leverage, init_cash, bpy, lags, eq_buf, ret_buf, trade_buf, out):
    """`evaluate_batch_nb` on the calling thread (no thread pool to wake or spin)."""
    for j in range(le.shape[0]):
        _evaluate_one_nb(j, 0, open_, high, low, close, funding, le, lx, se, sx, size, fee,
                         slippage, stop_loss, take_profit, trailing_stop, max_hold,
                         max_leverage, init_cash, bpy, lags, eq_buf, ret_buf, trade_buf, out)


class BatchBuffers:
    """Per-worker output buffers, reused from chunk to chunk."""

    def __init__(self, n: int, workers: int):
        self.workers = workers
        self.equity = np.empty((workers, n))
        self.returns = np.empty((workers, n))
        self.trades = np.empty((workers, trade_capacity(n), N_TRADE_COLS))


def _opt(x) -> float:
    return np.nan if x is None else float(x)


def evaluate_batch(strategies, signals, dataset, config, funding, buffers: BatchBuffers,
                   lags: int | None = None) -> np.ndarray:
    """Metrics matrix (len(strategies), N_METRICS) for compiled signals."""
    k = len(strategies)
    n = len(dataset)
    stack = np.stack
    le = stack([s.long_entry for s in signals])
    lx = stack([s.long_exit for s in signals])
    se = stack([s.short_entry for s in signals])
    sx = stack([s.short_exit for s in signals])
    width = n if any(s.size.shape[0] > 1 for s in signals) else 1
    size = np.empty((k, width))
    for j, s in enumerate(signals):
        size[j] = s.size
    sl = np.array([_opt(s.stop_loss) for s in strategies])
    tp = np.array([_opt(s.take_profit) for s in strategies])
    tr = np.array([_opt(s.trailing_stop) for s in strategies])
    mh = np.array([-1 if s.max_hold is None else int(s.max_hold) for s in strategies],
                  dtype=np.int64)
    if lags is None:
        lags = default_lo_lags(n)
    out = np.empty((k, N_METRICS))
    kernel = evaluate_batch_nb if buffers.workers > 1 else evaluate_batch_serial_nb
    kernel(dataset.open, dataset.high, dataset.low, dataset.close, funding,
                      le, lx, se, sx, size, config.fee_bps * 1e-4, config.slippage_bps * 1e-4,
                      sl, tp, tr, mh, float(config.max_leverage), float(config.init_cash),
                      float(dataset.bars_per_year), int(lags), buffers.equity, buffers.returns,
                      buffers.trades, out)
    return out
