"""The strategy registry's value (JetStream KV `registry`, one key per strategy id).

The one contract the trader, risk, lifecycle, allocation and the dashboard share: each strategy's
DSL, market, stage, account, flags and validated figures. Each kind of change has one writer
(bus/registry.py says who); every write is a compare-and-set on the KV revision.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.base import Ident, Message, Money, Nanos
from schemas.evolution import BarRange
from schemas.lifecycle import DeathReport, Stage
from schemas.market import Interval
from schemas.orders import Account

Writer = Literal["validation", "lifecycle", "operator", "risk", "trader"]


class StageChange(msgspec.Struct, frozen=True, kw_only=True):
    """One move in a strategy's life, with the reason a person can read."""

    stage: Stage
    at: Nanos
    reason: str
    by: str  # who wrote it: validation, lifecycle, operator


class Flag(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    at: Nanos
    by: str


class Flags(msgspec.Struct, frozen=True, kw_only=True):
    paused: Flag | None = None  # the trader sends nothing for it (operator or lifecycle)
    decaying: Flag | None = None  # live figures drifting from the backtest (lifecycle)
    deactivated: Flag | None = None  # risk asked, lifecycle set it: no new exposure


class ValidationSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What the gauntlet measured. Sharpe ratios annualised; drawdowns positive fractions."""

    in_sample_sharpe: float
    out_of_sample_sharpe: float
    walk_forward_sharpe: float
    max_drawdown: float  # the worst stage's
    trades_per_day: float
    deflated_sharpe: float = 0.0
    pbo: float = 0.0
    score: float = 0.0  # readiness 0-100
    # per-trade returns (fractions) out of sample and in the walk-forward, oldest first:
    # the distribution that decay tests compare live trading with
    trade_returns: list[float] = []
    searched: BarRange | None = None  # the in-sample bars evolution searched
    validated: BarRange | None = None  # the out-of-sample and walk-forward bars
    data_spec: str = ""
    verdict_at: Nanos = 0


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["evolved", "user"]
    trial_count: int = 1  # distinct strategies tried on the data it was chosen on
    algorithm: str = ""  # "gp", "template", "user"
    generation: int = 0
    genome_hash: str = ""
    skipped_validation: bool = False  # a user's strategy added with --skip-validation
    added_by: str = ""


class StrategyLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Per-strategy overrides of risk's and execution's defaults; None = the configured one."""

    max_notional_usd: Money | None = None
    max_trades_per_day: int | None = None
    post_only_s: float = 0.0  # rest post-only this long first, then IOC


class RegistryEntry(Message, frozen=True, kw_only=True):
    """One strategy. `ts_event` is the time of the last change."""

    strategy_id: Ident
    dsl: str
    coin: Ident
    interval: Interval
    stage: Stage
    account: Account  # the account its stage trades: paper for validated and paper, live for live
    stage_since: Nanos
    history: list[StageChange] = []
    flags: Flags = Flags()
    validation: ValidationSummary | None = None
    origin: Origin = Origin(kind="evolved")
    limits: StrategyLimits = StrategyLimits()
    death: DeathReport | None = None  # set when it retires
