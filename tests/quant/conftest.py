"""Small shared markets for the quant tests (kept short: the suite must stay fast)."""

from __future__ import annotations

import pytest

from quant.data import Dataset, synthetic


@pytest.fixture(scope="session")
def market() -> Dataset:
    return synthetic(seed=7, bars=1500)


@pytest.fixture(scope="session")
def frame(market):
    import pandas as pd

    return pd.DataFrame({"open": market.open, "high": market.high, "low": market.low,
                         "close": market.close, "volume": market.volume})
