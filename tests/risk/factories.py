"""Building risk's state and messages for tests: a ready account with equity, a price, and a
strategy in the registry, changed only where a test says so."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import msgspec

from agents.risk import engine
from agents.risk.book import Now, RiskState
from agents.risk.config import RiskSection
from schemas import (
    AccountReport,
    AssetContext,
    ExecutionStatus,
    Heartbeat,
    OrderIntent,
    RegistryEntry,
    ValidationSummary,
)

T0 = 1_763_712_000_000_000_000  # 2025-11-21T08:00:00Z
NOW = Now(clock=T0, wall=T0)
SID = "gp_1_abcdef12"


def entry(strategy_id: str = SID, *, coin: str = "BTC", stage: str = "paper",
          account: str = "paper", max_drawdown: float = 0.05, **fields) -> RegistryEntry:
    return RegistryEntry(
        ts_event=T0, ts_init=T0, strategy_id=strategy_id, dsl="(strategy)", coin=coin,
        interval="1h", stage=stage, account=account, stage_since=T0,  # type: ignore[arg-type]
        validation=ValidationSummary(in_sample_sharpe=2.5, out_of_sample_sharpe=2.1,
                                     walk_forward_sharpe=2.2, max_drawdown=max_drawdown,
                                     trades_per_day=1.5),
        **fields)


def status(account: str = "paper", state: str = "ready", **kw) -> ExecutionStatus:
    return ExecutionStatus(ts_event=T0, ts_init=T0, account=account, state=state, **kw)  # type: ignore[arg-type]


def heartbeat(agent: str, state: str = "running", t: int = T0) -> Heartbeat:
    return Heartbeat(ts_event=t, ts_init=t, agent=agent, instance="test:1", pid=1, started=T0,
                     uptime_s=1.0, state=state)  # type: ignore[arg-type]


def account_report(account: str = "paper", equity: str = "10000", transfers: str = "10000",
                   positions: dict[str, str] | None = None, t: int = T0) -> AccountReport:
    return AccountReport(ts_event=t, ts_init=t, correlation_id=f"account-{account}",
                         account=account, equity=D(equity), net_transfers=D(transfers),  # type: ignore[arg-type]
                         positions={c: D(q) for c, q in (positions or {}).items()})


def ctx(coin: str = "BTC", mark: str = "60000", volume: float = 0.0, t: int = T0) -> AssetContext:
    return AssetContext(ts_event=t, ts_init=t, coin=coin, mark_price=D(mark),
                        oracle_price=D(mark), day_notional_volume=volume)


def intent(size: str = "0.01", side: str = "buy", *, coin: str = "BTC", strategy_id: str = SID,
           account: str = "paper", intent_id: str = "i-1", t: int = T0, **fields) -> OrderIntent:
    return OrderIntent(ts_event=t, ts_init=t, correlation_id=intent_id, intent_id=intent_id,
                       strategy_id=strategy_id, coin=coin, side=side, size=D(size),  # type: ignore[arg-type]
                       account=account, **fields)  # type: ignore[arg-type]


def ready_state(*, equity: str = "10000", marks: dict[str, str] | None = None,
                registry: list[RegistryEntry] | None = None, now: Now = NOW,
                positions: dict[str, str] | None = None, **config) -> RiskState:
    """Both accounts ready with `equity`, prices for BTC (60000) and ETH (3000), one strategy
    (SID, BTC, paper) in the registry, every heartbeat just heard."""
    cfg = RiskSection(**config)
    state = RiskState(config=cfg, started_wall=now.wall,
                      registry={e.strategy_id: e for e in (registry or [entry()])})
    for account in ("paper", "live"):
        state = engine.on_status(state, status(account), now)
        state = engine.on_heartbeat(state, heartbeat(f"execution_{account}"), now)
        state, _ = engine.on_exec(state, account_report(account, equity, equity,
                                                        positions if account == "paper" else None),
                                  0, now)
    state = engine.on_heartbeat(state, heartbeat("market_data"), now)
    for coin, mark in (marks or {"BTC": "60000", "ETH": "3000"}).items():
        state = engine.on_market(state, ctx(coin, mark), now)
    return state


def with_config(state: RiskState, **config) -> RiskState:
    return dataclasses.replace(state, config=msgspec.structs.replace(state.config, **config))
