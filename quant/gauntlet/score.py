"""The live-trading readiness score, 0–100, reported beside the gates.

Weights (the user's): performance 35 (Sharpe 15, return 10, win rate 10), risk 30 (max drawdown
15, monthly consistency 10, recovery time 5), execution 20 (signal frequency 10, latency 5,
slippage 5), robustness 15 (out-of-sample 7, cross-market 8).

Each part earns its points on a linear ramp between a level worth nothing and a level worth all
of them. Performance and risk are measured on the history the search never saw (out-of-sample
and walk-forward together). Levels that depend on the bar interval are stated in time (days,
years), so a 1m and a 1d strategy are judged alike:
- Sharpe annualised 0 → 3; return: CAGR 0 → 50 %/yr; win rate 35 % → 60 %.
- max drawdown 25 % → 5 %; consistency: share of positive calendar months 40 % → 80 %;
  recovery: longest time under water 90 → 7 days.
- signal frequency: full points between 20 trades a year (enough to measure) and one trade per
  three bars (slow enough to execute at the interval), falling to 0 at 2 a year and at one
  trade per bar; latency: Sharpe kept when every decision fills one bar later; slippage: Sharpe
  kept when fees and slippage are multiplied by the stress factor.
- out-of-sample: OOS Sharpe / IS Sharpe; cross-market: median Sharpe on the other markets 0 → 2
  (0 points when there are none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WEIGHTS = {
    "performance.sharpe": 15.0,
    "performance.return": 10.0,
    "performance.win_rate": 10.0,
    "risk.max_drawdown": 15.0,
    "risk.monthly_consistency": 10.0,
    "risk.recovery_time": 5.0,
    "execution.signal_frequency": 10.0,
    "execution.latency": 5.0,
    "execution.slippage": 5.0,
    "robustness.out_of_sample": 7.0,
    "robustness.cross_market": 8.0,
}


def ramp(x: float, zero: float, full: float) -> float:
    """0 at `zero`, 1 at `full` (either direction), linear between, clipped; NaN counts 0."""
    if not math.isfinite(x):
        return 0.0
    f = (x - zero) / (full - zero)
    return min(1.0, max(0.0, f))


def kept(stressed: float, base: float) -> float:
    """Share of a positive Sharpe kept under stress, in [0, 1]."""
    if not (math.isfinite(base) and base > 0 and math.isfinite(stressed)):
        return 0.0
    return min(1.0, max(0.0, stressed / base))


@dataclass(frozen=True)
class ScoreInputs:
    sharpe: float  # annualised, unseen history
    cagr: float  # fraction per year
    win_rate: float  # fraction of trades
    max_drawdown: float  # positive fraction
    positive_month_share: float  # fraction of calendar months with a gain
    longest_underwater_days: float
    trades_per_year: float
    bars_per_trade: float
    latency_sharpe: float  # annualised, decisions filled one bar late
    stressed_sharpe: float  # annualised, costs × stress factor
    in_sample_sharpe: float
    out_of_sample_sharpe: float
    cross_market_sharpe: float  # median over other markets; NaN when none


def frequency_fit(trades_per_year: float, bars_per_trade: float) -> float:
    if not (math.isfinite(trades_per_year) and trades_per_year > 0):
        return 0.0
    enough = ramp(trades_per_year, 2.0, 20.0)
    slow = ramp(bars_per_trade, 1.0, 3.0) if math.isfinite(bars_per_trade) else 1.0
    return min(enough, slow)


def readiness_score(s: ScoreInputs) -> tuple[float, dict[str, float]]:
    """(score 0–100, points per part and per group)."""
    frac = {
        "performance.sharpe": ramp(s.sharpe, 0.0, 3.0),
        "performance.return": ramp(s.cagr, 0.0, 0.5),
        "performance.win_rate": ramp(s.win_rate, 0.35, 0.60),
        "risk.max_drawdown": ramp(s.max_drawdown, 0.25, 0.05),
        "risk.monthly_consistency": ramp(s.positive_month_share, 0.40, 0.80),
        "risk.recovery_time": ramp(s.longest_underwater_days, 90.0, 7.0),
        "execution.signal_frequency": frequency_fit(s.trades_per_year, s.bars_per_trade),
        "execution.latency": kept(s.latency_sharpe, s.sharpe),
        "execution.slippage": kept(s.stressed_sharpe, s.sharpe),
        "robustness.out_of_sample": kept(s.out_of_sample_sharpe, s.in_sample_sharpe),
        "robustness.cross_market": ramp(s.cross_market_sharpe, 0.0, 2.0),
    }
    points = {k: round(WEIGHTS[k] * v, 3) for k, v in frac.items()}
    groups: dict[str, float] = {}
    for k, v in points.items():
        g = k.split(".")[0]
        groups[g] = round(groups.get(g, 0.0) + v, 3)
    total = round(sum(points.values()), 2)
    return total, {**groups, **points}
