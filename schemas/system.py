"""System messages: heartbeats, dead letters, the clock, operator controls, trading state."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

from schemas.base import Ident, Message, Nanos


class Heartbeat(Message, frozen=True, kw_only=True):
    """Published by every agent on `sys.heartbeat.{agent}`; risk halts when one goes silent."""

    agent: Ident
    instance: str  # host:pid, tells replicas apart
    pid: int
    started: Nanos
    uptime_s: float
    messages_in: dict[str, int] = {}  # per subject family, e.g. {"md.candle": 120}
    messages_out: dict[str, int] = {}
    dead_letters: int = 0
    errors: int = 0
    state: Literal["starting", "running", "draining"] = "running"
    metrics_port: int = 0
    version: str = ""


class DeadLetter(Message, frozen=True, kw_only=True):
    """A message an agent could not decode or validate, kept so nothing is silently lost."""

    agent: Ident
    subject: str
    reason: str
    payload: bytes  # the original bytes, base64 in JSON
    headers: dict[str, str] = {}


class ClockTick(Message, frozen=True, kw_only=True):
    """The replay clock: agents in replay mode take `now` from here (`sys.clock`)."""

    now: Nanos
    source: Literal["wall", "replay"] = "replay"
    speed: float = 1.0


class KillSwitch(Message, frozen=True, kw_only=True):
    """Operator command: halt trading now (`ctl.kill`)."""

    operator: str
    reason: str
    flatten: bool = False  # also close open positions
    account: Literal["paper", "live", "all"] = "all"


class ResumeTrading(Message, frozen=True, kw_only=True):
    """Operator command: leave HALTED (`ctl.resume`)."""

    operator: str
    reason: str
    account: Literal["paper", "live", "all"] = "all"


TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]


class TradingStateChanged(Message, frozen=True, kw_only=True):
    """Risk's trading state is itself an event (`risk.state`)."""

    state: TradingStateName
    previous: TradingStateName | None = None
    reason: str
    breaker: str = ""  # which breaker tripped, if any
    account: Literal["paper", "live"] = "paper"
    until: Nanos = 0  # a halt that lifts by itself (the daily-loss halt at the next day); 0 = no
    flatten: bool = False  # positions are being closed


class StrategyControl(Message, frozen=True, kw_only=True):
    """Operator command about one strategy (`ctl.strategy.{strategy_id}`): the registry holds the
    `paused` flag; this tells the trader to act now (a flatten closes its virtual position
    through risk like any intent)."""

    strategy_id: Ident
    action: Literal["pause", "resume", "flatten"]
    operator: str
    reason: str = ""


Cell = Union[bool, int, float, str, None]


class WarehouseQuery(Message, frozen=True, kw_only=True):
    """A read-only SQL query for the recorder's DuckDB warehouse (`sys.warehouse.query`,
    request/reply): the file is the recorder's while it runs, so questions go through it."""

    sql: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    max_rows: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000


class WarehouseResult(Message, frozen=True, kw_only=True):
    """The answer: column names and DuckDB types, rows (numbers, text, booleans and nulls;
    DECIMAL, timestamps and nested values as text), whether more rows existed, or an error that
    says what to fix."""

    columns: list[str] = []
    types: list[str] = []
    rows: list[list[Cell]] = []
    truncated: bool = False
    error: str = ""
    elapsed_ms: float = 0.0
