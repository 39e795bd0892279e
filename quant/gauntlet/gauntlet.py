"""The honest gauntlet: stages, statistics, gates and the readiness score for one strategy.

Signals are compiled once on the whole history (every primitive is causal, and the truncation
check proves it for this strategy); each stage then trades on its own, from a flat account, over
its own bars. Walk-forward trades each rolling window from flat and is judged on the windows
joined end to end. The deflated Sharpe and the family's PBO use the one continuous run over all
bars; MinBTL compares the in-sample years (what the search saw) with the trials it made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from quant.data import Dataset
from quant.genome import Strategy, strategy_hash
from quant.gauntlet.config import ValidationConfig
from quant.gauntlet.family import random_controls
from quant.gauntlet.lookahead import LookaheadResult, check_lookahead, cut_points
from quant.gauntlet.score import ScoreInputs, readiness_score
from quant.gauntlet.splits import Span, Splits, make_splits, strategy_lookback
from quant.gauntlet.support import HistorySupport, span
from quant.gauntlet.stats import (
    PboResult,
    deflated_sharpe,
    deflated_sharpe_threshold,
    min_backtest_length,
    null_sharpe_variance,
    pbo_cscv,
)
from quant.metrics import compute_metrics
from quant.signals import IndicatorCache, Signals, compile_signals
from quant.sim import T_ENTRY_IDX, T_EXIT_IDX, BacktestResult, SimConfig, simulate

STAGES = ("in_sample", "out_of_sample", "walk_forward")


@dataclass(frozen=True)
class Gate:
    gate: str
    value: float
    threshold: float
    comparator: str  # one of > >= < <= ==
    passed: bool
    detail: str = ""
    gated: bool = True  # False: reported beside the gates, never decides the verdict
    plain: str = ""  # the reason in a trader's words, when the figures alone do not say it

    def sentence(self) -> str:
        if self.plain:
            return f"{self.gate}: {self.plain}"
        inverse = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!="}[self.comparator]
        op = self.comparator if self.passed else inverse
        text = f"{self.gate} {_num(self.value)} {op} {_num(self.threshold)}"
        return f"{text} ({self.detail})" if self.detail else text


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def _check(value: float, comparator: str, threshold: float) -> bool:
    if not math.isfinite(value):
        return False
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold, "==": value == threshold}[comparator]


def gate(name: str, value: float, comparator: str, threshold: float, detail: str = "",
         gated: bool = True, plain: str = "") -> Gate:
    return Gate(name, float(value), float(threshold), comparator,
                _check(float(value), comparator, float(threshold)), detail, gated, plain)


@dataclass(frozen=True)
class StageRun:
    name: str
    span: Span
    result: BacktestResult  # returns/equity of this stage only (bars span.start .. span.stop)
    metrics: dict[str, float]
    trades: np.ndarray  # trade records with bar indices into the whole dataset


@dataclass(frozen=True)
class GauntletResult:
    strategy_id: str
    splits: Splits
    lookback: int
    holding: int
    stages: dict[str, StageRun]
    windows: tuple[StageRun, ...]
    full: BacktestResult  # one continuous run over every bar
    full_metrics: dict[str, float]
    signals: Signals
    lookahead: LookaheadResult
    dsr: float
    sr0_per_bar: float
    min_btl_years: float
    pbo: PboResult | None
    pbo_detail: str
    cross_market: tuple[float, ...]
    gates: tuple[Gate, ...]
    score: float
    breakdown: dict[str, float]
    verdict: str  # "pass" | "fail"
    reasons: tuple[str, ...]
    trial_count: int
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or a.shape[0] <= 1:
        return a
    out = np.empty_like(a)
    out[k:] = a[:-k]
    out[:k] = False if a.dtype == np.bool_ else a[0]
    return out


def _slice_signals(sig: Signals, span: Span, delay: int = 0) -> Signals:
    sl = slice(span.start, span.stop)
    size = sig.size[sl] if sig.size.shape[0] > 1 else sig.size
    parts = [_shift(np.ascontiguousarray(getattr(sig, k)[sl]), delay)
             for k in ("long_entry", "long_exit", "short_entry", "short_exit")]
    return Signals(*parts, _shift(np.ascontiguousarray(size), delay))


def run_span(strategy: Strategy, signals: Signals, dataset: Dataset, span: Span,
             sim: SimConfig, delay: int = 0) -> BacktestResult:
    """Trade `span` alone from a flat account; `delay` fills every decision that many bars late."""
    return simulate(strategy, _slice_signals(signals, span, delay),
                    dataset.slice(span.start, span.stop), sim)


def join_results(results: list[BacktestResult]) -> BacktestResult:
    """Runs end to end, as one account that starts each run with the previous run's equity."""
    first = results[0]
    rets = np.concatenate([r.returns for r in results])
    equity = first.init_cash * np.cumprod(1.0 + rets)
    offsets = np.cumsum([0] + [r.returns.shape[0] for r in results[:-1]])
    trades = []
    for off, r in zip(offsets, results):
        t = r.trades.copy()
        t[:, T_ENTRY_IDX] += off
        t[:, T_EXIT_IDX] += off
        trades.append(t)
    pos = None
    if all(r.position is not None for r in results):
        pos = np.concatenate([r.position for r in results])
    return BacktestResult(equity, rets, pos, float(sum(r.turnover for r in results)),
                          int(sum(r.exposed_bars for r in results)), np.vstack(trades),
                          first.bars_per_year, first.init_cash)


def _stage(name: str, strategy, signals, dataset, span: Span, sim) -> StageRun:
    res = run_span(strategy, signals, dataset, span, sim)
    trades = res.trades.copy()
    trades[:, T_ENTRY_IDX] += span.start
    trades[:, T_EXIT_IDX] += span.start
    return StageRun(name, span, res, compute_metrics(res), trades)


def _joined_stage(name: str, runs: list[StageRun], span: Span) -> StageRun:
    res = join_results([r.result for r in runs])
    return StageRun(name, span, res, compute_metrics(res), np.vstack([r.trades for r in runs]))


def monthly_returns(time_ms: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(month starts as datetime64[M], compounded return of each calendar month)."""
    months = time_ms.astype("datetime64[ms]").astype("datetime64[M]")
    if months.size == 0:
        return months, np.zeros(0)
    change = np.r_[True, months[1:] != months[:-1]]
    starts = np.flatnonzero(change)
    logs = np.log1p(np.maximum(returns, -0.999999))
    sums = np.add.reduceat(logs, starts)
    return months[starts], np.expm1(sums)


def _longest_holding(trades: np.ndarray) -> int:
    if trades.shape[0] == 0:
        return 0
    return int(np.max(trades[:, T_EXIT_IDX] - trades[:, T_ENTRY_IDX])) + 1


def _finite(x: float, default: float = 0.0) -> float:
    return float(x) if math.isfinite(x) else default


def run_gauntlet(strategy: Strategy, dataset: Dataset, *, strategy_id: str = "",
                 trial_count: int = 1, sharpe_variance: float = 0.0, family: str = "",
                 family_returns: list[np.ndarray] | None = None,
                 other_markets: list[Dataset] | None = None,
                 config: ValidationConfig = ValidationConfig(),
                 sim: SimConfig = SimConfig(), in_sample: Span | None = None) -> GauntletResult:
    """Every stage, statistic, gate and the score for `strategy` on `dataset`.

    `in_sample`: the bars the search saw (quant.gauntlet.splits.searched_span); out-of-sample
    and walk-forward come strictly after them. None: the first `in_sample_fraction` of the
    bars, for a strategy that no search of ours produced on this data.

    `trial_count`: distinct strategies the search evaluated on this history (N of the deflated
    Sharpe and MinBTL); `sharpe_variance`: variance of their per-bar Sharpe (0: unknown, the
    null variance 1/(T−1) is used instead); `family_returns`: full-history per-bar returns of
    the other members of the candidate's family (PBO).
    """
    started = time.perf_counter()
    n = len(dataset)
    bpy = dataset.bars_per_year
    n_trials = max(int(trial_count), 1)
    sid = strategy_id or f"dsl_0_{strategy_hash(strategy)[:8]}"
    signals = compile_signals(strategy, IndicatorCache(dataset))
    full = simulate(strategy, signals, dataset, sim)
    full_metrics = compute_metrics(full)

    lookback = strategy_lookback(strategy)
    seen = in_sample if in_sample is not None else Span(0, int(n * config.in_sample_fraction))
    entries = full.trades[:, T_ENTRY_IDX]
    holding = int(strategy.max_hold) if strategy.max_hold else _longest_holding(
        full.trades[(entries >= seen.start) & (entries < seen.stop)])
    purge = max(config.min_purge_bars, lookback + holding)
    splits = make_splits(n, purge, config.in_sample_fraction, config.out_of_sample_fraction,
                         config.walk_forward_windows, in_sample=in_sample)

    stages = {name: _stage(name, strategy, signals, dataset, span, sim)
              for name, span in (("in_sample", splits.in_sample),
                                 ("out_of_sample", splits.out_of_sample))}
    windows = tuple(_stage(f"walk_forward[{i}]", strategy, signals, dataset, w, sim)
                    for i, w in enumerate(splits.windows))
    stages["walk_forward"] = _joined_stage("walk_forward", list(windows), splits.walk_forward)

    look = check_lookahead(strategy, dataset, signals,
                           cut_points(n, config.lookahead_cuts, lookback))

    # deflated Sharpe of the continuous run. V: the variance of per-bar Sharpe that luck gives
    # the trials on the in-sample bars the search saw, 1/(T_is − 1); the trials' own variance
    # when it is smaller (correlated trials). A larger cross-sectional variance is spread in
    # the trials' true Sharpe (mostly cost drag, which lowers the best, never raises it); under
    # the null that no trial has skill it is not luck. T_is < T makes SR₀ conservative.
    t = int(full_metrics["bars"])
    v_null = null_sharpe_variance(len(splits.in_sample))
    v = min(sharpe_variance, v_null) if sharpe_variance > 0 else v_null
    sr0 = deflated_sharpe_threshold(n_trials, v)
    dsr = _finite(deflated_sharpe(full_metrics["sharpe_per_bar"], t, full_metrics["skew"],
                                  full_metrics["kurtosis"], n_trials, v))
    v_src = ("trials' variance" if v < v_null else "null variance 1/(T_is-1)"
             + (f"; trials' variance {sharpe_variance:.2e} capped" if sharpe_variance > v_null
                else ""))

    is_years = len(splits.in_sample) / bpy
    min_btl = min_backtest_length(n_trials, config.min_btl_target_sharpe)

    # PBO over the family, padded with random controls when it is too small
    members = [r for r in (family_returns or []) if r.shape[0] == n]
    pad = max(0, config.pbo_min_family - 1 - len(members))
    controls = []
    if pad:
        cache = IndicatorCache(dataset)
        for c in random_controls(strategy_hash(strategy), pad):
            controls.append(simulate(c, compile_signals(c, cache), dataset, sim).returns.copy())
    pbo = pbo_cscv(np.column_stack([full.returns, *members, *controls]), config.pbo_blocks)
    pbo_detail = (f"family {family or '(none)'}: {len(members)} other member(s)"
                  + (f" + {pad} random-genome control(s)" if pad else "")
                  + f", {pbo.n_splits} CSCV splits of {pbo.n_blocks} blocks")

    # cross-market robustness
    cross = []
    for other in other_markets or []:
        if len(other) < 2:
            continue
        ev_sig = compile_signals(strategy, IndicatorCache(other))
        cross.append(_finite(compute_metrics(simulate(strategy, ev_sig, other, sim))["sharpe"]))
    cross_median = float(np.median(cross)) if cross else math.nan

    gates = _gates(config, stages, windows, look, dsr, sr0 * math.sqrt(bpy), n_trials, v_src,
                   is_years, min_btl, pbo, pbo_detail, cross, cross_median, splits)
    score, breakdown = _score(strategy, signals, dataset, sim, config, stages, splits,
                              cross_median)
    failed = [g for g in gates if g.gated and not g.passed]
    verdict = "fail" if failed else "pass"
    reasons = tuple(g.sentence() for g in failed) or (
        f"all {sum(g.gated for g in gates)} gates passed",)
    return GauntletResult(
        sid, splits, lookback, holding, stages, windows, full, full_metrics, signals, look,
        dsr, sr0, min_btl, pbo, pbo_detail, tuple(cross), tuple(gates), score, breakdown,
        verdict, reasons, n_trials, time.perf_counter() - started)


def _gates(config, stages, windows, look, dsr, sr0_annual, n_trials, v_src, is_years,
           min_btl, pbo, pbo_detail, cross, cross_median, splits) -> list[Gate]:
    """Every gate, the most decisive first (the order of the reasons)."""
    support = HistorySupport(n_trials, is_years, config.min_btl_target_sharpe)
    gs = [
        gate("no_lookahead", look.mismatched_bars, "==", 0,
             f"signals re-compiled on history cut at bars {', '.join(map(str, look.cuts))}"
             + (f"; first change at bar {look.first_mismatch}" if look.mismatched_bars else "")),
        gate("deflated_sharpe", dsr, ">=", config.min_deflated_sharpe,
             f"N={n_trials} trials, SR0={sr0_annual:.2f} annualised ({v_src}), all bars"),
        gate("pbo", pbo.pbo, "<=", config.max_pbo, pbo_detail),
        gate("min_backtest_length", is_years, ">=", min_btl,
             f"in-sample years vs MinBTL for N={n_trials} at target Sharpe "
             f"{config.min_btl_target_sharpe:g}; {span(is_years)} support about "
             f"{support.supported_trials:,} trials",
             plain=support.sentence()),
    ]
    wf_detail = "windows " + ", ".join(f"{_finite(w.metrics['sharpe']):.2f}" for w in windows)
    for name in ("out_of_sample", "walk_forward", "in_sample"):
        m = stages[name].metrics
        gs.append(gate(f"sharpe.{name}", _finite(m["sharpe"]), ">", config.min_sharpe,
                       wf_detail if name == "walk_forward" else
                       f"{len(stages[name].span)} bars"))
    for name in STAGES:
        gs.append(gate(f"max_drawdown.{name}", stages[name].metrics["max_drawdown"], "<",
                       config.max_drawdown))
    for name in STAGES:
        gs.append(gate(f"trades.{name}", stages[name].metrics["trades"], ">=",
                       config.min_trades))
    gs.append(gate("robustness.cross_market", cross_median if cross else 0.0, ">=",
                   config.robustness_min_sharpe,
                   (f"median Sharpe on {len(cross)} other market(s): "
                    + ", ".join(f"{c:.2f}" for c in cross)) if cross
                   else "no other market configured for this data",
                   gated=config.robustness_gated and bool(cross)))
    return gs


def _score(strategy, signals, dataset, sim, config, stages, splits, cross_median):
    unseen_spans = [stages["out_of_sample"].span, stages["walk_forward"].span]
    unseen = join_results([stages["out_of_sample"].result, stages["walk_forward"].result])
    um = compute_metrics(unseen)
    late = join_results([run_span(strategy, signals, dataset, s, sim, delay=1)
                         for s in unseen_spans])
    k = config.cost_stress_factor
    costly = replace(sim, fee_bps=sim.fee_bps * k, slippage_bps=sim.slippage_bps * k)
    stressed = join_results([run_span(strategy, signals, dataset, s, costly)
                             for s in unseen_spans])
    times = np.concatenate([dataset.time_ms[s.start:s.stop] for s in unseen_spans])
    _, monthly = monthly_returns(times, unseen.returns)
    years = unseen.returns.shape[0] / dataset.bars_per_year
    trades = int(um["trades"])
    inputs = ScoreInputs(
        sharpe=um["sharpe"], cagr=um["cagr"], win_rate=um["win_rate"],
        max_drawdown=um["max_drawdown"],
        positive_month_share=float(np.mean(monthly > 0)) if monthly.size else math.nan,
        longest_underwater_days=um["max_drawdown_bars"] * dataset.bar_seconds / 86400.0,
        trades_per_year=trades / years if years > 0 else math.nan,
        bars_per_trade=unseen.returns.shape[0] / trades if trades else math.inf,
        latency_sharpe=compute_metrics(late)["sharpe"],
        stressed_sharpe=compute_metrics(stressed)["sharpe"],
        in_sample_sharpe=stages["in_sample"].metrics["sharpe"],
        out_of_sample_sharpe=stages["out_of_sample"].metrics["sharpe"],
        cross_market_sharpe=cross_median,
    )
    return readiness_score(inputs)
