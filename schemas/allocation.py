"""Capital allocation among live strategies (`alloc.target`)."""

from __future__ import annotations

from schemas.base import Checked, Ident, Message, Money


class StrategyWeight(Checked, frozen=True, kw_only=True):
    strategy_id: Ident
    weight: float  # fraction of capital, 0..0.4
    capital: Money  # USD, exact
    kelly_fraction: float = 0.0
    score: float = 0.0


class AllocationTarget(Message, frozen=True, kw_only=True):
    allocation_id: Ident
    total_capital: Money
    weights: list[StrategyWeight]
    reason: str = ""
