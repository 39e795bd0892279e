"""One canonical example of every message type: the source of the golden wire fixtures."""

from __future__ import annotations

from decimal import Decimal

from schemas import *  # noqa: F403
from schemas import BookLevel, DenyReason, GateResult, PerformanceMetrics, StageResult, StrategyWeight
from schemas import BarRange, Flag, Flags, GenomeEvaluation, GenomeText, Origin, StageChange
from schemas import StrategyLimits, ValidationSummary

T0 = 1_763_712_000_000_000_000  # 2025-11-21T08:00:00Z in ns
D = Decimal

METRICS = PerformanceMetrics(
    sharpe=2.4, total_return=0.31, cagr=0.18, volatility=0.12, sortino=3.1, calmar=1.9,
    max_drawdown=0.07, max_drawdown_bars=120, win_rate=0.52, profit_factor=1.6,
    expectancy=0.004, trades=140, trades_per_day=0.8, exposure=0.45, turnover=2.1, bars=6000,
)

EXAMPLES = {
    "Candle": Candle(ts_event=T0, ts_init=T0 + 5, coin="BTC", interval="1h", open_time=T0 - 3_600_000_000_000,
                     close_time=T0 - 1, open=60000.0, high=60550.5, low=59800.0, close=60321.0,
                     volume=1234.5, trades=8812),
    "BookSnapshot": BookSnapshot(ts_event=T0, ts_init=T0, coin="ETH",
                                 bids=[BookLevel(D("3000.5"), D("1.25"), 3)],
                                 asks=[BookLevel(D("3001"), D("0.5"), 1)]),
    "Trade": Trade(ts_event=T0, ts_init=T0, coin="BTC", side="sell", price=D("60000.5"),
                   size=D("0.015"), trade_id=991),
    "AssetContext": AssetContext(ts_event=T0, ts_init=T0, coin="BTC", mark_price=D("60010"),
                                 oracle_price=D("60005.5"), mid_price=D("60009.5"),
                                 funding_rate=0.0000125, open_interest=12000.5, premium=0.0001,
                                 day_notional_volume=1.5e9),
    "FeedStatus": FeedStatus(ts_event=T0, ts_init=T0, stream="candle", coin="BTC", state="stale",
                             last_message_ns=T0 - 90_000_000_000, detail="no push for 90 s"),
    "StrategyCandidate": StrategyCandidate(
        ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1", algorithm_type="gp", generation=12,
        genome_hash="3fa9c2d1" + "0" * 56,
        dsl="(strategy (long-entry (cross-above (sma close 10) (sma close 50))))",
        coin="BTC", interval="1h", data_spec="store:BTC/1h", in_sample=METRICS,
        trial_count=18_000, sharpe_variance=0.0004, family="sma-cross",
        regime_affinity={"trend_up": 0.8}, parent_ids=["gp_11_aa00bb11"]),
    "EvolutionProgress": EvolutionProgress(
        ts_event=T0, ts_init=T0, run_id="run-1", generation=12, island=1, best_fitness=1.7,
        median_fitness=0.2, diversity=0.83, trials=18_000, evals_per_s=950.0,
        operator_rates={"crossover": 0.6, "mutate_uniform": 0.2}),
    "EvaluationBatch": EvaluationBatch(
        ts_event=T0, ts_init=T0, batch_id="run-1.12.3", data_spec="store:BTC/1h",
        start_ms=1_704_067_200_000, end_ms=1_735_686_000_000, data_digest="9f86d081884c7d65",
        genomes=[GenomeText(genome_hash="3fa9c2d1" + "0" * 56,
                            dsl="(strategy (long-entry (> close (sma close 50))))")]),
    "EvaluationResult": EvaluationResult(
        ts_event=T0, ts_init=T0, batch_id="run-1.12.3", worker="host-a:4242",
        results=[GenomeEvaluation(genome_hash="3fa9c2d1" + "0" * 56, metrics=METRICS,
                                  sharpe_per_bar=0.025, regime_sharpe={"trend_up": 3.1},
                                  segment_sharpe=[2.2, 2.6, 2.4])],
        elapsed_s=0.42),
    "ValidationReport": ValidationReport(
        ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1", verdict="fail",
        reasons=["deflated Sharpe 0.71 < 0.95"],
        stages=[StageResult(stage="in_sample", start=T0 - 10**15, end=T0, metrics=METRICS)],
        gates=[GateResult(gate="deflated_sharpe", value=0.71, threshold=0.95, comparator=">=",
                          passed=False, detail="N=18000")],
        score=54.5, score_breakdown={"performance": 20.0}, trial_count=18_000),
    "LifecycleEvent": LifecycleEvent(ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1",
                                     from_stage="paper", to_stage="live", reason="paper week ok"),
    "DeathReport": DeathReport(
        ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1", cause="sharpe_decay",
        dsl="(strategy)", born=T0 - 10**15, died=T0, backtest_sharpe=2.4, live_sharpe=-0.3,
        max_drawdown=0.08, trades=61, severity=0.7, regime_at_death="range",
        structure=["ab12", "cd34"], notes="decayed over 3 weeks"),
    "RegimeState": RegimeState(ts_event=T0, ts_init=T0, coin="BTC", interval="1h",
                               regime="trend_up", probabilities={"trend_up": 0.7, "range": 0.3},
                               since=T0 - 10**12, model="hmm-3"),
    "AllocationTarget": AllocationTarget(
        ts_event=T0, ts_init=T0, allocation_id="alloc-7", total_capital=D("10000"),
        weights=[StrategyWeight(strategy_id="gp_12_3fa9c2d1", weight=0.25, capital=D("2500.00"),
                                kelly_fraction=0.12, score=71.0)],
        reason="rebalance"),
    "OrderIntent": OrderIntent(
        ts_event=T0, ts_init=T0, correlation_id="c-1", intent_id="i-1",
        strategy_id="gp_12_3fa9c2d1", coin="BTC", side="buy", size=D("0.015"), kind="limit",
        limit_price=D("60123.5"), time_in_force="Gtc", reduce_only=False,
        target_position=D("0.015"), reason="long-entry"),
    "OrderApproved": OrderApproved(ts_event=T0, ts_init=T0, correlation_id="c-1", intent_id="i-1",
                                   strategy_id="gp_12_3fa9c2d1", command_id="cmd-1"),
    "OrderDenied": OrderDenied(ts_event=T0, ts_init=T0, correlation_id="c-2", intent_id="i-2",
                               strategy_id="gp_12_3fa9c2d1", reason=DenyReason.DAILY_LOSS,
                               detail="daily loss 3.1 % >= limit 3 %"),
    "SubmitOrder": SubmitOrder(
        ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-1", intent_id="i-1",
        strategy_id="gp_12_3fa9c2d1", coin="BTC", side="buy", size=D("0.015"), kind="limit",
        limit_price=D("60123.5"), time_in_force="Gtc", cloid="0x" + "0" * 31 + "7",
        max_slippage_bps=30.0),
    "CancelOrder": CancelOrder(ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-2",
                               coin="BTC", cloid="0x" + "0" * 31 + "7", strategy_id="gp_12_3fa9c2d1"),
    "OrderAccepted": OrderAccepted(ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-1",
                                   coin="BTC", cloid="0x" + "0" * 31 + "7", venue_order_id=77),
    "OrderRejected": OrderRejected(ts_event=T0, ts_init=T0, correlation_id="c-3", command_id="cmd-3",
                                   coin="BTC", cloid="0x" + "0" * 31 + "8",
                                   reason="Order must have minimum value of $10.", retryable=False),
    "OrderFilled": OrderFilled(
        ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-1", coin="BTC",
        cloid="0x" + "0" * 31 + "7", venue_order_id=77, fill_id="t-123", side="buy",
        price=D("60120"), size=D("0.015"), fee=D("0.405810"), liquidity="taker",
        closed_pnl=D("0"), strategy_id="gp_12_3fa9c2d1"),
    "OrderCanceled": OrderCanceled(ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-2",
                                   coin="BTC", cloid="0x" + "0" * 31 + "7", venue_order_id=77,
                                   reason="dead-man switch"),
    "PositionReport": PositionReport(ts_event=T0, ts_init=T0, correlation_id="reconcile-1", coin="BTC",
                                     size=D("-0.03"), entry_price=D("60100"),
                                     unrealized_pnl=D("-1.5"), margin_used=D("360.6"), leverage=5.0,
                                     account_value=D("10012.4")),
    "OrderSubmitted": OrderSubmitted(
        ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-1", coin="BTC",
        cloid="0x" + "0" * 31 + "7", strategy_id="gp_12_3fa9c2d1", account="paper",
        intent_id="i-1", side="buy", size=D("0.015"), limit_price=D("60300")),
    "OrderExpired": OrderExpired(
        ts_event=T0, ts_init=T0, correlation_id="c-1", command_id="cmd-1", coin="BTC",
        cloid="0x" + "0" * 31 + "7", reason="IOC remainder", strategy_id="gp_12_3fa9c2d1",
        account="live", filled=D("0.01")),
    "AccountReport": AccountReport(
        ts_event=T0, ts_init=T0, correlation_id="account-paper", account="paper",
        equity=D("10012.40"), margin_used=D("360.6"), total_notional=D("1803.0"),
        withdrawable=D("9651.8"), net_transfers=D("10000"), positions={"BTC": D("-0.03")}),
    "ExecutionStatus": ExecutionStatus(
        ts_event=T0, ts_init=T0, account="live", state="not_ready", reason="VPN check failed",
        vpn_ok=False, actions_left=9120, weight_used=40, dead_man_ms=1_763_712_060_000,
        open_orders=2),
    "ReconciliationEvent": ReconciliationEvent(
        ts_event=T0, ts_init=T0, correlation_id="reconcile-7", account="paper", coin="ETH",
        kind="unknown_order", detail="open order 0.5 ETH @ 2900 not sent by the organism",
        venue_order_id=991, size=D("0.5")),
    "DeactivationRequested": DeactivationRequested(
        ts_event=T0, ts_init=T0, correlation_id="deactivate-gp_12_3fa9c2d1",
        strategy_id="gp_12_3fa9c2d1", account="paper", drawdown=0.16, limit=0.15,
        validated_max_drawdown=0.075, reason="drawdown 16.0 % >= 2 x validated 7.5 %"),
    "FlattenRequested": FlattenRequested(
        ts_event=T0, ts_init=T0, correlation_id="flatten-1", account="live", by="risk",
        reason="max drawdown 10.2 % from the high-water mark"),
    "RegistryEntry": RegistryEntry(
        ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1",
        dsl="(strategy (long-entry (cross-above (sma close 10) (sma close 50))))",
        coin="BTC", interval="1h", stage="paper", account="paper", stage_since=T0,
        history=[StageChange(stage="validated", at=T0 - 10**9, reason="passed the gauntlet",
                             by="validation"),
                 StageChange(stage="paper", at=T0, reason="paper trading begins",
                             by="validation")],
        flags=Flags(paused=Flag(reason="operator look", at=T0, by="operator")),
        validation=ValidationSummary(
            in_sample_sharpe=2.6, out_of_sample_sharpe=2.2, walk_forward_sharpe=2.1,
            max_drawdown=0.075, trades_per_day=0.8, deflated_sharpe=0.97, pbo=0.1, score=71.0,
            trade_returns=[0.01, -0.004, 0.02],
            searched=BarRange(start=T0 - 10**15, end=T0 - 4 * 10**14, bars=6000),
            validated=BarRange(start=T0 - 3 * 10**14, end=T0 - 10**12, bars=3900),
            data_spec="store:BTC/1h", verdict_at=T0 - 10**9),
        origin=Origin(kind="evolved", trial_count=18_000, algorithm="gp", generation=12,
                      genome_hash="3fa9c2d1" + "0" * 56),
        limits=StrategyLimits(max_notional_usd=D("2500"))),
    "StrategyControl": StrategyControl(ts_event=T0, ts_init=T0, strategy_id="gp_12_3fa9c2d1",
                                       action="flatten", operator="alice", reason="news"),
    "Heartbeat": Heartbeat(ts_event=T0, ts_init=T0, agent="risk", instance="host:42", pid=42,
                           started=T0 - 10**10, uptime_s=10.0, messages_in={"order.intent": 3},
                           messages_out={"exec.cmd": 2}, dead_letters=1, errors=0,
                           state="running", metrics_port=9408, version="0.1.0"),
    "DeadLetter": DeadLetter(ts_event=T0, ts_init=T0, agent="risk", subject="order.intent.x",
                             reason="DecodeError: JSON is malformed", payload=b"\x00garbage",
                             headers={"Nats-Msg-Id": "abc"}),
    "ClockTick": ClockTick(ts_event=T0, ts_init=T0, now=T0, source="replay", speed=3600.0),
    "KillSwitch": KillSwitch(ts_event=T0, ts_init=T0, operator="alice", reason="exchange outage",
                             flatten=True),
    "ResumeTrading": ResumeTrading(ts_event=T0, ts_init=T0, operator="alice", reason="resolved"),
    "TradingStateChanged": TradingStateChanged(ts_event=T0, ts_init=T0, state="HALTED",
                                               previous="ACTIVE", reason="daily loss 3.1 %",
                                               breaker="daily_loss"),
    "WarehouseQuery": WarehouseQuery(ts_event=T0, ts_init=T0,
                                     sql="SELECT coin, count(*) FROM candles GROUP BY coin",
                                     max_rows=100),
    "WarehouseResult": WarehouseResult(ts_event=T0, ts_init=T0, columns=["coin", "n"],
                                       types=["VARCHAR", "BIGINT"], rows=[["BTC", 120], ["ETH", 118]],
                                       truncated=False, elapsed_ms=3.2),
}
