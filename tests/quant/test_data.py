"""`--data` specs: seeded synthetic markets, plain CSV and the Parquet candle store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant.data import DataSpecError, load_dataset, synthetic


def test_synthetic_is_seeded_and_well_formed():
    a = load_dataset("synthetic:seed=5,bars=300")
    b = load_dataset("synthetic:seed=5,bars=300")
    c = load_dataset("synthetic:seed=6,bars=300")
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.array_equal(a.close, c.close)
    assert len(a) == 300 and a.interval == "1h" and a.bars_per_year == 8760
    assert (a.high >= np.maximum(a.open, a.close)).all()
    assert (a.low <= np.minimum(a.open, a.close)).all()
    assert len(load_dataset("synthetic")) == 5000
    assert load_dataset("synthetic:bars=50,interval=1d").bars_per_year == 365


def test_csv_round_trip(tmp_path):
    d = synthetic(seed=1, bars=100)
    df = pd.DataFrame({"timestamp": pd.to_datetime(d.time_ms, unit="ms", utc=True),
                       "Open": d.open, "High": d.high, "Low": d.low, "Close": d.close,
                       "Volume": d.volume})
    path = tmp_path / "btc.csv"
    df.iloc[::-1].to_csv(path, index=False)  # out of order on purpose
    got = load_dataset(f"csv:{path}")
    np.testing.assert_array_equal(got.time_ms, d.time_ms)
    np.testing.assert_allclose(got.close, d.close, rtol=1e-15)
    assert got.interval == "1h" and got.funding is None


def test_store_reads_parquet_partitions(tmp_path):
    d = synthetic(seed=2, bars=200)
    folder = tmp_path / "candles" / "coin=BTC" / "interval=1h"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"t": d.time_ms, "o": d.open, "h": d.high, "l": d.low, "c": d.close,
                          "v": d.volume})
    frame.iloc[:120].to_parquet(folder / "a.parquet")
    frame.iloc[100:].to_parquet(folder / "b.parquet")  # overlap is de-duplicated
    got = load_dataset("store:BTC/1h", tmp_path)
    np.testing.assert_array_equal(got.close, d.close)
    assert got.interval == "1h"


@pytest.mark.parametrize("spec, needle", [
    ("store:BTC/1h", "no candles under"),
    ("csv:/nope.csv", "file not found"),
    ("yahoo:BTC", "not understood"),
    ("synthetic:seed=x", "seed must be an integer"),
    ("synthetic:sead=1", "bad option"),
    ("store:BTC/1x", "interval"),
])
def test_bad_specs_say_what_to_do(tmp_path, spec, needle):
    with pytest.raises(DataSpecError) as err:
        load_dataset(spec, tmp_path)
    assert needle in str(err.value)
