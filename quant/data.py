"""Datasets for backtests: OHLCV (+ optional funding) as float64 numpy arrays and a bar interval.

`load_dataset(spec, data_dir)` understands the `--data` forms every command accepts:
`synthetic[:seed=S,bars=N,interval=1h]`, `csv:PATH` and `store:COIN/INTERVAL` (Parquet files
under `{data_dir}/candles/coin={COIN}/interval={INTERVAL}/*.parquet`, columns t o h l c v).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SECONDS_PER_YEAR = 365 * 86400  # crypto trades 24/7


class DataSpecError(ValueError):
    """A `--data` spec that cannot be loaded; the message names the spec and the fix."""


def interval_seconds(interval: str) -> int:
    m = re.fullmatch(r"(\d+)([smhdw])", interval.strip())
    if not m:
        raise DataSpecError(f"bar interval {interval!r} not understood; use e.g. 1m, 15m, 1h, 1d")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Bars in time order. Prices float64; `time_ms` is each bar's open time (ms, UTC).

    `funding` is the funding rate accrued over each bar (fraction of notional, positive = longs
    pay), or None when the source has none; the simulator uses its constant hourly rate for
    None and for NaN bars (no observation).
    """

    time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    interval: str = "1h"
    funding: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        n = self.close.shape[0]
        for col in ("time_ms", "open", "high", "low", "close", "volume"):
            if getattr(self, col).shape != (n,):
                raise ValueError(f"dataset column {col} has shape {getattr(self, col).shape}, "
                                 f"expected ({n},)")
        interval_seconds(self.interval)

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def bar_seconds(self) -> int:
        return interval_seconds(self.interval)

    @property
    def bars_per_year(self) -> float:
        return SECONDS_PER_YEAR / self.bar_seconds

    def slice(self, start: int = 0, stop: int | None = None) -> Dataset:
        """Bars [start, stop): a prefix of the data is how the look-ahead test cuts it."""
        sl = slice(start, stop)
        return Dataset(
            self.time_ms[sl], self.open[sl], self.high[sl], self.low[sl], self.close[sl],
            self.volume[sl], self.interval,
            None if self.funding is None else self.funding[sl], self.name,
        )


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def synthetic(seed: int = 0, bars: int = 5000, interval: str = "1h",
              annual_vol: float = 0.6, start_ms: int = 1_704_067_200_000) -> Dataset:
    """A seeded random-walk market (no edge): log-normal closes, plausible highs/lows/volumes."""
    rng = np.random.default_rng(seed)
    sec = interval_seconds(interval)
    sigma = annual_vol * np.sqrt(sec / SECONDS_PER_YEAR)
    rets = rng.standard_normal(bars) * sigma
    close = 30_000.0 * np.exp(np.cumsum(rets))
    open_ = np.empty(bars)
    open_[0] = 30_000.0
    open_[1:] = close[:-1] * np.exp(rng.standard_normal(bars - 1) * sigma * 0.05)
    wick = np.abs(rng.standard_normal((2, bars))) * sigma * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(3.0, 0.5, bars) * (1.0 + 50.0 * np.abs(rets))
    time_ms = start_ms + np.arange(bars, dtype=np.int64) * sec * 1000
    return Dataset(time_ms, _f64(open_), _f64(high), _f64(low), _f64(close), _f64(volume),
                   interval, None, f"synthetic:seed={seed},bars={bars}")


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
        step_s = int(np.median(np.diff(tm)) // 1000)
        interval = next((f"{step_s // u}{k}" for k, u in sorted(_UNIT_S.items(),
                         key=lambda kv: -kv[1]) if step_s % u == 0), f"{step_s}s")
    funding = None
    if "funding" in lower:
        funding = _f64(df[lower["funding"]].to_numpy()[idx])
    cols = {k: _f64(df[c].to_numpy()[idx]) for k, c in picked.items() if k != "time"}
    return Dataset(tm, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
                   interval, funding, name)


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


def load_dataset(spec: str, data_dir: str | Path = "data") -> Dataset:
    """Load a `--data` spec: synthetic[:seed=S,bars=N,interval=I,mode=noise|edge|regimes,edge=SR,...]
    (see quant.synth.SynthSpec) | csv:PATH | store:COIN/INTERVAL."""
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        # the full generator (regimes, GARCH, jumps, funding, noise or planted edge)
        from quant.synth import generate, parse_options

        try:
            return generate(parse_options(rest)).dataset
        except ValueError as exc:
            raise DataSpecError(f"{spec}: {exc}") from None
    if kind == "csv" and rest:
        return load_csv(rest)
    if kind == "store" and "/" in rest:
        coin, _, interval = rest.partition("/")
        interval_seconds(interval)
        return load_store(coin, interval, data_dir)
    raise DataSpecError(f"--data {spec!r} not understood; use synthetic[:seed=S,bars=N], "
                        f"csv:PATH or store:COIN/INTERVAL")
