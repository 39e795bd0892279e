"""A `--data` spec to a Dataset: the one parser every command and agent uses.

`load_dataset(spec, data_dir)` understands
- `synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...]` (quant.synth),
- `planted[:seed=S,bars=N,edge=SHARPE,window=W]` (quant.gp.planted: evolution's proof market),
- `csv:PATH` (a candle CSV: whatever `organism data import` reads, read by the same code),
- `store:COIN/INTERVAL` (the candle store: Parquet files under
  `{data_dir}/candles/coin={COIN}/interval={INTERVAL}/*.parquet`, columns t o h l c v, with the
  funding each bar paid from the recorded asset contexts).
It sits above quant (it generates markets with quant.synth and reads files); quant.data holds
the Dataset itself.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from marketdata.importers import ImportFormatError, read_candles
from quant.data import Dataset, DataSpecError, interval_seconds
from quant.gp.planted import planted_from_options
from quant.synth import generate, parse_options

DATA_SPECS = ("synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...], "
              "planted[:seed=S,bars=N,edge=SHARPE,window=W], csv:PATH (an OHLCV or Binance "
              "kline CSV) or store:COIN/INTERVAL (the candle store, e.g. store:BTC/1h)")

__all__ = ["DATA_SPECS", "DataSpecError", "load_csv", "load_dataset", "load_store",
           "store_funding"]


def load_dataset(spec: str, data_dir: str | Path = "data") -> Dataset:
    """The dataset a `--data` spec names (see the module docstring); DataSpecError naming the
    spec and the fix when it cannot be loaded. `data_dir` is only read for `store:`."""
    kind, _, rest = spec.partition(":")
    if kind in ("synthetic", "planted"):
        try:
            if kind == "synthetic":
                return generate(parse_options(rest)).dataset
            return planted_from_options(rest)
        except ValueError as exc:
            raise DataSpecError(f"{spec}: {exc}") from None
    if kind == "csv" and rest:
        return load_csv(rest)
    if kind == "store" and "/" in rest:
        coin, _, interval = rest.partition("/")
        interval_seconds(interval)
        return load_store(coin, interval, data_dir)
    raise DataSpecError(f"--data {spec!r} not understood; use {DATA_SPECS}")


def load_csv(path: str | Path) -> Dataset:
    """A candle CSV, read by the importer `organism data import` uses (marketdata.importers.
    read_candles): generic OHLCV with banner lines, any row order, Unix/ISO/12-hour times, or
    Binance klines; the interval is the candles' usual spacing. An optional `funding` column
    holds the rate paid over each bar. Bad rows are an error naming them, never dropped."""
    p = Path(path)
    if not p.is_file():
        raise DataSpecError(f"csv:{path}: file not found; give the path to an OHLCV CSV file")
    try:
        parsed = read_candles(p)
    except ImportFormatError as exc:
        raise DataSpecError(f"csv: {exc}") from None
    except OSError as exc:
        raise DataSpecError(f"csv:{path}: cannot read it ({exc.strerror or exc}); check the "
                            f"path and permissions") from None
    if parsed.bad:
        shown = "; ".join(str(b) for b in parsed.bad[:3])
        raise DataSpecError(
            f"csv:{path}: {len(parsed.bad)} bad row(s): {shown}"
            + (" ..." if len(parsed.bad) > 3 else "")
            + f"; fix them in the file, or import the good rows with `organism data import "
              f"{path} --coin COIN --interval {parsed.interval or 'I'} --skip-bad` and use "
              f"--data store:COIN/{parsed.interval or 'I'}")
    return _table_to_dataset(parsed.table, parsed.interval, parsed.funding, f"csv:{path}")


def _table_to_dataset(table, interval: str | None, funding, name: str) -> Dataset:
    """Candle rows (t o h l c v, sorted, one per open time) as a Dataset."""
    if table.num_rows < 2 or interval is None:
        raise DataSpecError(f"{name}: needs at least 2 bars, found {table.num_rows}")
    cols = {k: table.column(k).to_numpy().astype(np.float64) for k in "ohlcv"}
    return Dataset(table.column("t").to_numpy().astype(np.int64), cols["o"], cols["h"],
                   cols["l"], cols["c"], cols["v"], interval, funding, name)


_STORE_COLUMNS = ("t", "o", "h", "l", "c", "v")


def _frame_to_dataset(df, name: str, interval: str) -> Dataset:
    """The store's rows (several files, overlapping) in time order, the first row of each open
    time kept."""
    missing = [c for c in _STORE_COLUMNS if c not in df.columns]
    if missing:
        raise DataSpecError(f"{name}: the store's files lack column(s) {', '.join(missing)}; "
                            f"found {', '.join(map(str, df.columns))}")
    tm = np.asarray(df["t"], dtype=np.int64)
    order = np.argsort(tm, kind="stable")
    tm = tm[order]
    keep = np.r_[True, np.diff(tm) != 0]
    idx = order[keep]
    tm = tm[keep]
    if len(tm) < 2:
        raise DataSpecError(f"{name}: needs at least 2 bars, found {len(tm)}")
    cols = {k: np.ascontiguousarray(df[k].to_numpy()[idx], dtype=np.float64) for k in "ohlcv"}
    return Dataset(tm, cols["o"], cols["h"], cols["l"], cols["c"], cols["v"], interval, None,
                   name)


def load_store(coin: str, interval: str, data_dir: str | Path) -> Dataset:
    """Candles from the market-data store, with the funding each bar paid from the store's
    asset contexts when it has any (see `store_funding`)."""
    import pandas as pd

    folder = Path(data_dir) / "candles" / f"coin={coin}" / f"interval={interval}"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise DataSpecError(
            f"store:{coin}/{interval}: no candles under {folder}; fetch them first with the "
            f"market-data agent, or point --config's organism.data_dir at the store"
        )
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    ds = _frame_to_dataset(df, f"store:{coin}/{interval}", interval)
    funding = store_funding(data_dir, coin, ds.time_ms, ds.bar_seconds * 1000)
    return ds if funding is None else replace(ds, funding=funding)


FUNDING_STALE_MS = 3 * 3_600_000  # an older funding observation is not used for a payment


def store_funding(data_dir: str | Path, coin: str, time_ms: np.ndarray,
                  bar_ms: int) -> np.ndarray | None:
    """Funding paid over each bar, from the asset contexts the market-data agent records
    (`funding` is Hyperliquid's hourly rate). Hyperliquid pays at every hour mark, so a bar
    opening at t pays at each mark h with t < h <= t + bar (its close; sub-hour bars pay only
    when they close on the hour), at the last rate observed at or before h. A bar with a mark
    and no observation within FUNDING_STALE_MS before it gets NaN: the simulator then charges
    its constant rate. None when the store has no contexts for the coin."""
    import pandas as pd

    files = sorted((Path(data_dir) / "asset_ctxs" / f"coin={coin}").glob("*.parquet"))
    if not files:
        return None
    ctx = pd.concat([pd.read_parquet(f, columns=["t", "funding"]) for f in files])
    ctx = ctx.dropna().drop_duplicates("t").sort_values("t")
    if ctx.empty:
        return None
    obs_t = ctx["t"].to_numpy(np.int64)
    obs_rate = ctx["funding"].to_numpy(np.float64)
    hour = 3_600_000
    out = np.zeros(time_ms.shape[0])
    first = (time_ms // hour + 1) * hour  # first mark after each bar's open
    marks_per_bar = np.maximum(0, (time_ms + bar_ms - first) // hour + 1)
    for k in range(int(marks_per_bar.max(initial=0))):
        has = marks_per_bar > k
        h = first[has] + k * hour
        i = np.searchsorted(obs_t, h, side="right") - 1
        ok = i >= 0
        rate = np.full(h.shape[0], np.nan)
        rate[ok] = np.where(h[ok] - obs_t[i[ok]] <= FUNDING_STALE_MS, obs_rate[i[ok]], np.nan)
        out[has] += rate
    return out
