"""The `[evolution]` config table (the evolution agent and the evaluator workers)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from settings import register_section

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class EvolutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # What to evolve on: every market.coins × market.intervals (candle store + md.candle), and
    # any extra data specs here (e.g. "synthetic:seed=1,bars=5000" or "planted:seed=1").
    use_market: bool = True
    data: list[str] = msgspec.field(default_factory=list)
    min_bars: Annotated[int, msgspec.Meta(ge=200)] = 1700  # 60 % in-sample ≥ 1000 bars
    max_bars: Annotated[int, msgspec.Meta(ge=200)] = 20_000  # history kept per coin/interval
    refresh_bars: PositiveInt = 24  # new closed candles before the search re-reads history
    # The search.
    population: Annotated[int, msgspec.Meta(ge=4)] = 64  # per island
    islands: PositiveInt = 2
    seed: int = 0
    selection: Literal["double-tournament", "nsga2"] = "nsga2"
    min_trades: PositiveInt = 30
    hof_size: PositiveInt = 20
    seed_strategies: str = ""  # folder of .dsl files seeding the first population
    templates: bool = True  # seed with the built-in templates too
    # Evaluation: a local process pool, or eval.batch workers (falling back to local).
    workers: Annotated[int, msgspec.Meta(ge=0)] = 0  # local processes; 0 = every core
    remote: bool = False
    batch_size: PositiveInt = 32  # genomes per eval.batch request
    batch_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    batch_retries: PositiveInt = 3
    cache_mb: Annotated[float, msgspec.Meta(gt=0)] = 16.0  # indicator cache per evaluator
    # Pre-production limits a hall-of-fame member must pass to become an evo.candidate.
    candidate_min_bars: PositiveInt = 1000
    candidate_min_sharpe: float = 1.2
    candidate_max_drawdown: Fraction = 0.25
    candidate_min_win_rate: Fraction = 0.40


register_section("evolution", EvolutionConfig)
