"""A passing candidate as its registry entry: the validation summary the trader, risk and the
lifecycle read (stage Sharpes, worst drawdown, trade rate, the per-trade returns out of sample
and in the walk-forward, the bars searched and validated, the data). Pure."""

from __future__ import annotations

import math

import numpy as np

from quant.data import Dataset
from quant.gauntlet.gauntlet import GauntletResult
from quant.gauntlet.splits import Span
from quant.sim import T_ENTRY_IDX, T_RET
from schemas import BarRange, RegistryEntry, StrategyCandidate, ValidationReport
from schemas.registry import Origin, ValidationSummary


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _range(ds: Dataset, spans: list[Span]) -> BarRange:
    spans = [s for s in spans if len(s)]
    first, last = spans[0].start, spans[-1].stop - 1
    return BarRange(start=int(ds.time_ms[first]) * 1_000_000,
                    end=int(ds.time_ms[last]) * 1_000_000, bars=sum(len(s) for s in spans))


def summary(c: StrategyCandidate, report: ValidationReport, result: GauntletResult,
            ds: Dataset) -> ValidationSummary:
    st = result.stages
    unseen = [st["out_of_sample"], st["walk_forward"]]
    trades = np.vstack([s.trades for s in unseen])
    trades = trades[np.argsort(trades[:, T_ENTRY_IDX], kind="stable")]
    days = sum(len(s.span) for s in unseen) * ds.bar_seconds / 86400.0
    return ValidationSummary(
        in_sample_sharpe=_finite(st["in_sample"].metrics["sharpe"]),
        out_of_sample_sharpe=_finite(st["out_of_sample"].metrics["sharpe"]),
        walk_forward_sharpe=_finite(st["walk_forward"].metrics["sharpe"]),
        max_drawdown=max(_finite(s.metrics["max_drawdown"]) for s in st.values()),
        trades_per_day=trades.shape[0] / days if days > 0 else 0.0,
        deflated_sharpe=_finite(result.dsr),
        pbo=_finite(result.pbo.pbo) if result.pbo is not None else 0.0,
        score=report.score,
        trade_returns=[_finite(x) for x in trades[:, T_RET]],
        searched=c.searched or _range(ds, [result.splits.in_sample]),
        validated=_range(ds, [s.span for s in unseen]),
        data_spec=c.data_spec,
        verdict_at=report.ts_event,
    )


def registry_entry(c: StrategyCandidate, report: ValidationReport, result: GauntletResult,
                   ds: Dataset, now: int) -> RegistryEntry:
    """The `validated` entry of a passing candidate (a user's when algorithm_type is "user")."""
    user = c.algorithm_type == "user"
    return RegistryEntry(
        ts_event=now, ts_init=now, strategy_id=c.strategy_id, dsl=c.dsl, coin=c.coin,
        interval=c.interval, stage="validated", account="paper", stage_since=now,
        validation=summary(c, report, result, ds),
        origin=Origin(kind="user" if user else "evolved", trial_count=c.trial_count,
                      algorithm=c.algorithm_type, generation=c.generation,
                      genome_hash=c.genome_hash, added_by="operator" if user else "evolution"),
    )
