"""Write the small Binance archive the fetch tests serve: the layout of data.binance.vision (USD-M
monthly klines and funding rates, each zip with its `.CHECKSUM`) for BTCUSDT 1h, January and
February 2024, from a seeded synthetic market. January's klines carry the header line recent
files have, February's none, as older files; a few payment times sit 1 ms past the hour, as
real ones do.

    .venv/bin/python -m tests.marketdata.make_binance_archive

Zips are byte-for-byte reproducible (fixed member dates), so the checksums never change.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from marketdata.binance import funding_file, kline_file
from quant.data import synthetic

ROOT = Path(__file__).with_name("fixtures") / "binance_archive"
SYMBOL = "BTCUSDT"
MONTHS = ((2024, 1, 744, True), (2024, 2, 696, False))  # year, month, hours, header line
JAN_1 = 1_704_067_200_000
HOUR = 3_600_000
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")


def _zip(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name.removesuffix(".zip") + ".csv", date_time=(2024, 3, 4, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)
    return buf.getvalue()


def _write(path: str, text: str) -> None:
    name = path.rsplit("/", 1)[-1]
    data = _zip(name, text)
    out = ROOT / path
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    (ROOT / (path + ".CHECKSUM")).write_text(f"{hashlib.sha256(data).hexdigest()}  {name}\n")


def main() -> None:
    bars = sum(m[2] for m in MONTHS)
    d = synthetic(seed=11, bars=bars, start_ms=JAN_1)
    rng = np.random.default_rng(11)
    start = 0
    for year, month, hours, header in MONTHS:
        rows = [KLINE_HEADER] if header else []
        for i in range(start, start + hours):
            t = int(d.time_ms[i])
            o, h, lo, c, v = (d.open[i], d.high[i], d.low[i], d.close[i], d.volume[i])
            rows.append(f"{t},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v:.3f},{t + HOUR - 1},"
                        f"{v * c:.4f},{int(v * 7)},{v / 2:.3f},{v * c / 2:.4f},0")
        _write(kline_file(SYMBOL, "1h", year, month), "\n".join(rows) + "\n")
        pays = ["calc_time,funding_interval_hours,last_funding_rate"]
        for k in range(hours // 8):
            t = int(d.time_ms[start]) + k * 8 * HOUR + (1 if k % 5 == 0 else 0)
            pays.append(f"{t},8,{0.0001 + 0.00005 * rng.standard_normal():.8f}")
        _write(funding_file(SYMBOL, year, month), "\n".join(pays) + "\n")
        start += hours
    print(f"wrote {ROOT}")


if __name__ == "__main__":
    main()
