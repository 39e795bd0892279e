"""Markets shared by the gauntlet tests: built once per session (the planted-edge generator
calibrates its drift on long paths, a second or so)."""

from __future__ import annotations

import pytest

from quant.dsl import parse_strategy
from quant.synth import SynthSpec, generate

BARS = 2 * 8760  # two years of hourly bars


@pytest.fixture(scope="session")
def planted():
    """A market with a strong planted trend edge (oracle Sharpe ≈ 6) and its oracle rule at
    0.4× equity (small enough to stay inside the 10 % drawdown gate)."""
    m = generate(SynthSpec(seed=2, bars=BARS, interval="1h", mode="edge", edge=6.0,
                           edge_window=48, annual_vol=0.2))
    text = m.oracle_dsl[:-1] + " (size (fixed 0.4)))"
    return m.dataset, parse_strategy(text)


@pytest.fixture(scope="session")
def noise():
    return generate(SynthSpec(seed=2, bars=BARS, interval="1h", mode="noise",
                              annual_vol=0.2)).dataset
