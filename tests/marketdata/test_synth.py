"""Synthetic markets: determinism, consistent OHLCV, noise has no edge, the planted edge is real
and captured by the rule it names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.dsl import parse_strategy
from quant.backtest import evaluate
from quant.sim import SimConfig
from quant.synth import SynthSpec, generate, parse_options


def test_same_spec_same_bytes_and_different_seed_different_market():
    a = generate(SynthSpec(seed=3, bars=3000, mode="edge", edge=2.0))
    b = generate(SynthSpec(seed=3, bars=3000, mode="edge", edge=2.0))
    c = generate(SynthSpec(seed=4, bars=3000, mode="edge", edge=2.0))
    for col in ("open", "high", "low", "close", "volume", "funding"):
        assert np.array_equal(getattr(a.dataset, col), getattr(b.dataset, col))
    assert not np.array_equal(a.dataset.close, c.dataset.close)
    assert a.oracle_sharpe == b.oracle_sharpe


@pytest.mark.parametrize("mode", ["noise", "edge", "regimes"])
def test_ohlcv_is_consistent(mode):
    m = generate(SynthSpec(seed=1, bars=5000, mode=mode, edge=2.0 if mode == "edge" else 0.0,
                           interval="15m"))
    d = m.dataset
    assert (d.high >= np.maximum(d.open, d.close)).all()
    assert (d.low <= np.minimum(d.open, d.close)).all()
    assert (d.low > 0).all() and (d.volume > 0).all()
    # the path is continuous: each bar opens at the previous close
    assert np.allclose(d.open[1:], d.close[:-1], rtol=1e-12)
    assert (np.diff(d.time_ms) == 15 * 60 * 1000).all()
    assert np.isfinite(d.funding).all() and (np.abs(d.funding) <= 0.04).all()
    assert len(m.regime_labels()) == 5000 and set(m.regime_labels()) <= set(m.regime_names)


def test_volatility_matches_the_spec_and_clusters():
    d = generate(SynthSpec(seed=2, bars=26_280, mode="noise", annual_vol=0.6)).dataset
    r = np.diff(np.log(d.close))
    annual = r.std() * math.sqrt(8760)
    assert 0.45 < annual < 0.8
    # volatility clustering: |r| is autocorrelated, r itself is not
    a = np.abs(r) - np.abs(r).mean()
    assert np.corrcoef(a[1:], a[:-1])[0, 1] > 0.05
    assert abs(np.corrcoef(r[1:], r[:-1])[0, 1]) < 0.05


def test_noise_has_no_edge_for_the_planted_rule():
    """The rule that captures the planted edge earns nothing (before costs) on noise."""
    sharpes = []
    for seed in range(6):
        m = generate(SynthSpec(seed=seed, bars=8760, mode="noise"))
        d = m.dataset
        sma = np.convolve(d.close, np.ones(50) / 50, mode="full")[: len(d.close)]
        sig = np.where(d.close > sma, 1.0, -1.0)
        sig[:49] = 0.0
        r = sig[:-1] * (d.close[1:] / d.close[:-1] - 1.0)  # held from each close to the next
        sharpes.append(r.mean() / r.std() * math.sqrt(8760))
    # six independent years: the mean of unit-SE Sharpes stays well inside ±1.5
    assert abs(float(np.mean(sharpes))) < 1.5


def test_planted_edge_is_calibrated_on_the_process_not_the_sample():
    got = [generate(SynthSpec(seed=s, bars=26_280, mode="edge", edge=2.0)).oracle_sharpe
           for s in range(4)]
    # three years per sample: standard error ≈ 0.6, so the mean of four is within ±0.8
    assert abs(float(np.mean(got)) - 2.0) < 0.8
    assert all(g > 0.5 for g in got)


def test_the_oracle_sharpe_is_what_the_backtest_gives_after_every_cost():
    """The edge is calibrated, and the oracle's Sharpe reported, through the quant core itself
    (next-open fills, taker fee and slippage on every fill, the market's funding): `edge=2` is
    what the oracle strategy earns in `organism backtest`, not before some of its costs."""
    m = generate(SynthSpec(seed=5, bars=26_280, mode="edge", edge=2.0))
    strategy = parse_strategy(m.oracle_dsl)
    ev = evaluate(strategy, m.dataset)
    assert ev.metrics["sharpe"] == pytest.approx(m.oracle_sharpe, rel=1e-12)
    cheaper = evaluate(strategy, m.dataset, SimConfig(fee_bps=0.0, slippage_bps=0.0))
    assert cheaper.metrics["sharpe"] > m.oracle_sharpe + 0.3  # the costs are really paid


def test_options_text():
    spec = parse_options("seed=9,bars=1000,edge=1.5")
    assert spec == SynthSpec(seed=9, bars=1000, mode="edge", edge=1.5)
    assert parse_options("").mode == "noise"
    with pytest.raises(ValueError, match="bad option 'speed=3'; options: seed, bars"):
        parse_options("speed=3")
    with pytest.raises(ValueError, match="bars must be an integer"):
        parse_options("bars=many")
    with pytest.raises(ValueError, match="mode 'edge' needs edge > 0"):
        parse_options("mode=edge")
    with pytest.raises(ValueError, match="unknown"):
        parse_options("mode=chaos")
