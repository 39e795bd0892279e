"""The candle store: Parquet partitioned by coin and interval, append-only, de-duplicated on open
time, with DuckDB views over it.

Layout (what `marketdata.datasets.load_store` reads): `{root}/candles/coin={COIN}/interval={I}/*.parquet`
with columns t (open time, ms), o, h, l, c, v (float64) and n (trades). Each append writes one new
file holding only candles whose open time the partition does not have yet; `compact` folds many
small files into one (the live feed appends one candle at a time). Asset contexts (funding, mark,
oracle) live beside it under `asset_ctxs/coin={COIN}/`, L2 snapshots under `l2book/coin={COIN}/`.

Sources. Within one source the first row written for an open time stays (an append never
rewrites). Several sources may hold the same coin: the store's own candles (`hyperliquid`: the
live feed, backfill, imports) under `{root}/`, and each other source with the same layout under
`{root}/sources/{SOURCE}/` (`binance`: USD-M futures klines and funding rates from Binance's
public archive, marketdata/binance.py). Reading `store:COIN/INTERVAL` joins them in SOURCES
order: where several hold a bar, the first source's bar is taken (Hyperliquid's own candles win).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CANDLE_SCHEMA = pa.schema(
    [
        ("t", pa.int64()),
        ("o", pa.float64()),
        ("h", pa.float64()),
        ("l", pa.float64()),
        ("c", pa.float64()),
        ("v", pa.float64()),
        ("n", pa.int64()),
    ]
)
CTX_SCHEMA = pa.schema(
    [
        ("t", pa.int64()),
        ("funding", pa.float64()),
        ("open_interest", pa.float64()),
        ("premium", pa.float64()),
        ("oracle_px", pa.float64()),
        ("mark_px", pa.float64()),
        ("mid_px", pa.float64()),
    ]
)
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000,
    "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip  ("1M" is calendar months: stored, but has no fixed spacing)
COMPACT_AFTER_FILES = 64
# Candle sources, in order of precedence: where two hold the same open time the first one's bar
# is read. "hyperliquid" is the store's own (the feed, backfill, imports).
SOURCES = ("hyperliquid", "binance")
_TOKEN = re.compile(r"^[^\s/\\=.]+$")


class StoreError(ValueError):
    pass


def interval_ms(interval: str) -> int | None:
    if interval == "1M":
        return None
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise StoreError(
            f"interval {interval!r} unknown; use one of {', '.join([*INTERVAL_MS, '1M'])}"
        ) from None


@dataclass(frozen=True)
class Coverage:
    coin: str
    interval: str
    first: int  # open time of the first candle, ms
    last: int
    rows: int
    gaps: list[tuple[int, int]]  # (last present before, first present after) open times, ms
    files: int

    @property
    def missing(self) -> int:
        step = interval_ms(self.interval)
        if not step:
            return 0
        return sum((b - a) // step - 1 for a, b in self.gaps)


def source_root(root: str | os.PathLike[str], source: str) -> Path:
    """Where a source's candles and asset contexts live under the store's root."""
    if source not in SOURCES:
        raise StoreError(f"source {source!r} unknown; use one of {', '.join(SOURCES)}")
    return Path(root) if source == SOURCES[0] else Path(root) / "sources" / source


class CandleStore:
    """One writer per partition at a time (the market-data agent, or one CLI import).
    `source`: whose candles (SOURCES; the store's own by default)."""

    def __init__(self, root: str | os.PathLike[str], source: str = SOURCES[0]) -> None:
        self.root = Path(root)
        self.source = source
        self.base = source_root(root, source)
        self._known: dict[tuple[str, str], set[int]] = {}

    # --- paths ------------------------------------------------------------------------------
    def partition(self, coin: str, interval: str) -> Path:
        if not _TOKEN.match(coin):
            raise StoreError(f"coin {coin!r} cannot name a store partition")
        interval_ms(interval)
        return self.base / "candles" / f"coin={coin}" / f"interval={interval}"

    def files(self, coin: str, interval: str) -> list[Path]:
        return sorted(self.partition(coin, interval).glob("*.parquet"))

    # --- writing ----------------------------------------------------------------------------
    def open_times(self, coin: str, interval: str) -> set[int]:
        key = (coin, interval)
        if key not in self._known:
            times: set[int] = set()
            for f in self.files(coin, interval):
                times.update(pq.read_table(f, columns=["t"]).column("t").to_pylist())
            self._known[key] = times
        return self._known[key]

    def append(self, coin: str, interval: str, table: pa.Table) -> int:
        """Append candles (columns as CANDLE_SCHEMA; `n` optional). Rows whose open time is
        already stored, or repeated within `table`, are skipped. Returns rows written."""
        table = _conform(table, CANDLE_SCHEMA, fill={"n": 0})
        known = self.open_times(coin, interval)
        new = new_rows(table, known)
        if new is None:
            return 0
        folder = self.partition(coin, interval)
        folder.mkdir(parents=True, exist_ok=True)
        ts = new.column("t").to_numpy()
        name = f"{int(ts[0])}-{int(ts[-1])}-{uuid.uuid4().hex[:8]}.parquet"
        _atomic_write(new, folder / name)
        known.update(int(x) for x in ts)
        if len(self.files(coin, interval)) > COMPACT_AFTER_FILES:
            self.compact(coin, interval)
        return new.num_rows

    def compact(self, coin: str, interval: str, small_bytes: int = 1 << 20) -> None:
        compact_folder(self.partition(coin, interval), small_bytes)

    def ctx_folder(self, coin: str) -> Path:
        if not _TOKEN.match(coin):
            raise StoreError(f"coin {coin!r} cannot name a store partition")
        return self.base / "asset_ctxs" / f"coin={coin}"

    def append_ctx(self, coin: str, table: pa.Table) -> int:
        """Asset contexts (funding, mark, oracle ...) for one coin, de-duplicated on t; columns
        missing from `table` (funding history has no prices) are stored as nulls."""
        folder = self.ctx_folder(coin)
        missing = {f.name for f in CTX_SCHEMA} - set(table.column_names) - {"t"}
        for name in sorted(missing):
            table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
        written = append_unique(folder, _conform(table, CTX_SCHEMA, fill={}))
        if written and len(list(folder.glob("*.parquet"))) > COMPACT_AFTER_FILES:
            compact_folder(folder)
        return written

    def last_ctx_time(self, coin: str, with_funding: bool = True) -> int | None:
        """The latest asset-context time stored for `coin` (with a funding rate, by default)."""
        files = sorted(self.ctx_folder(coin).glob("*.parquet"))
        if not files:
            return None
        table = read_range(files, CTX_SCHEMA)
        if with_funding:
            table = table.filter(pc.is_valid(table.column("funding")))
        return int(table.column("t")[-1].as_py()) if table.num_rows else None

    # --- reading ----------------------------------------------------------------------------
    def read(self, coin: str, interval: str, start: int | None = None, end: int | None = None) -> pa.Table:
        return read_range(self.files(coin, interval), CANDLE_SCHEMA, start, end)

    def last_open_time(self, coin: str, interval: str) -> int | None:
        times = self.open_times(coin, interval)
        return max(times) if times else None

    def partitions(self) -> list[tuple[str, str]]:
        out = []
        for coin_dir in sorted((self.base / "candles").glob("coin=*")):
            for iv_dir in sorted(coin_dir.glob("interval=*")):
                if any(iv_dir.glob("*.parquet")):
                    out.append((coin_dir.name[5:], iv_dir.name[9:]))
        return out

    def coverage(self, coin: str, interval: str) -> Coverage:
        t = np.sort(np.fromiter(self.open_times(coin, interval), np.int64))
        files = len(self.files(coin, interval))
        if t.size == 0:
            return Coverage(coin, interval, 0, 0, 0, [], files)
        step = interval_ms(interval)
        gaps: list[tuple[int, int]] = []
        if step and t.size > 1:
            d = np.diff(t)
            for i in np.nonzero(d > step)[0]:
                gaps.append((int(t[i]), int(t[i + 1])))
        return Coverage(coin, interval, int(t[0]), int(t[-1]), int(t.size), gaps, files)

    def ctx_coins(self) -> list[str]:
        """Coins with asset contexts (funding) in this source."""
        return sorted(d.name[5:] for d in (self.base / "asset_ctxs").glob("coin=*")
                      if any(d.glob("*.parquet")))

    def read_ctx(self, coin: str) -> pa.Table:
        """Every asset context of `coin` in this source, sorted by t."""
        return read_range(sorted(self.ctx_folder(coin).glob("*.parquet")), CTX_SCHEMA)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with views `candles` (coin, interval, t, o, h, l, c,
        v, n) and `asset_ctxs` (coin, t, funding, ...) over the store's own Parquet files (the
        hyperliquid source)."""
        con = duckdb.connect()
        candles = self.root / "candles" / "*" / "*" / "*.parquet"
        ctxs = self.root / "asset_ctxs" / "*" / "*.parquet"
        if any((self.root / "candles").glob("*/*/*.parquet")):
            con.execute(
                f"CREATE VIEW candles AS SELECT coin, interval, t, o, h, l, c, v, n FROM "
                f"read_parquet('{candles}', hive_partitioning = true)"
            ).fetchall()
        else:
            con.execute(
                "CREATE VIEW candles AS SELECT * FROM (SELECT ''::VARCHAR AS coin, "
                "''::VARCHAR AS interval, 0::BIGINT AS t, 0.0 AS o, 0.0 AS h, 0.0 AS l, "
                "0.0 AS c, 0.0 AS v, 0::BIGINT AS n) WHERE false"
            ).fetchall()
        if any((self.root / "asset_ctxs").glob("*/*.parquet")):
            con.execute(
                f"CREATE VIEW asset_ctxs AS SELECT * FROM "
                f"read_parquet('{ctxs}', hive_partitioning = true)"
            ).fetchall()
        return con


def _coverage_of(coin: str, interval: str, times: np.ndarray, files: int) -> Coverage:
    t = np.sort(times)
    if t.size == 0:
        return Coverage(coin, interval, 0, 0, 0, [], files)
    step = interval_ms(interval)
    gaps: list[tuple[int, int]] = []
    if step and t.size > 1:
        for i in np.nonzero(np.diff(t) > step)[0]:
            gaps.append((int(t[i]), int(t[i + 1])))
    return Coverage(coin, interval, int(t[0]), int(t[-1]), int(t.size), gaps, files)


@dataclass(frozen=True)
class SourceShare:
    """One source's part of a joined series: what it holds and what the join takes from it."""

    source: str
    held: Coverage
    used: int  # bars the join reads from this source (the others won the rest)
    used_first: int  # open time of the first and last bar it gives, ms (0 when none)
    used_last: int


def series(root: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every (coin, interval) any source holds, sorted."""
    return sorted({p for src in SOURCES for p in CandleStore(root, src).partitions()})


def joined_coverage(root: str | os.PathLike[str], coin: str,
                    interval: str) -> tuple[Coverage, list[SourceShare]]:
    """Coverage of `store:COIN/INTERVAL` as read (every source joined, the first source of
    SOURCES winning where several hold a bar), and each source's share (sources holding
    nothing left out)."""
    taken = np.empty(0, np.int64)
    shares = []
    files = 0
    for src in SOURCES:
        st = CandleStore(root, src)
        if not st.files(coin, interval):
            continue
        t = np.fromiter(st.open_times(coin, interval), np.int64)
        held = st.coverage(coin, interval)
        files += held.files
        mine = np.setdiff1d(t, taken, assume_unique=True)
        shares.append(SourceShare(src, held, int(mine.size),
                                  int(mine.min()) if mine.size else 0,
                                  int(mine.max()) if mine.size else 0))
        taken = np.union1d(taken, t)
    return _coverage_of(coin, interval, taken, files), shares


def funding_span(root: str | os.PathLike[str], coin: str,
                 source: str) -> tuple[int, int, int] | None:
    """(first, last, count) of the funding rates a source holds for `coin` (times in ms)."""
    ctx = CandleStore(root, source).read_ctx(coin)
    ctx = ctx.filter(pc.is_valid(ctx.column("funding")))
    if not ctx.num_rows:
        return None
    t = ctx.column("t").to_numpy()
    return int(t[0]), int(t[-1]), int(t.size)


def new_rows(table: pa.Table, known: set[int]) -> pa.Table | None:
    """The rows of `table` whose `t` is neither in `known` nor repeated earlier in `table`, sorted
    by t; None when there are none. The first occurrence wins: stored rows are never rewritten."""
    t = table.column("t").to_numpy()
    _, first_idx = np.unique(t, return_index=True)
    keep = np.zeros(len(t), bool)
    keep[first_idx] = True
    if known and len(t) < 1000:  # the live feed's case: look up, don't rebuild an array
        keep &= np.fromiter((int(x) not in known for x in t), bool, len(t))
    elif known:
        keep &= ~np.isin(t, np.fromiter(known, np.int64, len(known)))
    if not keep.any():
        return None
    return table.filter(pa.array(keep)).sort_by("t")


def read_range(files: list[Path], schema: pa.Schema, start: int | None = None,
               end: int | None = None) -> pa.Table:
    """Rows of the Parquet `files` with start <= t <= end (ms; None = open), sorted by t."""
    if not files:
        return schema.empty_table()
    table = pa.concat_tables([pq.read_table(f, schema=schema) for f in files]).sort_by("t")
    t = table.column("t").to_numpy()
    mask = np.ones(len(t), bool)
    if start is not None:
        mask &= t >= start
    if end is not None:
        mask &= t <= end
    return table.filter(pa.array(mask))


def append_unique(folder: Path, table: pa.Table) -> int:
    """Append to a folder of Parquet files keyed on `t`: rows whose t is already there are
    skipped, the rest written as one new file atomically. Returns rows written."""
    existing: set[int] = set()
    for f in sorted(folder.glob("*.parquet")):
        existing.update(pq.read_table(f, columns=["t"]).column("t").to_pylist())
    new = new_rows(table, existing)
    if new is None:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    ts = new.column("t").to_numpy()
    _atomic_write(new, folder / f"{int(ts[0])}-{int(ts[-1])}-{uuid.uuid4().hex[:8]}.parquet")
    return new.num_rows


def compact_folder(folder: Path, small_bytes: int = 1 << 20) -> None:
    """Fold a folder's small Parquet files into one sorted file (same rows; readers never see a
    partial set). Large files stay as they are, so the cost stays bounded as history grows."""
    files = [f for f in sorted(folder.glob("*.parquet")) if f.stat().st_size < small_bytes]
    if len(files) <= 1:
        return
    table = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("t")
    ts = table.column("t").to_numpy()
    target = folder / f"{int(ts[0])}-{int(ts[-1])}-compact-{uuid.uuid4().hex[:8]}.parquet"
    _atomic_write(table, target)
    for f in files:
        f.unlink()


def warm_up() -> None:
    """Pay pyarrow's one-time start-up (compute kernels, Parquet writer) now rather than while
    the first candle waits: hundreds of ms with the GIL held."""
    import io

    t = candles_table([dict(t=1, o=1.0, h=1.0, l=1.0, c=1.0, v=1.0)])
    t = t.filter(pa.array([True])).sort_by("t")
    np.isin(t.column("t").to_numpy(), np.array([0], np.int64))
    pq.write_table(t, io.BytesIO())


def _conform(table: pa.Table, schema: pa.Schema, fill: dict[str, int]) -> pa.Table:
    cols = []
    for field in schema:
        if field.name in table.column_names:
            cols.append(table.column(field.name).cast(field.type))
        elif field.name in fill:
            cols.append(pa.array([fill[field.name]] * table.num_rows, field.type))
        else:
            raise StoreError(f"candles to store lack column {field.name!r}")
    return pa.Table.from_arrays(cols, schema=schema)


def _atomic_write(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def candles_table(rows: list[dict]) -> pa.Table:
    """Build a table from dicts with keys t, o, h, l, c, v[, n]."""
    return pa.Table.from_pylist(
        [{"n": 0, **r} for r in rows], schema=CANDLE_SCHEMA
    )
