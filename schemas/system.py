"""System messages: heartbeats, dead letters, the clock, operator controls, trading state."""

from __future__ import annotations

from typing import Literal

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


class ResumeTrading(Message, frozen=True, kw_only=True):
    """Operator command: leave HALTED (`ctl.resume`)."""

    operator: str
    reason: str


TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]


class TradingStateChanged(Message, frozen=True, kw_only=True):
    """Risk's trading state is itself an event (`risk.state`)."""

    state: TradingStateName
    previous: TradingStateName | None = None
    reason: str
    breaker: str = ""  # which breaker tripped, if any
