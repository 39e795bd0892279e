"""What a parsed file holds (`Parsed`, with every `BadRow`) and the errors and checks every
parser shares: importers.py (candle CSVs, asset contexts) and l2.py (L2 snapshots)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa


class ImportFormatError(ValueError):
    """The file as a whole cannot be imported (unknown format, missing columns, wrong interval):
    a usage error, as opposed to bad rows."""


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int  # 1-based line in the original file, banner and header lines counted
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Parsed:
    """What a file holds once parsed: `table` has only the good rows, sorted by t, exact
    duplicates removed. `gaps` counts holes in the candle sequence, `missing` the candles in them.
    Candles also carry their `interval` (given or inferred) and, when the file has a funding
    column, `funding`: the rate paid over each bar, one per table row (NaN: not observed)."""

    kind: str  # "candles" | "asset_ctxs" | "l2book"
    table: pa.Table
    rows_read: int
    duplicates: int = 0
    bad: tuple[BadRow, ...] = ()
    gaps: int = 0
    missing: int = 0
    other_coin_rows: int = 0
    interval: str | None = None
    funding: np.ndarray | None = None

    @property
    def first(self) -> int | None:
        return int(self.table.column("t")[0].as_py()) if self.table.num_rows else None

    @property
    def last(self) -> int | None:
        return int(self.table.column("t")[-1].as_py()) if self.table.num_rows else None


def iso(ms: int) -> str:
    """An open time in ms as ISO-8601 UTC (milliseconds shown only when present)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


def dedupe(t: np.ndarray, values: np.ndarray, lines: np.ndarray, ok: np.ndarray,
           why: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """Among rows `ok`, keep the first of each run of exact duplicates (same t, same values) and
    mark every row of a time that carries different values as bad. Returns (keep, duplicates)."""
    keep = ok.copy()
    idx = np.nonzero(ok)[0]
    if idx.size == 0:
        return keep, 0
    idx = idx[np.lexsort((lines[idx], t[idx]))]
    ts = t[idx]
    vals = values[idx]
    same_t = np.r_[False, ts[1:] == ts[:-1]]
    same_v = np.r_[False, (vals[1:] == vals[:-1]).all(axis=1)] if vals.ndim == 2 else \
        np.r_[False, vals[1:] == vals[:-1]]
    group = np.cumsum(~same_t)
    conflict_groups = np.unique(group[same_t & ~same_v])
    dup = same_t & same_v
    in_conflict = np.isin(group, conflict_groups)
    dups = int((dup & ~in_conflict).sum())
    keep[idx[dup]] = False
    for g in conflict_groups:
        members = idx[group == g]
        for i in members:
            others = ", ".join(str(int(lines[j])) for j in members if j != i)
            why[i] = (f"{what} {iso(int(t[i]))} appears again with different values "
                      f"(line {others}); keep one row per {what}")
            keep[i] = False
    return keep, dups
