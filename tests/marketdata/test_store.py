"""The candle store: append-only, de-duplicated on open time, compacted without losing rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from marketdata import store as store_mod
from marketdata.datasets import load_dataset
from marketdata.store import CandleStore, StoreError, candles_table

H = 3_600_000


def rows(lo: int, hi: int, c: float = 1.0) -> pa.Table:
    return candles_table([dict(t=i * H, o=1.0, h=2.0, l=0.5, c=c, v=10.0) for i in range(lo, hi)])


def test_append_skips_what_is_stored_and_first_write_wins(tmp_path):
    s = CandleStore(tmp_path)
    assert s.append("BTC", "1h", rows(0, 6)) == 6
    assert s.append("BTC", "1h", rows(4, 10, c=9.9)) == 4
    assert s.append("BTC", "1h", rows(0, 10)) == 0
    table = s.read("BTC", "1h")
    assert table.column("t").to_pylist() == [i * H for i in range(10)]
    assert table.column("c").to_pylist()[4] == 1.0  # stored candles are never rewritten
    # a fresh store object (another process) sees the same
    assert CandleStore(tmp_path).append("BTC", "1h", rows(0, 11)) == 1


def test_coverage_reports_gaps_and_missing_bars(tmp_path):
    s = CandleStore(tmp_path)
    s.append("ETH", "1h", rows(0, 5))
    s.append("ETH", "1h", rows(8, 10))
    s.append("ETH", "1h", rows(20, 21))
    cov = s.coverage("ETH", "1h")
    assert (cov.first, cov.last, cov.rows) == (0, 20 * H, 8)
    assert cov.gaps == [(4 * H, 8 * H), (9 * H, 20 * H)]
    assert cov.missing == 3 + 10
    assert s.partitions() == [("ETH", "1h")]


def test_many_small_appends_are_compacted_without_losing_a_row(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "COMPACT_AFTER_FILES", 8)
    s = CandleStore(tmp_path)
    for i in range(40):
        s.append("BTC", "1h", rows(i, i + 1))
    assert len(s.files("BTC", "1h")) <= 9
    assert s.read("BTC", "1h").column("t").to_pylist() == [i * H for i in range(40)]
    assert len(load_dataset("store:BTC/1h", tmp_path)) == 40


def test_duckdb_views_and_bad_names(tmp_path):
    s = CandleStore(tmp_path)
    assert s.duckdb().execute("SELECT count(*) FROM candles").fetchall() == [(0,)]
    s.append("BTC", "1h", rows(0, 3))
    s.append("SOL", "1h", rows(0, 2))
    got = s.duckdb().execute(
        "SELECT coin, count(*) FROM candles GROUP BY coin ORDER BY coin").fetchall()
    assert got == [("BTC", 3), ("SOL", 2)]
    with pytest.raises(StoreError, match="cannot name a store partition"):
        s.append("../x", "1h", rows(0, 1))
    with pytest.raises(StoreError, match="interval '7h' unknown"):
        s.append("BTC", "7h", rows(0, 1))


def test_funding_history_rows_are_kept_compacted_and_found(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "COMPACT_AFTER_FILES", 8)
    s = CandleStore(tmp_path)
    assert s.last_ctx_time("BTC") is None
    for i in range(20):  # an hourly refresh: one small file each
        table = pa.Table.from_pylist([{"t": i * H, "funding": 1e-5 * i, "premium": 0.0}])
        assert s.append_ctx("BTC", table) == 1
    assert s.append_ctx("BTC", pa.Table.from_pylist([{"t": 0, "funding": 9.0, "premium": 0.0}])) == 0
    assert len(list(s.ctx_folder("BTC").glob("*.parquet"))) <= 8
    assert s.last_ctx_time("BTC") == 19 * H
    # a context snapshot without funding does not count as the last payment
    s.append_ctx("BTC", pa.Table.from_pylist([{"t": 30 * H, "mark_px": 1.0}]))
    assert s.last_ctx_time("BTC") == 19 * H
    got = s.duckdb().execute("SELECT count(*), max(funding) FROM asset_ctxs").fetchone()
    assert got[0] == 21 and got[1] == pytest.approx(19e-5)
