"""Evolution: candidates bred by genetic programming and progress reports (`evo.*`)."""

from __future__ import annotations

import msgspec

from schemas.base import Ident, Message, Nanos


class PerformanceMetrics(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Backtest metrics of one stretch of history. Ratios are fractions (0.1 = 10 %)."""

    sharpe: float = 0.0  # annualised
    total_return: float = 0.0
    cagr: float = 0.0
    volatility: float = 0.0  # annualised
    sortino: float = 0.0
    calmar: float = 0.0
    max_drawdown: float = 0.0  # positive fraction
    max_drawdown_bars: int = 0
    win_rate: float = 0.0
    profit_factor: float = 0.0
    expectancy: float = 0.0  # mean return per trade, fraction
    trades: int = 0
    trades_per_day: float = 0.0
    exposure: float = 0.0
    turnover: float = 0.0
    bars: int = 0


class BarRange(msgspec.Struct, frozen=True, kw_only=True):
    """A run of bars by their open times (ns, both inclusive) and how many there are."""

    start: Nanos
    end: Nanos
    bars: int


class StrategyCandidate(Message, frozen=True, kw_only=True):
    """A strategy evolution believes in, handed to validation."""

    strategy_id: Ident  # {algorithm_type}_{generation}_{hash[:8]}
    algorithm_type: str  # "gp", "ga", "template"
    generation: int
    genome_hash: str
    dsl: str  # the S-expression text; the genome itself
    coin: Ident
    interval: str
    data_spec: str  # where the history came from, e.g. "store:BTC/1h"
    in_sample: PerformanceMetrics
    trial_count: int  # distinct genomes evaluated on this data (for the deflated Sharpe)
    sharpe_variance: float = 0.0  # variance of per-bar Sharpe across those trials
    family: str = ""  # structural family, for PBO
    regime_affinity: dict[str, float] = {}
    parent_ids: list[str] = []
    # The exact bars the search saw: validation's in-sample is this range, and its
    # out-of-sample and walk-forward come strictly after it. None in older messages.
    searched: BarRange | None = None


class EvolutionProgress(Message, frozen=True, kw_only=True):
    run_id: Ident
    generation: int
    island: int = 0
    best_fitness: float
    median_fitness: float
    diversity: float  # share of distinct canonical forms in the population
    trials: int
    evals_per_s: float
    operator_rates: dict[str, float] = {}
    island_best: list[float] = []  # best general fitness on each island, by island index
    # What the history supports (quant.gauntlet.support): the in-sample years the search has
    # seen, the minimum backtest length its trials need at validation's target Sharpe, and the
    # most trials those years support. 0 in older messages (not reported).
    history_years: float = 0.0
    min_btl_years: float = 0.0
    supported_trials: int = 0
