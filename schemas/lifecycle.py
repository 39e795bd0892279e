"""Lifecycle: stage changes and death reports (`life.*`)."""

from __future__ import annotations

from typing import Literal

from schemas.base import Ident, Message, Nanos

Stage = Literal["candidate", "validated", "paper", "live", "retired", "rejected"]
CauseOfDeath = Literal[
    "failed_validation",
    "paper_divergence",
    "sharpe_decay",
    "drawdown_breach",
    "regime_mismatch",
    "correlated_with_better",
    "operator",
]


class LifecycleEvent(Message, frozen=True, kw_only=True):
    strategy_id: Ident
    from_stage: Stage | None = None
    to_stage: Stage
    reason: str = ""


class DeathReport(Message, frozen=True, kw_only=True):
    """A post-mortem that evolution reads to steer away from structures that died."""

    strategy_id: Ident
    cause: CauseOfDeath
    dsl: str
    born: Nanos
    died: Nanos
    backtest_sharpe: float
    live_sharpe: float
    max_drawdown: float
    trades: int
    severity: float = 1.0  # 0..1, how badly it died; scales the evolutionary penalty
    regime_at_death: str = ""
    structure: list[str] = []  # canonical subtree hashes of the genome
    notes: str = ""
