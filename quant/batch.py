"""Many strategies on one dataset in one numba call per chunk: signals, simulation, every metric,
and (for evolution) the Sharpe of each regime and of each stretch of the history.

The strategies of a chunk are compiled in Python into signal programs (quant.program: a few
instructions over the shared indicator cache), then one kernel call runs, strategy after
strategy, the program (decision codes, block by block), the simulation, the metrics and the
regime and segment statistics, with the GIL released. Nothing of the size of the history is
allocated per strategy: the buffers live as long as the `BatchBuffers`, one per thread, so one
thread compiles the next chunk's programs while another runs its kernel.

Regime and segment Sharpe ratios reproduce numpy's `mean` and `std(ddof=1)` bit for bit
(quant.gp.regimes.regime_sharpe and quant.gp.fitness.segment_sharpe are the reference): numpy
sums a contiguous float64 array pairwise (`pairwise_sum_DOUBLE`), and so does `_np_sum_nb`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quant.metrics import N_METRICS, default_lo_lags, metrics_drawdown_nb
from quant.program import ProgramBuilder, Registers, decide_nb, leaf_f64
from quant.sim import N_TRADE_COLS, _opt, simulate_codes_into_nb, trade_capacity

_PW_BLOCK = 128  # numpy's PW_BLOCKSIZE


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def _term_nb(a, i, mean, squares):
    x = a[i]
    if squares:
        x = x - mean
        x = x * x
    return x


@njit(cache=True, error_model="numpy", nogil=True)
def _block_sum_nb(a, lo, n, mean, squares):
    """numpy's sum of a block of at most _PW_BLOCK terms: eight running sums when n >= 8."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += _term_nb(a, i, mean, squares)
        return res
    r0 = _term_nb(a, lo, mean, squares)
    r1 = _term_nb(a, lo + 1, mean, squares)
    r2 = _term_nb(a, lo + 2, mean, squares)
    r3 = _term_nb(a, lo + 3, mean, squares)
    r4 = _term_nb(a, lo + 4, mean, squares)
    r5 = _term_nb(a, lo + 5, mean, squares)
    r6 = _term_nb(a, lo + 6, mean, squares)
    r7 = _term_nb(a, lo + 7, mean, squares)
    i = lo + 8
    whole = lo + n - n % 8
    while i < whole:
        r0 += _term_nb(a, i, mean, squares)
        r1 += _term_nb(a, i + 1, mean, squares)
        r2 += _term_nb(a, i + 2, mean, squares)
        r3 += _term_nb(a, i + 3, mean, squares)
        r4 += _term_nb(a, i + 4, mean, squares)
        r5 += _term_nb(a, i + 5, mean, squares)
        r6 += _term_nb(a, i + 6, mean, squares)
        r7 += _term_nb(a, i + 7, mean, squares)
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += _term_nb(a, i, mean, squares)
        i += 1
    return res


@njit(cache=True, error_model="numpy", nogil=True)
def _np_sum_nb(a, lo, n, mean, squares):
    """numpy's pairwise sum of a[lo:lo+n] (pairwise_sum_DOUBLE), or of (a - mean)**2 when
    `squares` (what `np.std` sums), in numpy's order: a block of at most _PW_BLOCK terms is
    summed directly, a longer stretch is the sum of its halves (the first rounded down to a
    multiple of 8). Walked with an explicit stack: numba's on-disk cache mishandles a
    recursive function called from another cached one (the loaded kernel crashed)."""
    if n <= _PW_BLOCK:
        return _block_sum_nb(a, lo, n, mean, squares)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    stage = np.empty(64, dtype=np.int64)  # 0: not split yet, 1: left half running, 2: right
    left = np.empty(64)
    top = 0
    los[0] = lo
    ns[0] = n
    stage[0] = 0
    while True:
        m = ns[top]
        if m > _PW_BLOCK:  # split: run the left half first
            h = m // 2
            h -= h % 8
            stage[top] = 1
            top += 1
            los[top] = los[top - 1]
            ns[top] = h
            stage[top] = 0
            continue
        v = _block_sum_nb(a, los[top], m, mean, squares)
        while True:  # hand v up to the stretches waiting for it
            if top == 0:
                return v
            top -= 1
            if stage[top] == 1:  # v is the left half: now the right one
                left[top] = v
                stage[top] = 2
                h = ns[top] // 2
                h -= h % 8
                top += 1
                los[top] = los[top - 1] + h
                ns[top] = ns[top - 1] - h
                stage[top] = 0
                break
            v = left[top] + v


@njit(cache=True, error_model="numpy", nogil=True)
def _sharpe_nb(a, lo, n, root):
    """float(x.mean()) / x.std(ddof=1) * root for x = a[lo:lo+n], 0 when the std is not > 0
    (numpy's arithmetic: 0 + pairwise sum, divided by the count)."""
    mean = (0.0 + _np_sum_nb(a, lo, n, 0.0, False)) / n
    var = (0.0 + _np_sum_nb(a, lo, n, mean, True)) / (n - 1)
    sd = math.sqrt(var)
    return mean / sd * root if sd > 0 else 0.0


@njit(cache=True, error_model="numpy", nogil=True)
def regime_sharpe_nb(returns, labels, n_regimes, min_bars, root, scratch, out):
    """quant.gp.regimes.regime_sharpe: the Sharpe of the returns inside each regime label."""
    for k in range(n_regimes):
        c = 0
        for i in range(returns.shape[0]):
            if labels[i] == k:
                scratch[c] = returns[i]
                c += 1
        out[k] = 0.0 if c < min_bars else _sharpe_nb(scratch, 0, c, root)


@njit(cache=True, error_model="numpy", nogil=True)
def segment_sharpe_nb(returns, k, root, out):
    """quant.gp.fitness.segment_sharpe: the Sharpe of k consecutive stretches, split as
    np.array_split splits (the first n % k one bar longer)."""
    n = returns.shape[0]
    each = n // k
    extra = n % k
    lo = 0
    for j in range(k):
        m = each + 1 if j < extra else each
        out[j] = _sharpe_nb(returns, lo, m, root) if m > 1 else 0.0
        lo += m


@njit(cache=True, error_model="numpy", nogil=True)
def evaluate_batch_nb(k, ins, starts, ends, roots, kon, addr, size_leaf, size_fixed,
                      open_, high, low, close, funding, fee, slippage, stop_loss, take_profit,
                      trailing_stop, max_hold, max_leverage, init_cash, bpy, lags, fregs, bregs,
                      codes, size_one, equity, returns, trades, out, labels, n_regimes,
                      min_regime_bars, n_segments, scratch, regime_out, segment_out):
    """Strategies 0..k-1 of a compiled chunk (quant.program): row j of the program tables and
    element j of the risk arrays describe strategy j; its metrics land in out[j] (order of
    quant.metrics.KEYS), its regime and segment Sharpe ratios in regime_out[j] and
    segment_out[j] when n_regimes / n_segments > 0."""
    n = close.shape[0]
    root = math.sqrt(bpy)
    no_position = np.empty(0)
    for j in range(k):
        decide_nb(ins, starts[j], ends[j], kon, roots[j], addr, n, fregs, bregs, codes)
        if size_leaf[j] >= 0:
            size = leaf_f64(addr, size_leaf[j], n)
        else:
            size_one[0] = size_fixed[j]
            size = size_one
        nt, turnover, exposed, mdd, mdd_bars = simulate_codes_into_nb(
            open_, high, low, close, funding, codes, size, False, fee, slippage, stop_loss[j],
            take_profit[j], trailing_stop[j], max_hold[j], max_leverage, init_cash, equity,
            returns, no_position, trades)
        metrics_drawdown_nb(returns, equity, init_cash, bpy, trades[:nt], turnover, exposed,
                            lags, mdd, mdd_bars, out[j])
        if n_regimes > 0:
            regime_sharpe_nb(returns, labels, n_regimes, min_regime_bars, root, scratch,
                             regime_out[j])
        if n_segments > 0:
            segment_sharpe_nb(returns, n_segments, root, segment_out[j])


class BatchBuffers:
    """Everything one chunk of up to `chunk` strategies needs, reused from chunk to chunk.
    One per thread: a kernel call owns its buffers until it returns."""

    def __init__(self, n: int, chunk: int):
        self.n = n
        self.chunk = chunk
        self.codes = np.empty(n, dtype=np.uint8)
        self.registers = Registers()
        self.size_one = np.empty(1)
        self.size_fixed = np.empty(chunk)
        self.size_leaf = np.empty(chunk, dtype=np.int64)
        self.risk = np.empty((3, chunk))  # stop loss, take profit, trailing stop
        self.max_hold = np.empty(chunk, dtype=np.int64)
        self.equity = np.empty(n)
        self.returns = np.empty(n)
        self.trades = np.empty((trade_capacity(n), N_TRADE_COLS))
        self.out = np.empty((chunk, N_METRICS))
        self._scratch: np.ndarray | None = None  # regime returns, only once asked for

    def scratch(self) -> np.ndarray:
        if self._scratch is None:
            self._scratch = np.empty(self.n)
        return self._scratch


_NO_LABELS = np.zeros(0, dtype=np.int8)
_NO_STATS = np.zeros((0, 0))


class BatchResult:
    """Metrics (k, N_METRICS), regime and segment Sharpe ratios (k, ·) of a chunk, fresh
    arrays; `failed[j]`: strategy j did not compile (its rows are NaN)."""

    __slots__ = ("metrics", "regimes", "segments", "failed")

    def __init__(self, metrics, regimes, segments, failed):
        self.metrics, self.regimes, self.segments, self.failed = metrics, regimes, segments, failed


def evaluate_batch(strategies, cache, config, funding, buffers: BatchBuffers,
                   lags: int | None = None, labels: np.ndarray | None = None,
                   n_regimes: int = 0, min_regime_bars: int = 50, n_segments: int = 0,
                   catch: tuple[type[BaseException], ...] = ()) -> BatchResult:
    """Evaluate a chunk of strategies on `cache.dataset`. A strategy whose program raises one of
    `catch` while compiling is marked failed; any other exception propagates."""
    dataset = cache.dataset
    k = len(strategies)
    n = len(dataset)
    b = buffers
    if k > b.chunk or b.n != n:
        raise ValueError(f"{k} strategies of {n} bars do not fit buffers for {b.chunk} of {b.n}")
    from quant.signals import position_size

    prog = ProgramBuilder(cache)
    order: list[int] = []  # chunk row -> strategy index
    failed = np.zeros(k, dtype=np.bool_)
    size_leaf: list[int] = []
    size_fixed: list[float] = []
    risk: list[tuple[float, float, float, int]] = []
    for j, st in enumerate(strategies):
        try:
            if st.size.kind == "fixed":  # position_size's one value, without the array
                leaf, fixed = -1, float(st.size.fraction)
            else:
                leaf, fixed = prog.size_leaf(position_size(st, cache)), 0.0
            prog.add(st)
        except catch:
            failed[j] = True
            continue
        size_leaf.append(leaf)
        size_fixed.append(fixed)
        risk.append((_opt(st.stop_loss), _opt(st.take_profit), _opt(st.trailing_stop),
                     -1 if st.max_hold is None else int(st.max_hold)))
        order.append(j)
    if lags is None:
        lags = default_lo_lags(n)
    m = len(order)
    if m:
        b.size_leaf[:m] = size_leaf
        b.size_fixed[:m] = size_fixed
        levels = np.array(risk)
        b.risk[:, :m] = levels[:, :3].T
        b.max_hold[:m] = levels[:, 3]
    regimes = np.empty((m, n_regimes))
    segments = np.empty((m, n_segments))
    if m:
        b.registers.fit(prog)
        ins, starts, ends, roots, kon, addr = prog.arrays()
        evaluate_batch_nb(
            m, ins, starts, ends, roots, kon, addr, b.size_leaf, b.size_fixed,
            dataset.open, dataset.high, dataset.low, dataset.close, funding,
            config.fee_bps * 1e-4, config.slippage_bps * 1e-4, b.risk[0], b.risk[1], b.risk[2],
            b.max_hold, float(config.max_leverage), float(config.init_cash),
            float(dataset.bars_per_year), int(lags), b.registers.fregs, b.registers.bregs,
            b.codes, b.size_one, b.equity, b.returns, b.trades, b.out,
            _NO_LABELS if labels is None else labels, n_regimes, min_regime_bars, n_segments,
            b.scratch() if n_regimes else b.returns, regimes if n_regimes else _NO_STATS,
            segments if n_segments else _NO_STATS)
    if m == k:
        return BatchResult(b.out[:k].copy(), regimes, segments, failed)
    metrics = np.full((k, N_METRICS), np.nan)
    all_regimes = np.full((k, n_regimes), np.nan)
    all_segments = np.full((k, n_segments), np.nan)
    idx = np.array(order, dtype=np.int64)
    metrics[idx] = b.out[:m]
    all_regimes[idx] = regimes
    all_segments[idx] = segments
    return BatchResult(metrics, all_regimes, all_segments, failed)
