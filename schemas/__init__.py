"""The wire contract: every message type on the bus, and the union that decodes any of them.

Add a new message type to its domain module and to ALL_MESSAGES below, then add a golden wire
fixture (tests/schemas/golden/) so it stays decodable forever.
"""

from __future__ import annotations

from typing import Union

from schemas.allocation import AllocationTarget, StrategyWeight
from schemas.base import Message, OrderPathMessage
from schemas.evaluation import EvaluationBatch, EvaluationResult, GenomeEvaluation, GenomeText
from schemas.evolution import BarRange, EvolutionProgress, PerformanceMetrics, StrategyCandidate
from schemas.lifecycle import DeathReport, LifecycleEvent
from schemas.market import AssetContext, BookLevel, BookSnapshot, Candle, FeedStatus, Trade
from schemas.orders import (
    ACCOUNTS,
    OPERATOR,
    Account,
    AccountReport,
    CancelOrder,
    DeactivationRequested,
    DenyReason,
    ExecutionStatus,
    FlattenRequested,
    OrderAccepted,
    OrderApproved,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    OrderSubmitted,
    PositionReport,
    ReconciliationEvent,
    SubmitOrder,
    cloid_for,
)
from schemas.registry import (
    Flag,
    Flags,
    Origin,
    RegistryEntry,
    StageChange,
    StrategyLimits,
    ValidationSummary,
)
from schemas.regime import RegimeState
from schemas.system import (
    ClockTick,
    DeadLetter,
    Heartbeat,
    KillSwitch,
    ResumeTrading,
    StrategyControl,
    TradingStateChanged,
    WarehouseQuery,
    WarehouseResult,
)
from schemas.validation import GateResult, StageResult, ValidationReport

ALL_MESSAGES: tuple[type[Message], ...] = (
    Candle,
    BookSnapshot,
    Trade,
    AssetContext,
    FeedStatus,
    StrategyCandidate,
    EvolutionProgress,
    EvaluationBatch,
    EvaluationResult,
    ValidationReport,
    LifecycleEvent,
    DeathReport,
    RegimeState,
    AllocationTarget,
    OrderIntent,
    OrderApproved,
    OrderDenied,
    SubmitOrder,
    CancelOrder,
    OrderAccepted,
    OrderRejected,
    OrderFilled,
    OrderCanceled,
    PositionReport,
    OrderSubmitted,
    OrderExpired,
    AccountReport,
    ExecutionStatus,
    ReconciliationEvent,
    DeactivationRequested,
    FlattenRequested,
    RegistryEntry,
    StrategyControl,
    Heartbeat,
    DeadLetter,
    ClockTick,
    KillSwitch,
    ResumeTrading,
    TradingStateChanged,
    WarehouseQuery,
    WarehouseResult,
)

AnyMessage = Union[ALL_MESSAGES]  # type: ignore[valid-type]
RiskDecision = Union[OrderApproved, OrderDenied]
ExecutionCommand = Union[SubmitOrder, CancelOrder]
ExecutionEvent = Union[
    OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, OrderExpired,
    ReconciliationEvent,
]

BY_TAG: dict[str, type[Message]] = {cls.__name__: cls for cls in ALL_MESSAGES}

__all__ = [cls.__name__ for cls in ALL_MESSAGES] + [
    "ACCOUNTS",
    "cloid_for",
    "Account",
    "ALL_MESSAGES",
    "BarRange",
    "Flag",
    "Flags",
    "OPERATOR",
    "Origin",
    "StageChange",
    "StrategyLimits",
    "ValidationSummary",
    "AnyMessage",
    "BY_TAG",
    "BookLevel",
    "DenyReason",
    "ExecutionCommand",
    "ExecutionEvent",
    "GenomeEvaluation",
    "GenomeText",
    "GateResult",
    "Message",
    "OrderPathMessage",
    "PerformanceMetrics",
    "RiskDecision",
    "StageResult",
    "StrategyWeight",
]
