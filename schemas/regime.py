"""Market regimes (`regime.state.{coin}`)."""

from __future__ import annotations

from schemas.base import Ident, Message, Nanos


class RegimeState(Message, frozen=True, kw_only=True):
    coin: Ident
    interval: str
    regime: str  # e.g. "trend_up", "trend_down", "range", "high_vol"
    probabilities: dict[str, float] = {}
    since: Nanos = 0
    model: str = ""
