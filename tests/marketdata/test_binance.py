"""Years of history from Binance's public archive: the layout, checksums (a bad one refused),
`organism data fetch --source binance` against a recorded archive served on loopback, the store's
precedence (Hyperliquid's own candles win), `data status` showing the join, zips imported
directly, and Binance's funding charged before Hyperliquid's begins."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from aiohttp import web

from marketdata import binance
from marketdata.datasets import DataSpecError, load_dataset, store_funding
from marketdata.store import CandleStore, candles_table
from quant.data import synthetic
from quant.sim import SimConfig, funding_per_bar
from tests.cli.conftest import run_main as run

ARCHIVE = Path(__file__).with_name("fixtures") / "binance_archive"
JAN_1, FEB_1, MAR_1 = 1_704_067_200_000, 1_706_745_600_000, 1_709_251_200_000
HOUR = 3_600_000
HL_FROM = FEB_1 + 14 * 24 * HOUR  # Hyperliquid's own candles and funding from 2024-02-15


class ArchiveServer:
    """A folder served over http on loopback from a thread of its own (the CLI runs its own
    event loop in the test's thread)."""

    def __init__(self, root: Path):
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        @web.middleware
        async def log(request, handler):
            self.requests.append(request.path)
            return await handler(request)

        app = web.Application(middlewares=[log])
        app.router.add_static("/", self.root, show_index=False)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def __enter__(self) -> ArchiveServer:
        self.thread.start()
        assert self.ready.wait(10), "the archive server did not start"
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in [v for v in __import__("os").environ if v.startswith("ORGANISM")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("ORGANISM__ORGANISM__DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


FETCH = ("data", "fetch", "--source", "binance", "--coin", "BTC", "--interval", "1h",
         "--since", "2023-12-01", "--until", "2024-02-29")


def _hyperliquid_history(data: Path) -> None:
    """The store's own candles from 2024-02-15 (overlapping Binance's February) with their
    funding, as the market-data agent would have recorded them."""
    d = synthetic(seed=99, bars=24 * 30, start_ms=HL_FROM)
    CandleStore(data).append("BTC", "1h", candles_table([
        dict(t=int(d.time_ms[i]), o=float(d.open[i]), h=float(d.high[i]), l=float(d.low[i]),
             c=float(d.close[i]), v=float(d.volume[i])) for i in range(len(d))]))
    CandleStore(data).append_ctx("BTC", pa.table({
        "t": d.time_ms, "funding": np.full(len(d), 0.00002)}))


def _flip(data: bytes) -> bytes:
    """One byte in the middle changed: a damaged download."""
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


# --- the archive's layout and checks ------------------------------------------------------------
def test_the_archive_layout_and_names():
    assert binance.kline_file("BTCUSDT", "1h", 2024, 1) == \
        "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    assert binance.funding_file("BTCUSDT", 2019, 9) == \
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2019-09.zip"
    assert binance.kline_file("ETHUSDT", "1M", 2020, 12).endswith("/1mo/ETHUSDT-1mo-2020-12.zip")
    assert binance.symbol_for("BTC") == "BTCUSDT" and binance.symbol_for("kPEPE") == "1000PEPEUSDT"
    # months that have ended only: the archive publishes a month once it is over
    assert binance.months_between(JAN_1 + 5, MAR_1 + 10, now_ms=MAR_1 + 20) == [
        (2024, 1), (2024, 2)]
    assert binance.is_local("http://127.0.0.1:8080") and binance.is_local("/srv/mirror")
    assert not binance.is_local(binance.ARCHIVE_URL)


def test_checksums_are_verified_and_a_mismatch_refused():
    path = ARCHIVE / binance.kline_file("BTCUSDT", "1h", 2024, 1)
    data, checksum = path.read_bytes(), Path(str(path) + ".CHECKSUM").read_text()
    assert binance.verify(data, checksum, path.name) == hashlib.sha256(data).hexdigest()
    with pytest.raises(binance.ArchiveError, match="does not match its published checksum"):
        binance.verify(_flip(data), checksum, path.name)
    with pytest.raises(binance.ArchiveError, match="is for"):
        binance.verify(data, checksum, "BTCUSDT-1h-2024-02.zip")
    with pytest.raises(binance.ArchiveError, match="does not read"):
        binance.verify(data, "not a checksum", path.name)


def test_archive_zips_parse_with_and_without_a_header():
    jan = ARCHIVE / binance.kline_file("BTCUSDT", "1h", 2024, 1)  # with the header line
    feb = ARCHIVE / binance.kline_file("BTCUSDT", "1h", 2024, 2)  # without
    for path, hours, first in ((jan, 744, JAN_1), (feb, 696, FEB_1)):
        p = binance.parse_kline_archive(path.read_bytes(), path.name, "1h")
        assert not p.bad and p.table.num_rows == hours and p.first == first
    fund = ARCHIVE / binance.funding_file("BTCUSDT", 2024, 1)
    f = binance.parse_funding_archive(fund.read_bytes(), fund.name)
    t = f.table.column("t").to_numpy()
    assert not f.bad and f.table.num_rows == 93
    assert (t % HOUR == 0).all() and (np.diff(t) == 8 * HOUR).all()  # 1 ms past: rounded


def test_funding_payments_charge_the_bar_they_fall_in():
    pays = np.array([8, 16, 24, 48], np.int64) * HOUR  # a hole from 24 h to 48 h
    rate = np.array([1.0, 2.0, 3.0, 4.0])
    bars = np.arange(0, 60, dtype=np.int64) * HOUR
    f = binance.funding_per_bar(pays, rate, bars, HOUR)
    assert f[7] == 1.0 and f[8] == 0.0  # the bar closing at the payment pays it
    assert f[15] == 2.0 and f[23] == 3.0 and f[47] == 4.0
    assert f[3] == 0.0  # after the first payment's interval began: known to pay nothing
    assert np.isnan(f[30]) and np.isnan(f[58])  # inside the hole, after the last: unknown
    daily = binance.funding_per_bar(pays[:3], rate[:3], np.array([0], np.int64), 24 * HOUR)
    assert daily[0] == 6.0


# --- organism data fetch ------------------------------------------------------------------------
def test_without_live_nothing_leaves_the_machine(env, capsys):
    code, out, err = run(FETCH, capsys)
    assert code == 2 and out == ""
    assert err.startswith("organism data fetch: this downloads from https://data.binance.vision "
                          "over the internet; add --live")
    assert not env.exists()


def test_fetch_stores_binance_beside_hyperliquid_whose_candles_win(env, capsys):
    _hyperliquid_history(env)
    hl = load_dataset("store:BTC/1h@hyperliquid", env)
    with ArchiveServer(ARCHIVE) as server:
        code, out, err = run([*FETCH, "--archive-url", server.url, "--json"], capsys)
        assert code == 0, err
        got = json.loads(out)
        assert got["verified"] == 4 and got["refused"] == [] and got["bad_rows"] == []
        assert got["candles_written"] == 744 + 696 and got["funding_written"] == 93 + 87
        assert sorted(got["missing"]) == ["BTCUSDT-1h-2023-12.zip",
                                          "BTCUSDT-fundingRate-2023-12.zip"]
        assert all(p.startswith("/data/futures/um/monthly/") for p in server.requests)

        again = json.loads(run([*FETCH, "--archive-url", server.url, "--json"], capsys)[1])
        assert again["skipped_months"] == ["2024-01", "2024-02"]
        assert again["candles_written"] == 0 and again["funding_written"] == 0

    ds = load_dataset("store:BTC/1h", env)
    bn = load_dataset("store:BTC/1h@binance", env)
    assert ds.time_ms[0] == JAN_1 and ds.time_ms[-1] == hl.time_ms[-1]
    assert len(ds) == len(np.union1d(hl.time_ms, bn.time_ms))
    own = np.isin(ds.time_ms, hl.time_ms)
    assert own.sum() == len(hl) and not own[ds.time_ms < HL_FROM].any()
    # where both have a bar, Hyperliquid's is read; Binance's fills the time before
    assert np.array_equal(ds.close[own], hl.close)
    before = ds.time_ms < HL_FROM
    assert np.array_equal(ds.close[before], bn.close[bn.time_ms < HL_FROM])

    # funding: Binance's payments until Hyperliquid's begins, Hyperliquid's from then on
    expected_bn = binance.funding_per_bar(
        CandleStore(env, "binance").read_ctx("BTC").column("t").to_numpy(),
        CandleStore(env, "binance").read_ctx("BTC").column("funding").to_numpy(),
        ds.time_ms, HOUR)
    expected_hl = store_funding(env, "BTC", ds.time_ms, HOUR)
    assert np.array_equal(ds.funding[before], expected_bn[before], equal_nan=True)
    assert np.array_equal(ds.funding[~before], expected_hl[~before], equal_nan=True)
    paid = ds.funding[before]
    assert np.count_nonzero(paid) == np.count_nonzero(expected_bn[before]) > 100
    charged = funding_per_bar(ds, SimConfig())  # what a backtest charges bar by bar
    assert np.array_equal(charged[before], paid) and (charged[~before] == 0.00002).all()

    code, out, err = run(("data", "status"), capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert not [ln for ln in lines if len(ln) > 80], out
    assert f"BTC 1h 2024-01-01 00:00Z 2024-03-15 23:00Z {len(ds):,} 0 0" in \
        [" ".join(ln.split()) for ln in lines], out  # one line for the series as read
    assert "store:BTC/1h joins 2 sources, hyperliquid's bar where both have one:" in lines
    assert f"  hyperliquid  2024-02-15 00:00Z to 2024-03-15 23:00Z  {len(hl):>9,} bars" in lines
    assert f"  binance      2024-01-01 00:00Z to 2024-02-14 23:00Z  {int(before.sum()):>9,} " \
           "bars" in lines
    assert "  funding: binance's before 2024-02-15 00:00Z, hyperliquid's from then on" in lines
    with pytest.raises(DataSpecError, match="source 'nowhere' unknown; use one of "
                                             "hyperliquid, binance"):
        load_dataset("store:BTC/1h@nowhere", env)
    status = json.loads(run(("data", "status", "--json"), capsys)[1])
    assert status["precedence"] == ["hyperliquid", "binance"]
    assert {(s["source"], s["used"]) for s in status["sources"]} == {
        ("hyperliquid", len(hl)), ("binance", int(before.sum()))}


def test_a_file_whose_checksum_does_not_match_is_refused(env, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(ARCHIVE, mirror)
    bad = mirror / (binance.kline_file("BTCUSDT", "1h", 2024, 2) + ".CHECKSUM")
    bad.write_text("0" * 64 + "  BTCUSDT-1h-2024-02.zip\n")
    with ArchiveServer(mirror) as server:
        code, out, err = run([*FETCH, "--archive-url", server.url], capsys)
    assert code == 1
    assert "organism data fetch: BTCUSDT-1h-2024-02.zip: SHA-256" in err
    assert "does not match its published checksum" in err and "refused" in err
    assert "run the same command again" in err
    stored = load_dataset("store:BTC/1h@binance", env)
    assert stored.time_ms[-1] < FEB_1  # nothing of February's klines was stored
    assert "3 file(s) verified" in out


def test_a_local_folder_mirror_needs_no_live(env, capsys):
    code, out, err = run([*FETCH, "--archive-url", str(ARCHIVE), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["candles_written"] == 744 + 696


# --- organism data import of an archive zip -----------------------------------------------------
def test_an_archive_zip_imports_directly_into_the_binance_source(env, tmp_path, capsys):
    kl = ARCHIVE / binance.kline_file("BTCUSDT", "1h", 2024, 1)
    code, out, err = run(("data", "import", str(kl), "--coin", "BTC", "--interval", "1h",
                          "--json"), capsys)
    assert code == 0, err
    got = json.loads(out)
    assert got["format"] == "binance-archive" and got["source"] == "binance"
    assert got["checksum"] == "verified" and got["written"] == 744
    fund = ARCHIVE / binance.funding_file("BTCUSDT", 2024, 1)
    got = json.loads(run(("data", "import", str(fund), "--coin", "BTC", "--json"), capsys)[1])
    assert got["kind"] == "asset_ctxs" and got["written"] == 93
    assert load_dataset("store:BTC/1h", env).funding is not None

    tampered = tmp_path / kl.name
    tampered.write_bytes(_flip(kl.read_bytes()))
    shutil.copy(str(kl) + ".CHECKSUM", str(tampered) + ".CHECKSUM")
    code, out, err = run(("data", "import", str(tampered), "--coin", "ETH", "--interval", "1h"),
                         capsys)
    assert code == 1 and "does not match its published checksum" in err
    assert not CandleStore(env, "binance").files("ETH", "1h")

    lone = tmp_path / "lone" / kl.name  # no .CHECKSUM beside it: imported, with a warning
    lone.parent.mkdir()
    shutil.copy(kl, lone)
    code, out, err = run(("data", "import", str(lone), "--coin", "SOL", "--interval", "1h"),
                         capsys)
    assert code == 0 and "warning: no BTCUSDT-1h-2024-01.zip.CHECKSUM beside" in err
