"""The gauntlet's result as the wire report (`ValidationReport`) and as rows people can read.

JSON has no NaN or infinity: a metric that is undefined (no trades, no variance) goes on the wire
as 0.0, and an infinite one as ±1e9, so every report decodes.
"""

from __future__ import annotations

import math

from quant.data import Dataset
from quant.gauntlet.gauntlet import STAGES, GauntletResult
from schemas import GateResult, PerformanceMetrics, StageResult, ValidationReport

_METRIC_FIELDS = tuple(PerformanceMetrics.__struct_fields__)
_INT_FIELDS = {"max_drawdown_bars", "trades", "bars"}
STAGE_TITLES = {"in_sample": "in-sample", "out_of_sample": "out-of-sample",
                "walk_forward": "walk-forward", "paper": "paper"}


def wire_float(x: float) -> float:
    x = float(x)
    if math.isnan(x):
        return 0.0
    if math.isinf(x):
        return math.copysign(1e9, x)
    return x


def performance(metrics: dict[str, float]) -> PerformanceMetrics:
    kw = {}
    for f in _METRIC_FIELDS:
        v = metrics.get(f, 0.0)
        kw[f] = int(v) if f in _INT_FIELDS else wire_float(v)
    return PerformanceMetrics(**kw)


def _ns(dataset: Dataset, idx: int) -> int:
    idx = min(max(idx, 0), len(dataset) - 1)
    return int(dataset.time_ms[idx]) * 1_000_000


def to_report(result: GauntletResult, dataset: Dataset, ts_event: int,
              ts_init: int | None = None) -> ValidationReport:
    """The `val.report.{strategy_id}` message. Stage start/end are the open times (ns) of the
    stage's first and last bars; the gaps between stages are the purge gaps."""
    stages = [
        StageResult(stage=name, start=_ns(dataset, result.stages[name].span.start),
                    end=_ns(dataset, result.stages[name].span.stop - 1),
                    metrics=performance(result.stages[name].metrics))
        for name in STAGES
    ]
    gates = [
        GateResult(gate=g.gate, value=wire_float(g.value), threshold=wire_float(g.threshold),
                   comparator=g.comparator, passed=g.passed,
                   detail=g.detail if g.gated else f"reported, not gated; {g.detail}")
        for g in result.gates
    ]
    return ValidationReport(
        ts_event=ts_event, ts_init=ts_event if ts_init is None else ts_init,
        strategy_id=result.strategy_id, verdict=result.verdict, reasons=list(result.reasons),
        stages=stages, gates=gates, score=wire_float(result.score),
        score_breakdown={k: wire_float(v) for k, v in result.breakdown.items()},
        trial_count=result.trial_count,
    )


def fmt(x: float, digits: int = 4) -> str:
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


def stage_rows(report: ValidationReport) -> list[list[str]]:
    """stage, bars, Sharpe, return, max DD, trades, win rate (one row per stage)."""
    rows = []
    for s in report.stages:
        m = s.metrics
        rows.append([STAGE_TITLES[s.stage], str(m.bars), f"{m.sharpe:.2f}",
                     f"{m.total_return:+.1%}", f"{m.max_drawdown:.1%}", str(m.trades),
                     f"{m.win_rate:.0%}"])
    return rows


def gate_value(gate: str, x: float) -> str:
    """A gate's value or threshold in the unit people read it in: drawdowns and probabilities
    (deflated Sharpe, PBO) as percent, Sharpe ratios to 2 decimals, counts whole, years as
    years; the wire keeps fractions."""
    if not math.isfinite(x):
        return "n/a"
    kind = gate.split(".", 1)[0]
    if kind in ("max_drawdown", "deflated_sharpe", "pbo"):
        return f"{x * 100:.1f}%"
    if kind in ("sharpe", "robustness"):
        return f"{x:.2f}"
    if kind in ("trades", "no_lookahead"):
        return f"{x:,.0f}"
    if kind == "min_backtest_length":
        return f"{x:.2f} y"
    return fmt(x)


def gate_rows(report: ValidationReport) -> list[list[str]]:
    """gate, value, comparator + threshold, verdict, detail."""
    rows = []
    for g in report.gates:
        gated = not g.detail.startswith("reported, not gated")
        verdict = ("PASS" if g.passed else "FAIL") if gated else ("ok" if g.passed else "low")
        rows.append([g.gate, gate_value(g.gate, g.value),
                     f"{g.comparator} {gate_value(g.gate, g.threshold)}", verdict, g.detail])
    return rows
