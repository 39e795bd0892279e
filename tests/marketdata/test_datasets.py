"""`--data` specs: seeded synthetic and planted markets, plain CSV and the Parquet candle store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketdata.datasets import DataSpecError, load_dataset
from quant.data import synthetic


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
    ("planted:seed=x", "seed must be an integer"),
    ("planted:speed=2", "bad option 'speed=2'; options: seed, bars, edge, window"),
    ("planted:bars=0", "bars"),
])
def test_bad_specs_say_what_to_do(tmp_path, spec, needle):
    with pytest.raises(DataSpecError) as err:
        load_dataset(spec, tmp_path)
    assert needle in str(err.value)


def test_a_spec_not_understood_lists_every_accepted_one():
    with pytest.raises(DataSpecError) as err:
        load_dataset("yahoo:BTC")
    for form in ("synthetic[:seed=S,bars=N", "planted[:seed=S,bars=N,edge=SHARPE,window=W]",
                 "csv:PATH", "store:COIN/INTERVAL"):
        assert form in str(err.value)


def test_planted_is_a_spec_like_the_others():
    from quant.gp.planted import planted_edge

    got = load_dataset("planted:seed=3,bars=400,edge=2,window=20")
    want = planted_edge(3, 400, edge=2.0, window=20)
    np.testing.assert_array_equal(got.close, want.close)
    assert len(load_dataset("planted")) == 6000  # the defaults


def _store_with_contexts(tmp_path, interval: str, bars: int, ctx_t, ctx_rate):
    step = {"15m": 900_000, "1h": 3_600_000, "4h": 14_400_000}[interval]
    t0 = 1_700_000_000_000 // 3_600_000 * 3_600_000  # on the hour
    t = t0 + step * np.arange(bars)
    px = np.linspace(100.0, 110.0, bars)
    folder = tmp_path / "candles" / "coin=ETH" / f"interval={interval}"
    folder.mkdir(parents=True)
    pd.DataFrame({"t": t, "o": px, "h": px + 1, "l": px - 1, "c": px, "v": 1.0}).to_parquet(
        folder / "a.parquet")
    ctx = tmp_path / "asset_ctxs" / "coin=ETH"
    ctx.mkdir(parents=True)
    pd.DataFrame({"t": t0 + np.asarray(ctx_t, dtype=np.int64), "funding": ctx_rate}).to_parquet(
        ctx / "a.parquet")
    return t0


H = 3_600_000


def test_store_funding_pays_at_each_hour_mark_at_the_last_observed_rate(tmp_path):
    # observations: 1e-5 from t0-30min, 3e-5 from t0+1.5h; none after t0+4h (stale from +7h)
    _store_with_contexts(tmp_path, "1h", 12, [-H // 2, 3 * H // 2, 4 * H], [1e-5, 3e-5, 2e-5])
    ds = load_dataset("store:ETH/1h", tmp_path)
    # bar k opens at t0+kH and pays at its close t0+(k+1)H
    want = [1e-5, 3e-5, 3e-5, 2e-5, 2e-5, 2e-5, 2e-5, np.nan, np.nan, np.nan, np.nan, np.nan]
    np.testing.assert_allclose(ds.funding, want)


@pytest.mark.parametrize("interval, want", [
    ("15m", [0, 0, 0, 1e-5, 0, 0, 0, 3e-5]),  # only bars closing on the hour pay
    ("4h", [1e-5 + 3e-5 * 3, 3e-5 * 4]),  # four payments per bar
])
def test_store_funding_follows_the_bar_length(tmp_path, interval, want):
    _store_with_contexts(tmp_path, interval, len(want), [-H // 2, 3 * H // 2, 5 * H],
                         [1e-5, 3e-5, 3e-5])
    np.testing.assert_allclose(load_dataset(f"store:ETH/{interval}", tmp_path).funding, want)


def test_a_backtest_on_the_store_pays_its_funding(tmp_path):
    from dataclasses import replace

    from quant.backtest import evaluate
    from quant.dsl import parse_strategy
    from quant.sim import SimConfig

    # observed every 2 h until 19 h: marks up to 22 h are paid at 5e-4, later ones are unknown
    _store_with_contexts(tmp_path, "1h", 48, range(-H, 21 * H, 2 * H), 5e-4)
    ds = load_dataset("store:ETH/1h", tmp_path)
    assert ds.funding[:22].tolist() == [5e-4] * 22 and np.isnan(ds.funding[22:]).all()
    bare = replace(ds, funding=None)
    hold = parse_strategy("(strategy (long-entry true) (long-exit false))")

    def final(data, per_hour):
        return evaluate(hold, data, SimConfig(funding_per_hour=per_hour)).result.equity[-1]

    # unknown bars fall back to the constant rate: with it at 5e-4 too, the same as paying
    # 5e-4 everywhere; with it at 0, less is paid than that but more than nothing
    assert final(ds, 5e-4) == pytest.approx(final(bare, 5e-4), rel=1e-12)
    assert final(bare, 5e-4) < final(ds, 0.0) < final(bare, 0.0)


# --- csv: reads what `organism data import` reads, through the same reader -------------------
FIX = Path(__file__).parent / "fixtures"


def test_csv_reads_a_cryptodatadownload_file_as_the_importer_does():
    from marketdata.importers import parse_file

    path = FIX / "cdd_legacy_btc_1h.csv"  # banner line, 12-hour stamps, newest first, a gap
    got = load_dataset(f"csv:{path}")
    imported = parse_file(path, "ohlcv", "BTC", "1h").table
    assert got.interval == "1h" and got.funding is None
    np.testing.assert_array_equal(got.time_ms, imported.column("t").to_numpy())
    for col in "ohlcv":
        np.testing.assert_array_equal(getattr(got, {"o": "open", "h": "high", "l": "low",
                                                    "c": "close", "v": "volume"}[col]),
                                      imported.column(col).to_numpy())


def test_csv_takes_the_base_volume_its_symbol_names_as_the_importer_does_given_the_coin():
    from marketdata.importers import parse_file

    path = FIX / "cdd_unix_eth_1d.csv"  # Volume USDT before Volume ETH; symbol ETH/USDT
    got = load_dataset(f"csv:{path}")
    assert got.interval == "1d"
    imported = parse_file(path, "ohlcv", "ETH", "1d").table
    np.testing.assert_array_equal(got.volume, imported.column("v").to_numpy())


def test_csv_infers_the_interval_of_binance_klines_and_takes_a_funding_column(tmp_path):
    assert load_dataset(f"csv:{FIX / 'binance_btcusdt_1m.csv'}").interval == "1m"
    path = tmp_path / "f.csv"
    path.write_text("time,open,high,low,close,volume,funding\n"
                    "2024-01-01T00:10:00Z,1,2,0.5,1.5,10,0.0001\n"
                    "2024-01-01T00:00:00Z,1,2,0.5,1.5,10,\n"
                    "2024-01-01T00:20:00Z,1,2,0.5,1.5,10,-0.0002\n")
    ds = load_dataset(f"csv:{path}")
    assert ds.interval == "10m" and len(ds) == 3
    np.testing.assert_array_equal(ds.funding, [np.nan, 1e-4, -2e-4])


def test_csv_bad_rows_are_named_with_their_line_never_dropped(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,open,high,low,close,volume\n"
                    "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
                    "2024-01-01T01:00:00Z,1,0.1,0.5,1.5,10\n"
                    "2024-01-01T02:00:00Z,1,2,0.5,1.5,10\n")
    with pytest.raises(DataSpecError) as err:
        load_dataset(f"csv:{path}")
    text = str(err.value)
    assert f"{path}:3: high 0.1 below low 0.5" in text and "--skip-bad" in text
    with pytest.raises(DataSpecError, match="holds hl-asset-ctxs data, not candles"):
        load_dataset(f"csv:{FIX / 'asset_ctxs_20250311.csv'}")


def _cdd_file(path: Path, d) -> None:
    """`d` as CryptoDataDownload writes an hourly file: a banner line, 12-hour stamps, newest
    first, the base volume before the quote volume."""
    stamps = pd.to_datetime(d.time_ms, unit="ms", utc=True)
    lines = ["https://www.CryptoDataDownload.com",
             "Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT"]
    for i in range(len(d) - 1, -1, -1):
        s = stamps[i]
        hour = f"{(s.hour % 12) or 12:02d}-{'AM' if s.hour < 12 else 'PM'}"
        cells = [d.open[i], d.high[i], d.low[i], d.close[i], d.volume[i],
                 d.volume[i] * d.close[i]]
        lines.append(f"{s:%Y-%m-%d} {hour},BTCUSDT," + ",".join(repr(float(x)) for x in cells))
    path.write_text("\n".join(lines) + "\n")


def test_validate_on_csv_equals_validate_on_the_same_file_imported(tmp_path, capsys):
    from organism.cli.main import main

    d = synthetic(seed=11, bars=3000)
    path = tmp_path / "Binance_BTCUSDT_1h.csv"
    _cdd_file(path, d)
    cfg = tmp_path / "organism.toml"
    cfg.write_text(f'[organism]\ndata_dir = "{tmp_path / "data"}"\n')
    strategy = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "sma_cross.dsl"

    def validate(spec: str) -> tuple[int, dict]:
        code = main(["--config", str(cfg), "validate", "--strategy", str(strategy), "--data",
                     spec, "--trials", "20", "--json"])
        report = json.loads(capsys.readouterr().out)
        for key in ("ts_event", "ts_init"):
            report.pop(key)
        return code, report

    from_csv = validate(f"csv:{path}")
    assert main(["--config", str(cfg), "data", "import", str(path), "--coin", "BTC",
                 "--interval", "1h", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 3000
    from_store = validate("store:BTC/1h")
    assert from_csv[0] in (0, 1) and from_csv == from_store
    assert len(from_csv[1]["stages"]) == 3
