"""Thresholds and shape of the gauntlet (the `[validation]` config table).

Every field has a default from the user's requirements; deploy/organism.toml repeats them.
Fractions are fractions (0.1 = 10 %), Sharpe ratios are annualised (√bars-per-year).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Fraction = Annotated[float, msgspec.Meta(gt=0, lt=1)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class ValidationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # splits: in-sample = the bars the candidate's search saw (its `searched` range; without
    # one, the first in_sample_fraction of history, what a search on it reads), then
    # out-of-sample and walk-forward from the bars after it, out_of_sample_fraction : the rest;
    # each after a purge gap of at least the longest look-back plus the longest holding period
    # (and at least min_purge_bars)
    in_sample_fraction: Fraction = 0.6
    out_of_sample_fraction: Fraction = 0.2
    min_purge_bars: Annotated[int, msgspec.Meta(ge=0)] = 0
    walk_forward_windows: Positive = 4
    # gates
    min_sharpe: float = 2.0  # annualised, in every stage (strictly greater)
    max_drawdown: Fraction = 0.10  # in every stage (strictly less)
    min_trades: Annotated[int, msgspec.Meta(ge=0)] = 10  # per stage
    min_deflated_sharpe: Fraction = 0.95
    max_pbo: Fraction = 0.2
    pbo_blocks: Annotated[int, msgspec.Meta(ge=2, le=20, multiple_of=2)] = 16
    pbo_min_family: Annotated[int, msgspec.Meta(ge=2)] = 8  # fewer: padded with neighbours
    pbo_max_family: Annotated[int, msgspec.Meta(ge=2)] = 32  # members kept per family
    min_btl_target_sharpe: Annotated[float, msgspec.Meta(gt=0)] = 2.0  # annualised
    lookahead_cuts: Positive = 4  # truncation points of the look-ahead check
    robustness_gated: bool = False  # cross-market Sharpe: reported, gated only if true
    robustness_min_sharpe: float = 0.0  # median annualised Sharpe on the other markets
    # readiness score stress tests
    cost_stress_factor: Annotated[float, msgspec.Meta(ge=1)] = 3.0  # fees + slippage ×
    # the agent
    durable: str = "validation"  # JetStream durable shared by every validation agent
    store_dir: str = "strategies"  # validated strategies, relative to organism.data_dir
    # failed candidates kept on disk (newest first; under store_dir/failed); every report also
    # stays on the val.report stream and in the recorder's warehouse
    keep_failed: Annotated[int, msgspec.Meta(ge=0)] = 1000
