"""Validation: the gauntlet's report (`val.report.{strategy_id}`)."""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.base import Ident, Message, Nanos
from schemas.evolution import PerformanceMetrics


class StageResult(msgspec.Struct, frozen=True, kw_only=True):
    stage: Literal["in_sample", "out_of_sample", "walk_forward", "paper"]
    start: Nanos
    end: Nanos
    metrics: PerformanceMetrics


class GateResult(msgspec.Struct, frozen=True, kw_only=True):
    """One gate: `value comparator threshold` decides `passed`."""

    gate: str  # e.g. "sharpe.out_of_sample", "deflated_sharpe", "pbo"
    value: float
    threshold: float
    comparator: Literal[">", ">=", "<", "<=", "=="]
    passed: bool
    detail: str = ""


class ValidationReport(Message, frozen=True, kw_only=True):
    strategy_id: Ident
    verdict: Literal["pass", "fail"]
    reasons: list[str]  # the deciding reasons, most important first
    stages: list[StageResult]
    gates: list[GateResult]
    score: float  # live-trading readiness 0-100
    score_breakdown: dict[str, float] = {}
    trial_count: int = 0
