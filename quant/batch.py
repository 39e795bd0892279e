"""Many strategies on one dataset in one numba call per chunk: simulation and every metric.

Signals are compiled in Python (tree evaluation, shared indicator cache) and copied into
signal matrices that live as long as the buffers; then one kernel call simulates the chunk
and computes its metrics, with the GIL released. Reusing the matrices matters: stacking a
chunk into fresh arrays faulted in new pages every time and cost a quarter of an
evaluation at 10^4 bars. Callers run one chunk per thread, each thread with its own
`BatchBuffers`, so one thread compiles the next chunk's signals while another simulates.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quant.metrics import N_METRICS, default_lo_lags, metrics_nb
from quant.sim import N_TRADE_COLS, _opt, simulate_into_nb, trade_capacity


@njit(cache=True, error_model="numpy", nogil=True)
def evaluate_batch_nb(k, open_, high, low, close, funding, le, lx, se, sx, size, fee, slippage,
                      stop_loss, take_profit, trailing_stop, max_hold, max_leverage, init_cash,
                      bpy, lags, equity, returns, trades, out):
    """Strategies 0..k-1: row j of le/lx/se/sx/size and element j of the risk arrays describe
    strategy j; its metrics land in out[j] (order of quant.metrics.KEYS)."""
    for j in range(k):
        nt, turnover, exposed = simulate_into_nb(
            open_, high, low, close, funding, le[j], lx[j], se[j], sx[j], size[j], False,
            fee, slippage, stop_loss[j], take_profit[j], trailing_stop[j], max_hold[j],
            max_leverage, init_cash, equity, returns, np.empty(0), trades)
        metrics_nb(returns, equity, init_cash, bpy, trades[:nt], turnover, exposed, lags,
                   out[j])


class BatchBuffers:
    """Everything one chunk of up to `chunk` strategies needs, reused from chunk to chunk.
    One per thread: a kernel call owns its buffers until it returns."""

    def __init__(self, n: int, chunk: int):
        self.n = n
        self.chunk = chunk
        self.le = np.empty((chunk, n), dtype=np.bool_)
        self.lx = np.empty((chunk, n), dtype=np.bool_)
        self.se = np.empty((chunk, n), dtype=np.bool_)
        self.sx = np.empty((chunk, n), dtype=np.bool_)
        self.size_one = np.empty((chunk, 1))
        self._size_full: np.ndarray | None = None  # (chunk, n), only once a chunk needs it
        self.risk = np.empty((3, chunk))  # stop loss, take profit, trailing stop
        self.max_hold = np.empty(chunk, dtype=np.int64)
        self.equity = np.empty(n)
        self.returns = np.empty(n)
        self.trades = np.empty((trade_capacity(n), N_TRADE_COLS))
        self.out = np.empty((chunk, N_METRICS))

    def size_full(self) -> np.ndarray:
        if self._size_full is None:
            self._size_full = np.empty((self.chunk, self.n))
        return self._size_full


def evaluate_batch(strategies, signals, dataset, config, funding, buffers: BatchBuffers,
                   lags: int | None = None) -> np.ndarray:
    """Metrics matrix (len(strategies), N_METRICS) for compiled signals (a fresh array)."""
    k = len(strategies)
    n = len(dataset)
    b = buffers
    if k > b.chunk or b.n != n:
        raise ValueError(f"{k} strategies of {n} bars do not fit buffers for {b.chunk} of {b.n}")
    per_bar = any(s.size.shape[0] > 1 for s in signals)
    size = b.size_full() if per_bar else b.size_one
    for j, (st, sg) in enumerate(zip(strategies, signals)):
        b.le[j] = sg.long_entry
        b.lx[j] = sg.long_exit
        b.se[j] = sg.short_entry
        b.sx[j] = sg.short_exit
        size[j] = sg.size  # a fixed size broadcasts over the row when others vary per bar
        b.risk[0, j] = _opt(st.stop_loss)
        b.risk[1, j] = _opt(st.take_profit)
        b.risk[2, j] = _opt(st.trailing_stop)
        b.max_hold[j] = -1 if st.max_hold is None else int(st.max_hold)
    if lags is None:
        lags = default_lo_lags(n)
    evaluate_batch_nb(k, dataset.open, dataset.high, dataset.low, dataset.close, funding,
                      b.le, b.lx, b.se, b.sx, size, config.fee_bps * 1e-4,
                      config.slippage_bps * 1e-4, b.risk[0], b.risk[1], b.risk[2], b.max_hold,
                      float(config.max_leverage), float(config.init_cash),
                      float(dataset.bars_per_year), int(lags), b.equity, b.returns, b.trades,
                      b.out)
    return b.out[:k].copy()
