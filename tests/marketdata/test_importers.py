"""Importers: every format parsed from real files (the .lz4 ones compressed here from text
fixtures), bad rows named by file, line and reason, and `organism data import` writing a real
store that DuckDB and the quant core read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import lz4.frame
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.importers import (
    ImportFormatError,
    check_format,
    detect_format,
    parse_file,
    parse_ohlcv,
)
from marketdata.l2 import append_l2, export_jsonl, read_l2
from marketdata.store import CandleStore
from organism.cli.main import main

FIX = Path(__file__).parent / "fixtures"
H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def lz4_copy(name: str, tmp_path: Path, suffix: str = ".lz4") -> Path:
    """A fixture compressed as Hyperliquid's archive does it: one LZ4 frame."""
    out = tmp_path / (Path(name).stem + suffix)
    out.write_bytes(lz4.frame.compress((FIX / name).read_bytes()))
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["data", "import", *argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --- recognising formats --------------------------------------------------------------------------
@pytest.mark.parametrize("name, fmt", [
    ("cdd_legacy_btc_1h.csv", "ohlcv"),
    ("cdd_unix_eth_1d.csv", "ohlcv"),
    ("iso_ohlcv_15m.csv", "ohlcv"),
    ("binance_btcusdt_1m.csv", "binance"),
    ("binance_btcusdt_1m_us.csv", "binance"),
    ("asset_ctxs_20250311.csv", "hl-asset-ctxs"),
    ("l2book_btc.jsonl", "hl-l2book"),
])
def test_formats_are_recognised_from_content_plain_or_lz4(name, fmt, tmp_path):
    assert detect_format(FIX / name) == fmt
    assert detect_format(lz4_copy(name, tmp_path)) == fmt


def test_unrecognised_file_gets_one_error_naming_what_was_expected(tmp_path):
    with pytest.raises(ImportFormatError) as exc:
        detect_format(FIX / "unknown.txt")
    msg = str(exc.value)
    assert "format not recognised" in msg and "'symbol;price'" in msg
    for expected in ("OHLCV CSV", "Binance kline", "l2Book", "asset_ctxs", "--format"):
        assert expected in msg
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFormatError, match="empty file"):
        detect_format(empty)


def test_forced_format_that_does_not_fit_is_refused():
    with pytest.raises(ImportFormatError, match="does not look like --format binance.*header"):
        check_format(FIX / "iso_ohlcv_15m.csv", "binance")
    check_format(FIX / "iso_ohlcv_15m.csv", "ohlcv")


def test_damaged_lz4_is_a_clear_error(tmp_path):
    good = lz4_copy("binance_btcusdt_1m.csv", tmp_path).read_bytes()
    broken = tmp_path / "broken.csv.lz4"
    broken.write_bytes(good[: len(good) // 2] + b"\x00" * 7 + good[len(good) // 2 + 7:])
    with pytest.raises(ImportFormatError, match="damaged or truncated LZ4.*download the file again"):
        parse_file(broken, "binance", "BTC", "1m")


# --- generic OHLCV ----------------------------------------------------------------------------------
def test_cryptodatadownload_legacy_hourly_file():
    p = parse_file(FIX / "cdd_legacy_btc_1h.csv", "ohlcv", "BTC", "1h")
    t = p.table.column("t").to_pylist()
    assert p.bad == () and p.rows_read == 14
    assert t == sorted(t)  # the file is newest first
    assert t[0] == ms("2019-10-17T00:00")  # 12-AM is midnight
    assert ms("2019-10-17T12:00") in t and ms("2019-10-17T21:00") not in t  # 12-PM is noon
    assert t[-1] == ms("2019-10-17T14:00")  # 02-PM
    assert (p.gaps, p.missing) == (1, 1)  # 09-AM is missing
    first = p.table.slice(0, 1).to_pylist()[0]
    assert first == {"t": t[0], "o": 8000.0, "h": 8005.0, "l": 7985.0, "c": 7990.0,
                     "v": 10.0, "n": 0}  # Volume BTC, not Volume USDT


def test_unix_column_preferred_over_date_and_seconds_or_ms_per_row():
    p = parse_file(FIX / "cdd_unix_eth_1d.csv", "ohlcv", "ETH", "1d")
    assert p.bad == ()
    day0 = 1700000000 // 86400 * 86400 * 1000
    assert p.table.column("t").to_pylist() == [day0 + i * 86_400_000 for i in range(6)]
    # the volume column naming the coin wins, though Volume USDT comes first
    assert p.table.column("v").to_pylist() == [100.0 + i for i in range(6)]
    assert p.table.column("n").to_pylist() == [50 + i for i in range(6)]
    # without a coin to match, the first volume column
    other = parse_file(FIX / "cdd_unix_eth_1d.csv", "ohlcv", "SOL", "1d")
    assert other.table.column("v")[0].as_py() == 100 * 2000


def test_upper_case_headers_iso_times_exact_duplicates_and_gaps():
    p = parse_file(FIX / "iso_ohlcv_15m.csv", "ohlcv", "BTC", "15m")
    assert p.bad == ()
    assert (p.rows_read, p.duplicates, p.table.num_rows) == (6, 1, 5)
    assert p.table.column("t").to_pylist() == [
        ms("2024-03-01T00:00"), ms("2024-03-01T00:15"), ms("2024-03-01T00:30"),
        ms("2024-03-01T01:15"), ms("2024-03-01T01:30")]
    assert (p.gaps, p.missing) == (1, 2)


def test_bad_rows_carry_file_line_and_reason():
    path = FIX / "broken_ohlcv_1h.csv"
    p = parse_file(path, "ohlcv", "BTC", "1h")
    reasons = {b.line: b.reason for b in p.bad}
    assert all(b.file == str(path) for b in p.bad)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert reasons[3] == "high 99 below low 101"
    assert reasons[4].startswith("non-positive price")
    assert reasons[5] == "high 100.5 below max(open, close) 101"
    assert reasons[6] == "low 100.5 above min(open, close) 100"
    assert "appears again with different values (line 8)" in reasons[7]
    assert "(line 7)" in reasons[8]
    assert reasons[9].startswith("open time 2024-01-01T06:30:00Z is off the 1h grid (1800 s past")
    assert reasons[10] == "open 'abc' is not a number"
    assert reasons[11] == "expected 6 fields like the header on line 1, found 4"
    assert reasons[12] == "time 'yesterday' is not a time this importer reads"
    assert p.duplicates == 1  # line 14 repeats line 13 exactly
    assert p.table.num_rows == 5
    assert (p.gaps, p.missing) == (2, 10)


def test_off_grid_neighbour_closer_than_an_interval_is_named():
    text = "time,open,high,low,close,volume\n" + "".join(
        f"{(ms('2024-01-01T00:00') + i * H) // 1000},1,1,1,1,1\n" for i in range(5)
    ) + f"{(ms('2024-01-01T02:00') + 600_000) // 1000},1,1,1,1,1\n"
    p = parse_ohlcv(text.splitlines(keepends=True), "x.csv", "1h")
    assert [(b.line, b.reason) for b in p.bad] == [
        (7, "open time 2024-01-01T02:10:00Z is off the 1h grid (600 s past a 1h boundary, "
            "10m from its neighbour)")]


def test_wrong_interval_is_one_usage_error():
    with pytest.raises(ImportFormatError, match="mostly 1h apart, but --interval is 1d; "
                                                "pass --interval 1h"):
        parse_file(FIX / "cdd_legacy_btc_1h.csv", "ohlcv", "BTC", "1d")
    with pytest.raises(ImportFormatError, match="klines span 1m.*pass --interval 1m"):
        parse_file(FIX / "binance_btcusdt_1m.csv", "binance", "BTC", "1h")
    with pytest.raises(ImportFormatError, match="--interval is needed"):
        parse_file(FIX / "binance_btcusdt_1m.csv", "binance", "BTC", None)
    with pytest.raises(ImportFormatError, match="interval '7m' unknown"):
        parse_file(FIX / "binance_btcusdt_1m.csv", "binance", "BTC", "7m")


def test_missing_columns_are_named(tmp_path):
    f = tmp_path / "novol.csv"
    f.write_text("time,open,high,low,close\n2024-01-01,1,1,1,1\n")
    with pytest.raises(ImportFormatError, match="has no volume column.*found time, open"):
        parse_file(f, "ohlcv", "BTC", "1d")


def test_binance_export_with_a_header_reads_as_ohlcv_with_trades(tmp_path):
    f = tmp_path / "BTCUSDT-1h-2025-01.csv"
    f.write_text(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore\r\n"
        "1735689600000000,93576.0,94509.42,93489.03,94401.14,1136.1,1735693199999999,1.06e8,"
        "161221,559.4,5.2e7,0\r\n"
        "1735693200000000,94401.13,94627.0,94250.0,94500.0,900.5,1735696799999999,8.5e7,"
        "120000,450.1,4.2e7,0\r\n")
    assert detect_format(f) == "ohlcv"
    p = parse_file(f, "ohlcv", "BTC", "1h")
    assert p.bad == ()
    assert p.table.column("t").to_pylist() == [1735689600000, 1735693200000]
    assert p.table.column("v").to_pylist() == [1136.1, 900.5]
    assert p.table.column("n").to_pylist() == [161221, 120000]


def test_weekly_candles_opening_on_mondays_are_on_the_grid():
    monday = ms("2024-01-01T00:00")  # the epoch was a Thursday
    text = ["time,open,high,low,close,volume\n"] + [
        f"{monday + i * 7 * 86_400_000},1,2,1,2,3\n" for i in range(5)]
    p = parse_ohlcv(text, "w.csv", "1w")
    assert p.bad == () and p.table.num_rows == 5


def test_times_mostly_off_the_grid_are_one_error_not_a_row_per_line():
    text = ["time,open,high,low,close,volume\n"] + [
        f"2024-01-01T{h:02d}:59:59Z,1,2,1,2,3\n" for h in range(10)]
    with pytest.raises(ImportFormatError, match="10 of 10 open times are off the 1h grid.*close "
                                                "times"):
        parse_ohlcv(text, "close_times.csv", "1h")


# --- Binance ----------------------------------------------------------------------------------------
def test_binance_ms_and_us_open_times_give_the_same_candles(tmp_path):
    a = parse_file(FIX / "binance_btcusdt_1m.csv", "binance", "BTC", "1m")
    b = parse_file(lz4_copy("binance_btcusdt_1m_us.csv", tmp_path), "binance", "BTC", "1m")
    assert a.bad == () and a.table.equals(b.table)
    assert a.table.column("t")[0].as_py() == 1704067200000
    assert a.table.column("n").to_pylist() == [1300, 1301, 1302, 1304, 1305]
    assert (a.gaps, a.missing) == (1, 1)


# --- property: any honest rendering of a candle set parses back to it ------------------------------
TIME_STYLES = {
    "unix_s": lambda t: str(t // 1000),
    "unix_ms": lambda t: str(t),
    "iso_z": lambda t: datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "iso_space": lambda t: datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
    "hour_12": lambda t: datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %I-%p"),
}


@st.composite
def candle_files(draw):
    # slots 0 and 1 always: a file never one interval apart is refused as the wrong --interval
    slots = [0, 1] + draw(st.lists(st.integers(2, 400), max_size=60, unique=True))
    start = ms("2021-06-01T00:00")
    rows = []
    for s in sorted(slots):
        o = draw(st.floats(1e-3, 1e6, allow_nan=False))
        c = draw(st.floats(1e-3, 1e6, allow_nan=False))
        up = draw(st.floats(0, 1e3, allow_nan=False))
        down = draw(st.floats(0, 1, allow_nan=False, exclude_max=True))
        v = draw(st.floats(0, 1e9, allow_nan=False))
        rows.append((start + s * H, o, max(o, c) + up, min(o, c) * (1 - down), c, v))
    extra = draw(st.lists(st.sampled_from(rows), max_size=5))
    order = draw(st.permutations(rows + extra))
    style = draw(st.sampled_from(sorted(TIME_STYLES)))
    header = draw(st.sampled_from(["Date,Open,High,Low,Close,Volume",
                                   "time,open,high,low,close,volume BTC,volume USD",
                                   "TIMESTAMP,O,H,L,C,V"]))
    banner = draw(st.booleans())
    return rows, len(extra), order, style, header, banner


@given(candle_files())
def test_rendered_candles_parse_back_exactly(case):
    rows, dups, order, style, header, banner = case
    fmt = TIME_STYLES[style]
    body = []
    for t, o, h, l, c, v in order:
        cells = [fmt(t), repr(o), repr(h), repr(l), repr(c), repr(v)]
        if "USD" in header:
            cells.append(repr(v * c))
        body.append(",".join(cells) + "\n")
    text = ["https://example.com/free-data\n"] * banner + [header + "\n"] + body
    p = parse_ohlcv(text, "prop.csv", "1h", "BTC")
    assert p.bad == ()
    assert p.duplicates == dups
    got = [tuple(r.values())[:6] for r in p.table.to_pylist()]
    assert got == rows
    gaps = sum(1 for a, b in zip(rows, rows[1:]) if b[0] - a[0] > H)
    assert p.gaps == gaps


# --- asset contexts ---------------------------------------------------------------------------------
def test_asset_ctxs_keep_one_coin_with_either_time_format(tmp_path):
    path = lz4_copy("asset_ctxs_20250311.csv", tmp_path, ".csv.lz4")
    p = parse_file(path, "hl-asset-ctxs", "BTC", None)
    assert p.kind == "asset_ctxs" and p.bad == ()
    assert (p.rows_read, p.other_coin_rows) == (3, 2)
    rows = p.table.to_pylist()
    assert [r["t"] for r in rows] == [ms("2025-03-11T00:00"), ms("2025-03-11T01:00"),
                                      ms("2025-03-11T02:00") + 500]
    assert rows[0]["funding"] == 0.0000125  # the hourly rate as given
    assert rows[1]["funding"] == -0.0000031 and rows[1]["mid_px"] is None
    assert rows[2]["mark_px"] == 80110.0


def test_asset_ctxs_bad_rows_and_unknown_coin(tmp_path):
    p = parse_file(FIX / "asset_ctxs_broken.csv", "hl-asset-ctxs", "BTC", None)
    assert [(b.line, b.reason) for b in p.bad] == [
        (3, "funding 'abc' is not a number"), (4, "mark_px -5 is not a positive price")]
    with pytest.raises(ImportFormatError, match="no rows for coin 'btc'.*BTC, ETH"):
        parse_file(FIX / "asset_ctxs_20250311.csv", "hl-asset-ctxs", "btc", None)


# --- L2 snapshots -----------------------------------------------------------------------------------
def test_l2book_archive_parsed_stored_and_replayed_by_the_local_exchange(tmp_path):
    from venue.config import SimConfig
    from venue.market import make_market

    path = lz4_copy("l2book_btc.jsonl", tmp_path)
    p = parse_file(path, "hl-l2book", "BTC", None)
    assert [b.line for b in p.bad] == [3, 4]
    assert p.bad[0].reason.startswith("not JSON")
    assert p.bad[1].reason == "crossed book: best bid 80020 >= best ask 80019"
    assert p.table.column("t").to_pylist() == [1741683603181, 1741683604190, 1741683607190]
    first = p.table.slice(0, 1).to_pylist()[0]
    assert first["bids"] == [{"px": 80000.0, "sz": 1.5, "n": 3}, {"px": 79999.0, "sz": 0.25, "n": 1}]

    root = tmp_path / "store"
    assert append_l2(root, "BTC", p.table) == 3
    assert append_l2(root, "BTC", p.table) == 0  # de-duplicated on t
    stored = read_l2(root, "BTC")
    assert stored.equals(p.table)
    assert list((root / "l2book" / "coin=BTC").glob("*.parquet"))

    out = tmp_path / "btc.l2.jsonl"
    assert export_jsonl(stored, "BTC", out) == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[2]["levels"][0] == [{"px": "80030", "sz": "0.00001", "n": 1}]
    # the export re-imports to the same table, and the local exchange replays it
    again = parse_file(out, detect_format(out), "BTC", None)
    assert again.table.equals(p.table)
    market = make_market(SimConfig(market=f"l2:{out}"), 0)
    assert market.fair["BTC"] == Decimal("80000.5")
    market.step()
    assert market.fair["BTC"] == Decimal("80010.5")


@st.composite
def books(draw):
    snaps = []
    for k, t in enumerate(sorted(draw(st.sets(st.integers(1, 2**42), min_size=1, max_size=8)))):
        mid = draw(st.floats(1e-6, 1e7, allow_nan=False))
        steps = draw(st.lists(st.floats(1e-4, 0.5), min_size=0, max_size=4))
        size = st.floats(1e-8, 1e9, allow_nan=False)
        bids = [{"px": mid * (1 - sum(steps[:i + 1])), "sz": draw(size), "n": draw(st.integers(0, 99))}
                for i in range(len(steps)) if sum(steps[:i + 1]) < 1]
        asks = [{"px": mid * (1 + sum(steps[:i + 1])), "sz": draw(size), "n": draw(st.integers(0, 99))}
                for i in range(len(steps))]
        snaps.append({"t": t, "bids": bids, "asks": asks})
    return snaps


@given(books())
def test_l2_export_parses_back_to_the_same_snapshots(snaps):
    import io

    import pyarrow as pa

    from marketdata.l2 import L2_SCHEMA

    table = pa.Table.from_pylist(snaps, schema=L2_SCHEMA)
    buf = io.StringIO()
    export_jsonl(table, "BTC", buf)
    p = parse_file_text(buf.getvalue())
    assert p.bad == () and p.table.equals(table)


def parse_file_text(text: str):
    from marketdata.l2 import parse_l2book

    return parse_l2book(text.splitlines(keepends=True), "mem.jsonl", "BTC")


def test_l2book_of_another_coin_is_a_usage_error(tmp_path):
    with pytest.raises(ImportFormatError, match="snapshots for BTC, not 'ETH'; pass --coin BTC"):
        parse_file(FIX / "l2book_btc.jsonl", "hl-l2book", "ETH", None)


# --- the command ------------------------------------------------------------------------------------
def test_cli_imports_into_a_store_duckdb_and_quant_read(tmp_path, capsys):
    from marketdata.datasets import load_store

    store = tmp_path / "data"
    code, out, err = run_cli(capsys, str(FIX / "cdd_legacy_btc_1h.csv"), "--coin", "BTC",
                             "--interval", "1h", "--data-dir", str(store))
    assert code == 0, err
    for word in ("rows read", "written", "duplicates skipped", "gaps", "2019-10-17T00:00:00Z"):
        assert word in out
    ds = load_store("BTC", "1h", store)
    assert len(ds.close) == 14 and ds.close[0] == 7990.0
    con = CandleStore(store).duckdb()
    assert con.execute("SELECT count(*), min(t) FROM candles WHERE coin = 'BTC'").fetchone() == (
        14, ms("2019-10-17T00:00"))

    code, out, _ = run_cli(capsys, str(FIX / "cdd_legacy_btc_1h.csv"), "--coin", "BTC",
                           "--interval", "1h", "--data-dir", str(store), "--json")
    s = json.loads(out)
    assert code == 0 and s["written"] == 0 and s["already_stored"] == 14
    assert s["duplicates_skipped"] == 14 and (s["gaps"], s["missing_candles"]) == (1, 1)


def test_cli_uses_the_configured_data_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORGANISM__ORGANISM__DATA_DIR", str(tmp_path / "cfg"))
    code, out, err = run_cli(capsys, str(FIX / "binance_btcusdt_1m.csv"), "--coin", "BTC",
                             "--interval", "1m", "--json")
    assert code == 0, err
    assert json.loads(out)["written"] == 5
    assert CandleStore(tmp_path / "cfg").read("BTC", "1m").num_rows == 5


def test_cli_bad_rows_abort_and_write_nothing(tmp_path, capsys):
    store = tmp_path / "data"
    src = FIX / "broken_ohlcv_1h.csv"
    code, out, err = run_cli(capsys, str(src), "--coin", "BTC", "--interval", "1h",
                             "--data-dir", str(store))
    assert code == 1
    assert f"{src}:3: high 99 below low 101" in err
    assert "10 bad row(s); nothing written" in err and "--skip-bad" in err
    assert not store.exists()

    code, out, _ = run_cli(capsys, str(src), "--coin", "BTC", "--interval", "1h",
                           "--data-dir", str(store), "--json")
    s = json.loads(out)
    assert code == 1 and s["ok"] is False and s["bad_rows"] == 10
    assert s["bad"][0] == {"file": str(src), "line": 3, "reason": "high 99 below low 101"}


def test_cli_skip_bad_imports_the_rest_and_lists_what_it_skipped(tmp_path, capsys):
    store = tmp_path / "data"
    src = FIX / "broken_ohlcv_1h.csv"
    code, out, err = run_cli(capsys, str(src), "--coin", "BTC", "--interval", "1h",
                             "--data-dir", str(store), "--skip-bad")
    assert code == 0, err
    assert "skipped rows:" in out and f"{src}:12: time 'yesterday'" in out
    assert CandleStore(store).read("BTC", "1h").num_rows == 5


def test_cli_imports_hyperliquid_archive_files(tmp_path, capsys):
    store = tmp_path / "data"
    ctx = lz4_copy("asset_ctxs_20250311.csv", tmp_path, ".csv.lz4")
    code, out, err = run_cli(capsys, str(ctx), "--coin", "BTC", "--data-dir", str(store), "--json")
    s = json.loads(out)
    assert code == 0 and s["written"] == 3 and s["other_coin_rows"] == 2 and s["gaps"] is None
    con = CandleStore(store).duckdb()
    assert con.execute("SELECT sum(funding) FROM asset_ctxs").fetchone()[0] == pytest.approx(
        0.0000125 * 2 - 0.0000031)

    book = lz4_copy("l2book_btc.jsonl", tmp_path)
    code, out, err = run_cli(capsys, str(book), "--coin", "BTC", "--data-dir", str(store),
                             "--skip-bad")
    assert code == 0, err
    assert read_l2(store, "BTC").num_rows == 3


@pytest.mark.parametrize("argv, message", [
    (["missing.csv", "--coin", "BTC", "--interval", "1h"], "is not a file"),
    ([str(FIX / "unknown.txt"), "--coin", "BTC", "--interval", "1h"], "format not recognised"),
    ([str(FIX / "iso_ohlcv_15m.csv"), "--coin", "BTC"], "--interval is needed"),
    ([str(FIX / "iso_ohlcv_15m.csv"), "--coin", "BTC", "--interval", "1h"],
     "pass --interval 15m"),
    ([str(FIX / "iso_ohlcv_15m.csv"), "--coin", "BTC", "--interval", "15m", "--format",
      "hl-l2book"], "does not look like --format hl-l2book"),
    ([str(FIX / "iso_ohlcv_15m.csv"), "--coin", "BTC", "--interval", "15m", "--format", "xls"],
     "invalid choice"),
    ([str(FIX / "iso_ohlcv_15m.csv"), "--interval", "15m"], "--coin"),
])
def test_cli_usage_errors_exit_2_and_say_what_to_do(argv, message, tmp_path, capsys):
    code, out, err = run_cli(capsys, *argv, "--data-dir", str(tmp_path / "data"))
    assert code == 2
    assert message in err
    assert not (tmp_path / "data").exists()
