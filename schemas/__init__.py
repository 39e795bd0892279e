"""The wire contract: every message type on the bus, and the union that decodes any of them.

Add a new message type to its domain module and to ALL_MESSAGES below, then add a golden wire
fixture (tests/schemas/golden/) so it stays decodable forever.
"""

from __future__ import annotations

from typing import Union

from schemas.allocation import AllocationTarget, StrategyWeight
from schemas.base import Message, OrderPathMessage
from schemas.evaluation import EvaluationBatch, EvaluationResult, GenomeEvaluation, GenomeText
from schemas.evolution import EvolutionProgress, PerformanceMetrics, StrategyCandidate
from schemas.lifecycle import DeathReport, LifecycleEvent
from schemas.market import AssetContext, BookLevel, BookSnapshot, Candle, FeedStatus, Trade
from schemas.orders import (
    CancelOrder,
    DenyReason,
    OrderAccepted,
    OrderApproved,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderIntent,
    OrderRejected,
    PositionReport,
    SubmitOrder,
)
from schemas.regime import RegimeState
from schemas.system import (
    ClockTick,
    DeadLetter,
    Heartbeat,
    KillSwitch,
    ResumeTrading,
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
ExecutionEvent = Union[OrderAccepted, OrderRejected, OrderFilled, OrderCanceled]

BY_TAG: dict[str, type[Message]] = {cls.__name__: cls for cls in ALL_MESSAGES}

__all__ = [cls.__name__ for cls in ALL_MESSAGES] + [
    "ALL_MESSAGES",
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
    "RiskDecision",
    "StageResult",
    "StrategyWeight",
]
