"""A `--data` spec to a Dataset: the one parser every command and agent uses.

`load_dataset(spec, data_dir)` understands
- `synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...]` (quant.synth),
- `planted[:seed=S,bars=N,edge=SHARPE,window=W]` (quant.gp.planted: evolution's proof market),
- `csv:PATH` (a candle CSV: whatever `organism data import` reads, read by the same code),
- `store:COIN/INTERVAL[@SOURCE]` (the candle store: Parquet files under
  `{data_dir}/candles/coin={COIN}/interval={INTERVAL}/*.parquet`, columns t o h l c v, with the
  funding each bar paid from the recorded asset contexts; joined with the other sources of
  marketdata.store.SOURCES, Hyperliquid's own bars winning where both have one, and
  Binance's funding charged before Hyperliquid's begins; `@binance` or `@hyperliquid` reads
  one source alone).
It sits above quant (it generates markets with quant.synth and reads files); quant.data holds
the Dataset itself.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from marketdata.importers import ImportFormatError, read_candles
from marketdata.store import SOURCES, source_root
from quant.data import Dataset, DataSpecError, interval_seconds
from quant.gp.planted import planted_from_options
from quant.synth import generate, parse_options

DATA_SPECS = ("synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...], "
              "planted[:seed=S,bars=N,edge=SHARPE,window=W], csv:PATH (an OHLCV or Binance "
              "kline CSV) or store:COIN/INTERVAL[@SOURCE] (the candle store, e.g. store:BTC/1h: "
              "its sources joined, Hyperliquid's bars first)")

__all__ = ["DATA_SPECS", "DataSpecError", "joined_funding", "load_csv", "load_dataset",
           "load_store", "store_funding"]


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
        interval, _, source = interval.partition("@")
        interval_seconds(interval)
        if source and source not in SOURCES:
            raise DataSpecError(f"--data {spec!r}: source {source!r} unknown; use one of "
                                f"{', '.join(SOURCES)}, or no @SOURCE for all of them joined")
        return load_store(coin, interval, data_dir, source or None)
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
    """The store's rows (several files, overlapping, sources in order of precedence) in time
    order, the first row of each open time kept."""
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


def load_store(coin: str, interval: str, data_dir: str | Path,
               source: str | None = None) -> Dataset:
    """Candles from the market-data store, with the funding each bar paid (see
    `joined_funding`). `source` None: every source joined, in SOURCES order (where two hold a
    bar, the first one's is taken: Hyperliquid's own candles win); else that source alone."""
    import pandas as pd

    sources = SOURCES if source is None else (source,)
    frames = []
    for src in sources:
        folder = source_root(data_dir, src) / "candles" / f"coin={coin}" / f"interval={interval}"
        frames += [pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))]
    name = f"store:{coin}/{interval}" + (f"@{source}" if source else "")
    if not frames:
        folder = source_root(data_dir, sources[0]) / "candles" / f"coin={coin}" / \
            f"interval={interval}"
        raise DataSpecError(
            f"{name}: no candles under {folder}"
            + (" nor from any other source" if source is None else "")
            + "; fetch them first with the market-data agent or `organism data backfill`, "
              f"years of them with `organism data fetch --source binance --coin {coin} "
              f"--interval {interval} --since 2019-01-01 --live`, or point --config's "
              f"organism.data_dir at the store")
    df = pd.concat(frames, ignore_index=True)
    ds = _frame_to_dataset(df, name, interval)
    funding = joined_funding(data_dir, coin, ds.time_ms, ds.bar_seconds * 1000, source)
    return ds if funding is None else replace(ds, funding=funding)


def joined_funding(data_dir: str | Path, coin: str, time_ms: np.ndarray, bar_ms: int,
                   source: str | None = None) -> np.ndarray | None:
    """Funding paid over each bar: Hyperliquid's (`store_funding`) from its first recorded
    rate on, Binance's payments (marketdata.binance.funding_per_bar) before it, or where
    Hyperliquid's store has none at all. NaN where neither knows (the simulator then charges
    its constant rate); None when no source has funding for the coin."""
    hl = store_funding(data_dir, coin, time_ms, bar_ms) if source in (None, SOURCES[0]) \
        else None
    bn = None
    if source in (None, "binance"):
        from marketdata.binance import SOURCE, funding_per_bar
        from marketdata.store import CandleStore

        ctx = CandleStore(data_dir, SOURCE).read_ctx(coin)
        if ctx.num_rows:
            import pyarrow.compute as pc

            ctx = ctx.filter(pc.is_valid(ctx.column("funding")))
            bn = funding_per_bar(ctx.column("t").to_numpy(), ctx.column("funding").to_numpy(),
                                 time_ms, bar_ms)
    if hl is None or bn is None:
        return hl if bn is None else bn
    first = _first_funding(data_dir, coin)
    return np.where(time_ms < first, bn, hl) if first is not None else hl


def _first_funding(data_dir: str | Path, coin: str) -> int | None:
    """Open time (ms) of Hyperliquid's first recorded funding rate for `coin`."""
    import pandas as pd

    files = sorted((Path(data_dir) / "asset_ctxs" / f"coin={coin}").glob("*.parquet"))
    if not files:
        return None
    ctx = pd.concat([pd.read_parquet(f, columns=["t", "funding"]) for f in files]).dropna()
    return int(ctx["t"].min()) if not ctx.empty else None


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
