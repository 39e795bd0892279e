"""Seeded synthetic markets: the organism's laboratory for telling an edge from luck.

Three modes, one generator:
- `noise`: no predictable mean. GARCH(1,1) volatility clustering, a hidden Markov chain of
  volatility regimes (calm, normal, high_vol), zero-mean jumps. Any strategy that "works" here
  is luck; the honest-discovery benchmark counts how often the organism is fooled.
- `edge`: the same noise plus a weak planted edge that a rule in the strategy grammar captures:
  the next bar's expected return is +mu when close > SMA(close, N) and -mu otherwise. `mu` is
  set so the oracle rule (long above the SMA, short below) earns the requested annualised
  Sharpe through the real backtest: next-open fills, taker fee and slippage on every fill, the
  market's funding. The realised oracle Sharpe is reported.
- `regimes`: trend-up, trend-down, range (mean-reverting) and high-volatility regimes with
  their own drifts, for exercising regime detection (predictable in part, by design).

Every bar is built from a finer path (`substeps` steps): open = previous close (the path is
continuous, so a fill at the next open happens at this close), high/low are the path's extremes.
Funding is an hourly rate with a small persistent premium, accrued per bar.
Pure: numpy and numba only, no files, no clock.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from quant.data import SECONDS_PER_YEAR, Dataset, interval_seconds

MODES = ("noise", "edge", "regimes")
REGIME_NAMES = {
    "noise": ("calm", "normal", "high_vol"),
    "edge": ("calm", "normal", "high_vol"),
    "regimes": ("trend_up", "trend_down", "range", "high_vol"),
}
DEFAULT_TAKER_BPS = 4.5


@dataclass(frozen=True)
class SynthSpec:
    """Parameters of a synthetic market. Volatility is annualised; edge is an annual Sharpe."""

    seed: int = 0
    bars: int = 5000
    interval: str = "1h"
    mode: str = "noise"
    edge: float = 0.0  # target oracle Sharpe after costs (mode "edge")
    edge_window: int = 50  # N of the planted rule's SMA
    annual_vol: float = 0.6
    start_price: float = 30_000.0
    start_ms: int = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    substeps: int = 12
    jump_rate: float = 0.002  # expected jumps per bar
    jump_scale: float = 4.0  # jump size in units of the bar's volatility
    fee_bps: float = DEFAULT_TAKER_BPS  # cost the oracle pays per unit of position change

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"synthetic mode {self.mode!r} unknown; use one of {', '.join(MODES)}")
        if self.bars < 2:
            raise ValueError("synthetic markets need bars >= 2")
        if self.mode == "edge" and self.edge <= 0:
            raise ValueError("mode 'edge' needs edge > 0 (the oracle's annual Sharpe after costs)")
        if self.edge_window < 2 or self.substeps < 1 or self.annual_vol <= 0:
            raise ValueError("edge_window >= 2, substeps >= 1 and annual_vol > 0 are required")
        interval_seconds(self.interval)


@dataclass(frozen=True, eq=False)
class SyntheticMarket:
    dataset: Dataset
    spec: SynthSpec
    regimes: np.ndarray  # int8 regime index per bar
    regime_names: tuple[str, ...]
    oracle_sharpe: float  # realised annual Sharpe of the oracle rule after costs (nan if none)
    oracle_dsl: str  # the rule that captures the planted edge ("" when there is none)

    def regime_labels(self) -> list[str]:
        return [self.regime_names[i] for i in self.regimes]


# Regime chains: per-bar transition matrices (rows sum to 1) with long expected durations.
def _transition(n: int, stay: float) -> np.ndarray:
    m = np.full((n, n), (1.0 - stay) / (n - 1))
    np.fill_diagonal(m, stay)
    return m


_VOL_MULT = {
    "noise": np.array([0.6, 1.0, 2.2]),
    "edge": np.array([0.6, 1.0, 2.2]),
    "regimes": np.array([0.9, 1.0, 0.7, 2.2]),
}
# Drift per bar in units of the bar's base volatility (only the "regimes" mode has any).
_DRIFT = {"noise": np.zeros(3), "edge": np.zeros(3), "regimes": np.array([0.08, -0.08, 0.0, 0.0])}
_MEAN_REVERT = {"noise": np.zeros(3), "edge": np.zeros(3), "regimes": np.array([0.0, 0.0, 0.05, 0.0])}


@njit(cache=True)
def _path_nb(
    shocks, sub_shocks, jump_u, jump_z, regime_u, trans_cum, vol_mult, drift,
    mean_revert, sigma_bar, mu_edge, edge_window, jump_rate, jump_scale, start_price, substeps,
):
    n = shocks.shape[0]
    k = len(vol_mult)
    open_ = np.empty(n)
    high = np.empty(n)
    low = np.empty(n)
    close = np.empty(n)
    regimes = np.empty(n, np.int8)
    signal = np.zeros(n)  # the planted rule's state at each close: +1 above the SMA, -1 below
    # GARCH(1,1) on standardised shocks: long-run variance 1, persistence 0.97
    omega, alpha, beta = 0.03, 0.07, 0.90
    h = 1.0
    state = 1 if k > 1 else 0
    log_p = math.log(start_price)
    anchor = log_p
    window_sum = 0.0
    closes_log = np.empty(n)
    prev_z = 0.0
    for t in range(n):
        # regime transition
        u = regime_u[t]
        nxt = 0
        while nxt < k - 1 and u > trans_cum[state, nxt]:
            nxt += 1
        state = nxt
        regimes[t] = state
        h = omega + alpha * prev_z * prev_z + beta * h
        sd = sigma_bar * vol_mult[state] * math.sqrt(h)
        # expected log return of this bar: planted edge decided at the previous close, regime
        # drift, mean reversion toward a slow anchor in range regimes
        mu = drift[state] * sigma_bar
        if t > 0:
            mu += mu_edge * signal[t - 1]
            mu -= mean_revert[state] * (closes_log[t - 1] - anchor)
        z = shocks[t]
        prev_z = z
        total = mu + sd * z
        if jump_u[t] < jump_rate:
            total += jump_scale * sd * jump_z[t]
        # finer path: a Brownian bridge from o to o + total with the bar's volatility, so the
        # close is exact and high/low are the extremes of a plausible intra-bar path
        o = log_p
        hi = o
        lo = o
        step = sd / math.sqrt(substeps)
        end_noise = 0.0
        for s in range(substeps):
            end_noise += step * sub_shocks[t, s]
        acc = 0.0
        for s in range(substeps):
            acc += step * sub_shocks[t, s]
            frac = (s + 1) / substeps
            level = o + frac * total + acc - frac * end_noise
            if level > hi:
                hi = level
            if level < lo:
                lo = level
        log_p = o + total
        hi = max(hi, log_p)  # the bridge's last level and o + total may differ by an ulp
        lo = min(lo, log_p)
        open_[t] = math.exp(o)
        close[t] = math.exp(log_p)
        high[t] = math.exp(hi)
        low[t] = math.exp(lo)
        closes_log[t] = log_p
        anchor += 0.01 * (log_p - anchor)
        # the planted rule: close vs SMA(close, edge_window) at this close
        window_sum += close[t]
        if t >= edge_window:
            window_sum -= close[t - edge_window]
        if t >= edge_window - 1:
            sma = window_sum / edge_window
            signal[t] = 1.0 if close[t] > sma else -1.0
    return open_, high, low, close, regimes, signal


def _build(spec: SynthSpec, mu_edge: float):
    """The price path, regimes and planted-rule states; deterministic in (spec, mu_edge)."""
    rng = np.random.default_rng([spec.seed, 0])
    n = spec.bars
    k = len(REGIME_NAMES[spec.mode])
    sec = interval_seconds(spec.interval)
    bars_per_year = SECONDS_PER_YEAR / sec
    sigma_bar = spec.annual_vol / math.sqrt(bars_per_year)
    # expected regime duration: about 10 days of bars, at least 20 bars
    stay = 1.0 - 1.0 / max(20.0, 10 * 86400 / sec)
    trans_cum = np.cumsum(_transition(k, stay), axis=1)
    shocks = rng.standard_normal(n)
    sub_shocks = rng.standard_normal((n, spec.substeps))
    jump_u = rng.random(n)
    jump_z = rng.standard_normal(n)
    regime_u = rng.random(n)
    # normalised so the average variance over regimes is the spec's (regimes are equally likely)
    vol_mult = _VOL_MULT[spec.mode] / math.sqrt(np.mean(_VOL_MULT[spec.mode] ** 2))
    return _path_nb(
        shocks, sub_shocks, jump_u, jump_z, regime_u, trans_cum, vol_mult, _DRIFT[spec.mode],
        _MEAN_REVERT[spec.mode], sigma_bar, mu_edge, spec.edge_window, spec.jump_rate,
        spec.jump_scale, spec.start_price, spec.substeps,
    )


def _annual_sharpe(r: np.ndarray, bars_per_year: float) -> float:
    sd = r.std(ddof=1)
    return float(r.mean() / sd * math.sqrt(bars_per_year)) if sd > 0 else float("nan")


def generate(spec: SynthSpec) -> SyntheticMarket:
    """Build the market described by `spec`; the same spec gives the same bytes."""
    mu_edge = calibrated_edge_mu(spec) if spec.mode == "edge" else 0.0
    dataset, reg, _ = _market(spec, mu_edge)
    names = REGIME_NAMES[spec.mode]
    oracle_sharpe, oracle_dsl = float("nan"), ""
    if spec.mode == "edge":
        oracle_dsl = oracle_rule(spec.edge_window)
        oracle_sharpe = _annual_sharpe(_oracle_returns(dataset, spec), dataset.bars_per_year)
    return SyntheticMarket(dataset, spec, reg, names, oracle_sharpe, oracle_dsl)


def _market(spec: SynthSpec, mu_edge: float) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """The dataset (prices, volume, funding), regimes and planted-rule states."""
    n = spec.bars
    sec = interval_seconds(spec.interval)
    bars_per_year = SECONDS_PER_YEAR / sec
    sigma_bar = spec.annual_vol / math.sqrt(bars_per_year)
    rng = np.random.default_rng([spec.seed, 1])  # volume and funding draws
    o, h, l, c, reg, sig = _build(spec, mu_edge)

    volume = rng.lognormal(3.0, 0.5, n)
    rets = np.r_[0.0, np.diff(np.log(c))]
    volume *= 1.0 + 3.0 * np.abs(rets) / sigma_bar
    # hourly funding: 0.01 % per 8 h base plus a persistent premium that follows the trend, with
    # a spread of about 2e-5 an hour (the size of real perpetuals' funding swings)
    hours = sec / 3600.0
    premium = np.zeros(n)
    noise = rng.standard_normal(n) * 0.000001
    for t in range(1, n):
        premium[t] = 0.97 * premium[t - 1] + 0.001 * rets[t] + noise[t]
    hourly = np.clip(0.0000125 + premium, -0.04, 0.04)
    funding = hourly * hours
    time_ms = spec.start_ms + np.arange(n, dtype=np.int64) * sec * 1000
    name = f"synthetic:seed={spec.seed},bars={n},interval={spec.interval},mode={spec.mode}"
    if spec.mode == "edge":
        name += f",edge={spec.edge:g}"
    dataset = Dataset(time_ms, o, h, l, c, volume, spec.interval, funding, name)
    return dataset, reg, sig


def oracle_rule(window: int) -> str:
    """The DSL of the rule that captures the planted edge of window `window`."""
    return ("(strategy\n"
            f"  (long-entry (> close (sma close {window})))\n"
            f"  (long-exit (< close (sma close {window})))\n"
            f"  (short-entry (< close (sma close {window})))\n"
            f"  (short-exit (> close (sma close {window}))))")


def _oracle_returns(dataset: Dataset, spec: SynthSpec) -> np.ndarray:
    """Per-bar returns of the oracle rule through the real backtest: next-open fills, the
    spec's fee plus the default slippage on every fill, the market's funding."""
    from quant.backtest import evaluate
    from quant.dsl import parse_strategy
    from quant.sim import SimConfig

    oracle = parse_strategy(oracle_rule(spec.edge_window))
    return evaluate(oracle, dataset, SimConfig(fee_bps=spec.fee_bps)).result.returns


_CALIBRATION_SEEDS = tuple(range(20_240_101, 20_240_109))  # 8 independent paths
_CALIBRATION_BARS = 50_000


def calibrated_edge_mu(spec: SynthSpec) -> float:
    """The planted edge per bar (log return) that gives the oracle `spec.edge` annual Sharpe
    through the backtest (quant.backtest with the default costs, `spec.fee_bps` as the fee),
    measured on the pooled returns of 8 long independent paths (400k bars). It
    depends only on the process (interval, volatility, window, jumps, fees), not on the seed:
    a fresh seed is fresh data from the same process."""
    key = SynthSpec(
        seed=0, bars=_CALIBRATION_BARS, interval=spec.interval, mode="edge",
        edge=spec.edge, edge_window=spec.edge_window, annual_vol=spec.annual_vol,
        substeps=1, jump_rate=spec.jump_rate, jump_scale=spec.jump_scale, fee_bps=spec.fee_bps,
    )
    return _calibrate(key)


@functools.lru_cache(maxsize=64)
def _calibrate(key: SynthSpec) -> float:
    bars_per_year = SECONDS_PER_YEAR / interval_seconds(key.interval)
    sd = key.annual_vol / math.sqrt(bars_per_year)
    mu = key.edge / math.sqrt(bars_per_year) * sd
    for _ in range(8):
        pooled = [_oracle_returns(_market(replace(key, seed=seed), mu)[0], key)
                  for seed in _CALIBRATION_SEEDS]
        got = _annual_sharpe(np.concatenate(pooled), bars_per_year)
        # Sharpe is close to linear in mu around the target: a proportional step converges fast
        mu += (key.edge - got) / math.sqrt(bars_per_year) * sd
        if abs(key.edge - got) < 0.01:
            break
    return float(mu)


def parse_options(text: str) -> SynthSpec:
    """`seed=1,bars=5000,interval=1h,mode=edge,edge=2` (also `edge=2` alone implies mode=edge)."""
    fields = {f: getattr(SynthSpec, f) for f in SynthSpec.__dataclass_fields__}
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, raw = part.partition("=")
        if not eq or key not in fields:
            raise ValueError(f"bad option {part!r}; options: {', '.join(fields)}")
        default = fields[key]
        try:
            values[key] = type(default)(raw) if not isinstance(default, str) else raw
        except ValueError:
            kind = "an integer" if isinstance(default, int) else "a number"
            raise ValueError(f"option {key}={raw!r}: {key} must be {kind}") from None
    if "edge" in values and "mode" not in values and float(values["edge"]) > 0:  # type: ignore[arg-type]
        values["mode"] = "edge"
    return SynthSpec(**values)  # type: ignore[arg-type]
