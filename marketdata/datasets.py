"""A `--data` spec to a Dataset: the one parser every command and agent uses.

`load_dataset(spec, data_dir)` understands
- `synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...]` (quant.synth),
- `planted[:seed=S,bars=N,edge=SHARPE,window=W]` (quant.gp.planted: evolution's proof market),
- `csv:PATH` (an OHLCV CSV),
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

from quant.data import Dataset, DataSpecError, interval_name, interval_seconds
from quant.gp.planted import planted_from_options
from quant.synth import generate, parse_options

DATA_SPECS = ("synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SHARPE,...], "
              "planted[:seed=S,bars=N,edge=SHARPE,window=W], csv:PATH (an OHLCV CSV) or "
              "store:COIN/INTERVAL (the candle store, e.g. store:BTC/1h)")

__all__ = ["DATA_SPECS", "DataSpecError", "load_csv", "load_dataset", "load_store",
           "store_funding"]


def load_dataset(spec: str, data_dir: str | Path = "data") -> Dataset:
    """The dataset a `--data` spec names (see the module docstring); DataSpecError naming the
    spec and the fix when it cannot be loaded. `data_dir` is only read for `store:`."""
    kind, _, rest = spec.partition(":")
    if kind in ("synthetic", "planted"):
        make = (lambda text: generate(parse_options(text)).dataset) if kind == "synthetic" \
            else planted_from_options
        try:
            return make(rest)
        except ValueError as exc:
            raise DataSpecError(f"{spec}: {exc}") from None
    if kind == "csv" and rest:
        return load_csv(rest)
    if kind == "store" and "/" in rest:
        coin, _, interval = rest.partition("/")
        interval_seconds(interval)
        return load_store(coin, interval, data_dir)
    raise DataSpecError(f"--data {spec!r} not understood; use {DATA_SPECS}")


_COLS = {
    "time": ("t", "time", "timestamp", "open_time", "date", "datetime"),
    "open": ("o", "open"),
    "high": ("h", "high"),
    "low": ("l", "low"),
    "close": ("c", "close"),
    "volume": ("v", "volume", "vol"),
}


def _frame_to_dataset(df, name: str, interval: str | None) -> Dataset:
    import pandas as pd

    lower = {str(c).strip().lower(): c for c in df.columns}
    picked = {}
    for key, options in _COLS.items():
        col = next((lower[o] for o in options if o in lower), None)
        if col is None:
            raise DataSpecError(f"{name}: no {key} column (looked for {', '.join(options)}); "
                                f"found {', '.join(map(str, df.columns))}")
        picked[key] = col
    t = df[picked["time"]]
    if pd.api.types.is_numeric_dtype(t):
        tm = np.asarray(t, dtype=np.int64)
        if tm.size and tm.max() < 10**11:  # seconds, not milliseconds
            tm = tm * 1000
    else:
        # pandas 3 infers the resolution (s, ms, ns) from the text: convert explicitly to ms
        tm = np.asarray(pd.to_datetime(t, utc=True).dt.as_unit("ms").astype("int64"),
                        dtype=np.int64)
    order = np.argsort(tm, kind="stable")
    tm = tm[order]
    keep = np.r_[True, np.diff(tm) != 0]
    idx = order[keep]
    tm = tm[keep]
    if len(tm) < 2:
        raise DataSpecError(f"{name}: needs at least 2 bars, found {len(tm)}")
    if interval is None:
        interval = interval_name(int(np.median(np.diff(tm)) // 1000))
    funding = None
    if "funding" in lower:
        funding = _f64(df[lower["funding"]].to_numpy()[idx])
    cols = {k: _f64(df[c].to_numpy()[idx]) for k, c in picked.items() if k != "time"}
    return Dataset(tm, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
                   interval, funding, name)


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def load_csv(path: str | Path) -> Dataset:
    """Plain OHLCV CSV: a time column (ms, s or ISO text) and open/high/low/close/volume
    (or o/h/l/c/v); an optional `funding` column holds the per-bar funding rate."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataSpecError(f"csv:{path}: file not found; give the path to an OHLCV CSV file")
    return _frame_to_dataset(pd.read_csv(p), f"csv:{path}", None)


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
