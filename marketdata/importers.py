"""Importers: candle CSVs (generic OHLCV, Binance klines) and Hyperliquid's `asset_ctxs` archive
files, parsed and validated into tables the CandleStore takes. L2 snapshots: marketdata/l2.py.

Parsing is pure (lines of text in, a `Parsed` out: the table plus every `BadRow` with its file,
1-based line in the original file and reason); `open_lines` is the one reader (plain text or an
LZ4 frame, told apart by the magic number, not the name). Times are UTC; text without a zone is
read as UTC. Nothing here writes: the CLI decides whether bad rows abort the import.
`read_candles` is the one candle-CSV reader: `organism data import` and the `csv:PATH` data spec
(marketdata.datasets) both read through it, so a file one takes the other takes too.
`Parsed`, `BadRow` and `ImportFormatError` live in marketdata.parsed (shared with l2.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketdata.l2 import parse_l2book
from marketdata.parsed import BadRow, ImportFormatError, Parsed, dedupe, iso
from marketdata.store import CANDLE_SCHEMA, CTX_SCHEMA, INTERVAL_MS, StoreError, interval_ms
from quant.data import interval_name, interval_seconds

FORMATS = ("ohlcv", "binance", "hl-l2book", "hl-asset-ctxs")
CANDLE_FORMATS = ("ohlcv", "binance")
LZ4_MAGIC = b"\x04\x22\x4d\x18"
HEAD_LINES = 10  # lines looked at to recognise a format (banner lines included)
EXPECTED = (
    "expected one of: an OHLCV CSV whose header names open, high, low and close (banner lines "
    "above it are fine) [--format ohlcv]; a headerless 12-column Binance kline CSV "
    "[--format binance]; a Hyperliquid l2Book archive file, JSON lines, usually .lz4 "
    "[--format hl-l2book]; a Hyperliquid asset_ctxs file with header time,coin,funding,... "
    "[--format hl-asset-ctxs]"
)
_DAY_MS = 86_400_000


# --- reading ----------------------------------------------------------------------------------
@contextmanager
def open_lines(path: str | Path) -> Iterator[Iterator[str]]:
    """Lines of a UTF-8 text file, plain or LZ4-frame compressed (newlines kept, BOM dropped).
    Unreadable content surfaces as ImportFormatError naming the file."""
    p = Path(path)
    with open(p, "rb") as raw:
        magic = raw.read(4)
    if magic == LZ4_MAGIC:
        import lz4.frame

        binary = lz4.frame.open(p, "rb")
    else:
        binary = open(p, "rb")
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        yield _guarded(text, p, compressed=magic == LZ4_MAGIC)
    finally:
        text.close()


def _guarded(lines: Iterable[str], path: Path, compressed: bool) -> Iterator[str]:
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {EXPECTED}"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        what = "a damaged or truncated LZ4 frame" if compressed else "unreadable"
        raise ImportFormatError(
            f"{path}: {what} ({exc}); download the file again"
        ) from None


def read_head(path: str | Path, n: int = HEAD_LINES) -> list[str]:
    with open_lines(path) as lines:
        return list(itertools.islice(lines, n))


# --- recognising formats -------------------------------------------------------------------------
_COLUMNS = {
    "open": ("open", "o", "open price", "open_price"),
    "high": ("high", "h", "high price", "high_price"),
    "low": ("low", "l", "low price", "low_price"),
    "close": ("close", "c", "close price", "close_price"),
}
# First match wins: a unix column is preferred over a date column.
_TIME = ("unix", "unix timestamp", "unix_timestamp", "unix time", "timestamp", "open_time",
         "open time", "opentime", "time", "t", "datetime", "date_time", "date time", "date")
_SYMBOL = ("symbol", "pair", "ticker", "market")
_FUNDING = ("funding", "funding rate", "funding_rate")
_TRADES = ("tradecount", "trade count", "trade_count", "trades", "count", "number of trades",
           "num_trades", "n")
CTX_COLUMNS = ("time", "coin", "funding", "open_interest", "premium", "oracle_px", "mark_px",
               "mid_px")


def _norm(cell: str) -> str:
    return " ".join(cell.strip().strip('"').lower().split())


def _delimiter(line: str) -> str:
    return max((",", ";", "\t"), key=line.count)


def _ohlcv_header(head: list[str]) -> int | None:
    """Index of the header line among the first lines, or None."""
    for i, line in enumerate(head):
        cells = {_norm(c) for c in next(csv.reader([line], delimiter=_delimiter(line)), [])}
        if all(any(o in cells for o in opts) for opts in _COLUMNS.values()):
            return i
    return None


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _first_content(head: list[str]) -> str:
    return next((line.strip() for line in head if line.strip()), "")


def _binance_mismatch(head: list[str]) -> str | None:
    line = _first_content(head)
    cells = line.split(",")
    if len(cells) != 12:
        return f"its first line has {len(cells)} comma-separated fields, a kline has 12"
    if not all(_is_number(c) for c in cells):
        return "its first line has fields that are not numbers (a header?)"
    return None


def _ctx_mismatch(head: list[str]) -> str | None:
    cells = [_norm(c) for c in _first_content(head).split(",")]
    missing = [c for c in CTX_COLUMNS if c not in cells]
    return f"its header lacks {', '.join(missing)}" if missing else None


def _l2_mismatch(head: list[str]) -> str | None:
    import json

    line = _first_content(head)
    try:
        rec = json.loads(line)
    except ValueError:
        return "its first line is not a JSON object"
    if not isinstance(rec, dict):
        return "its first line is not a JSON object"
    raw = rec.get("raw")
    if isinstance(raw, dict):
        return None if raw.get("channel") == "l2Book" else f"its channel is {raw.get('channel')!r}"
    return None if {"coin", "time", "levels"} <= rec.keys() else "its first object has no levels"


def format_mismatch(fmt: str, head: list[str]) -> str | None:
    """Why `head` (the first lines of a file) is not `fmt`, or None when it could be."""
    if fmt == "ohlcv":
        if _ohlcv_header(head) is None:
            return "no line near the top names the open, high, low and close columns"
        return None
    return {"binance": _binance_mismatch, "hl-asset-ctxs": _ctx_mismatch,
            "hl-l2book": _l2_mismatch}[fmt](head)


def detect_format(path: str | Path) -> str:
    """The format of a file from its first lines; ImportFormatError naming what was expected."""
    with open(path, "rb") as raw:
        if raw.read(4) == b"PK\x03\x04":
            raise ImportFormatError(
                f"{path} is a zip archive; `organism data import {path} --coin C --interval I` "
                f"reads Binance's archive zips (klines and funding rates) into the store's "
                f"binance source, then read it as --data store:C/I")
    head = read_head(path)
    for fmt in ("hl-l2book", "hl-asset-ctxs", "ohlcv", "binance"):
        if format_mismatch(fmt, head) is None:
            return fmt
    first = _first_content(head)
    shown = (first[:80] + "...") if len(first) > 80 else first
    raise ImportFormatError(
        f"{path}: format not recognised ({'first line: ' + repr(shown) if first else 'empty file'}); "
        f"{EXPECTED}"
    )


def check_format(path: str | Path, fmt: str) -> None:
    """Raise ImportFormatError when the file plainly is not `fmt` (a forced --format)."""
    why = format_mismatch(fmt, read_head(path))
    if why:
        raise ImportFormatError(
            f"{path} does not look like --format {fmt}: {why}; drop --format to detect the "
            f"format, or fix the file ({EXPECTED})"
        )


def parse_file(path: str | Path, fmt: str, coin: str, interval: str | None) -> Parsed:
    """Parse a whole file in a known format (see detect_format)."""
    name = str(path)
    if fmt in CANDLE_FORMATS:
        if not interval:
            raise ImportFormatError(
                f"{name}: --interval is needed for candle files ({fmt}); e.g. --interval 1h"
            )
        try:
            interval_ms(interval)
        except StoreError as exc:
            raise ImportFormatError(f"--interval: {exc}") from None
    with open_lines(path) as lines:
        if fmt == "ohlcv":
            return parse_ohlcv(lines, name, interval, coin)
        if fmt == "binance":
            return parse_binance(lines, name, interval)
        if fmt == "hl-asset-ctxs":
            return parse_asset_ctxs(lines, name, coin)
        if fmt == "hl-l2book":
            return parse_l2book(lines, name, coin)
    raise ImportFormatError(f"--format {fmt!r} unknown; use auto or one of {', '.join(FORMATS)}")


def read_candles(path: str | Path, interval: str | None = None, coin: str | None = None) -> Parsed:
    """A candle file in either candle format (recognised from its first lines), read exactly as
    `organism data import` reads it; with no `interval`, the interval is the candles' usual
    spacing (a Binance kline's close - open time). ImportFormatError when the file holds no
    candles or cannot be read as such."""
    fmt = detect_format(path)
    if fmt not in CANDLE_FORMATS:
        raise ImportFormatError(
            f"{path} holds {fmt} data, not candles; a candle file is an OHLCV CSV or a Binance "
            f"kline CSV")
    with open_lines(path) as lines:
        if fmt == "ohlcv":
            return parse_ohlcv(lines, str(path), interval, coin)
        return parse_binance(lines, str(path), interval)


# --- times and numbers --------------------------------------------------------------------------
_HOUR_12 = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2})[-: ]?([AP]M)$", re.IGNORECASE)


def epoch_to_ms(x: np.ndarray) -> np.ndarray:
    """Unix times in s, ms, µs or ns (told apart per value by magnitude) to ms, as float64."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    scale = np.select([a < 1e11, a < 1e14, a < 1e17], [1000.0, 1.0, 1e-3], 1e-6)
    return np.round(x * scale)


def times_to_ms(values: np.ndarray) -> np.ndarray:
    """Time cells (text) to ms since the epoch as float64, NaN where not understood: Unix
    numbers (s/ms/µs/ns), ISO-8601 (`T` or space, optional zone, `Z`), 12-hour
    `2019-10-17 09-AM`, and other common layouts pandas can read."""
    import pandas as pd

    num = to_floats(values)
    if np.isfinite(num).sum() * 2 > len(num):  # a numeric column: the text cells are bad rows
        return epoch_to_ms(num)
    s = pd.Series(values, dtype=object).astype(str).str.strip()
    out = np.full(len(s), np.nan)
    m = s.str.extract(_HOUR_12)
    is12 = m[0].notna().to_numpy()
    if is12.any():
        hour = m[1][is12].astype(int) % 12 + np.where(m[2][is12].str.upper() == "PM", 12, 0)
        day = pd.to_datetime(m[0][is12], format="%Y-%m-%d", utc=True, errors="coerce")
        day_ms = _dt_ms(day)
        out[is12] = day_ms + hour.to_numpy() * 3_600_000
    rest = ~is12
    if rest.any():
        parsed = pd.to_datetime(s[rest], utc=True, format="ISO8601", errors="coerce")
        out[rest] = _dt_ms(parsed)
        left = rest & np.isnan(out)
        left &= (s != "").to_numpy()
        if left.any():
            out[left] = _dt_ms(pd.to_datetime(s[left], utc=True, format="mixed", errors="coerce"))
    return out


def _dt_ms(dt) -> np.ndarray:
    na = dt.isna().to_numpy()
    ms = dt.dt.as_unit("ms").astype("int64").to_numpy().astype(np.float64)
    ms[na] = np.nan
    return ms


def _fmt(x: float) -> str:
    """A number as written in a CSV: 99, 100.5, 0.00001 (no exponent, no trailing zeros)."""
    return np.format_float_positional(float(x), trim="-")


def to_floats(values) -> np.ndarray:
    """Number cells to float64, NaN where a cell is not a number."""
    import pandas as pd

    try:  # the common case, every cell a number: numpy parses them at C speed
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        pass
    return pd.to_numeric(pd.Series(values, dtype=object).astype(str).str.strip(),
                         errors="coerce").to_numpy(dtype=np.float64)


# --- candles ------------------------------------------------------------------------------------
def _pick_volume(cells: list[str], coin: str | None, symbol: str = "") -> int | None:
    """The base-asset volume column: the one naming the coin (or, with no coin given, the one
    the first row's symbol starts with: `Volume ETH` for ETHUSDT), else a plain `volume`, else
    the first volume column (CryptoDataDownload's `Volume BTC` comes before `Volume USDT`)."""
    vols = [i for i, c in enumerate(cells)
            if c in ("v", "vol") or c.startswith("volume") or c.startswith("vol ")
            or c.startswith("vol_")]
    if not vols:
        return None
    names = {i: [x for x in re.split(r"[\s_()\-]+", cells[i])[1:] if x] for i in vols}
    if coin:
        for i in vols:
            if coin.lower() in names[i]:
                return i
    elif symbol:
        base = re.sub(r"[^0-9a-z]", "", symbol.lower())
        for i in vols:
            if any(base.startswith(x) for x in names[i]):
                return i
    return next((i for i in vols if cells[i] in ("volume", "vol", "v")), vols[0])


def _first_symbol(head: list[str], header_at: int, delim: str, col: int | None) -> str:
    """The symbol cell of the first row after the header (empty without a symbol column)."""
    if col is None:
        return ""
    for line in head[header_at + 1:]:
        row = next(csv.reader([line], delimiter=delim), [])
        if col < len(row) and row[col].strip():
            return row[col].strip()
    return ""


def parse_ohlcv(lines: Iterable[str], name: str, interval: str | None,
                coin: str | None = None) -> Parsed:
    """A generic OHLCV CSV (see module docstring); rows in any order. An optional funding
    column (`funding`: the rate paid over each bar) is kept in `Parsed.funding`; interval None:
    inferred (see check_candles)."""
    it = iter(lines)
    head = list(itertools.islice(it, HEAD_LINES))
    hi = _ohlcv_header(head)
    if hi is None:
        raise ImportFormatError(
            f"{name}: no header naming open, high, low and close in the first {HEAD_LINES} lines; "
            f"add a header line such as time,open,high,low,close,volume"
        )
    delim = _delimiter(head[hi])
    reader = csv.reader(itertools.chain(head, it), delimiter=delim)
    for _ in range(hi + 1):
        header = next(reader)
    cells = [_norm(c) for c in header]
    width = len(cells)
    idx: dict[str, int] = {}
    for key, opts in _COLUMNS.items():
        idx[key] = next(cells.index(o) for o in opts if o in cells)
    t_col = next((cells.index(o) for o in _TIME if o in cells), None)
    s_col = next((cells.index(o) for o in _SYMBOL if o in cells), None)
    v_col = _pick_volume(cells, coin, _first_symbol(head, hi, delim, s_col) if not coin else "")
    if t_col is None or v_col is None:
        lack = "time column (unix, timestamp, time or date)" if t_col is None else \
            "volume column (volume, vol or 'Volume <coin>')"
        raise ImportFormatError(
            f"{name}: the header on line {hi + 1} has no {lack}; found {', '.join(header)}; "
            f"add or rename the column"
        )
    idx["time"], idx["volume"] = t_col, v_col
    n_col = next((cells.index(o) for o in _TRADES if o in cells), None)
    f_col = next((cells.index(o) for o in _FUNDING if o in cells), None)
    picks = [idx[k] for k in _CELLS[:6]]
    needed = max(picks) + 1
    bad_width = f"expected {width} fields like the header on line {hi + 1}, found "

    pick = operator.itemgetter(*picks, n_col if n_col is not None else 0,
                               f_col if f_col is not None else 0)

    def records() -> Iterator[tuple[int, str | None, Sequence[str]]]:
        for row in reader:
            if len(row) != width:  # the rare row: blank, ragged or with trailing empty cells
                if not any(c.strip() for c in row):
                    continue
                if len(row) < needed or (len(row) > width and any(c.strip() for c in row[width:])):
                    yield reader.line_num, bad_width + str(len(row)), _EMPTY
                    continue
                last = max(n_col or 0, f_col or 0)
                if last >= len(row):
                    row = row + [""] * (last + 1 - len(row))
            yield reader.line_num, None, pick(row)

    named = dict(zip(_CELLS, [header[idx[k]].strip() for k in _CELLS[:6]]))
    if f_col is not None:
        named["funding"] = header[f_col].strip()
    cols = _convert(records(), named, eighth="funding" if f_col is not None else None,
                    no_trades=n_col is None)
    return check_candles(name, interval, *cols[:-1],
                         funding=cols[-1] if f_col is not None else None)


def parse_binance(lines: Iterable[str], name: str, interval: str | None) -> Parsed:
    """A Binance kline CSV: no header, 12 columns (open time in ms or µs, o, h, l, c, v, close
    time, quote volume, trades, taker buy base, taker buy quote, ignore). Interval None: the
    klines' own (close - open time)."""
    reader = csv.reader(lines)
    pick = operator.itemgetter(0, 1, 2, 3, 4, 5, 8, 6)

    def records() -> Iterator[tuple[int, str | None, list[str]]]:
        for row in reader:
            if len(row) != 12:
                if any(c.strip() for c in row):
                    yield reader.line_num, f"a Binance kline has 12 fields, found {len(row)}", _EMPTY
                continue
            yield reader.line_num, None, pick(row)

    named = {"time": "open time", "open": "open", "high": "high", "low": "low", "close": "close",
             "volume": "volume"}
    cols = _convert(records(), named, eighth="close_time")
    t, close_t = cols[1], cols[-1]
    span = (close_t - t + 1)[np.isfinite(close_t - t)]
    if interval is None and span.size:
        interval = _span_name(int(np.median(span)))
    step = interval_ms(interval) if interval in INTERVAL_MS else None
    if step and span.size:
        # close time - open time + 1 is the interval: a wrong --interval is one clear error
        typical = int(np.median(span))
        if abs(typical - step) > 1:
            raise ImportFormatError(
                f"{name}: the klines span {_span_name(typical)} (close - open time), but "
                f"--interval is {interval}; {_interval_hint(typical)}"
            )
    return check_candles(name, interval, *cols[:-1])


def _span_name(ms: int) -> str:
    """A duration as an interval name when it is one (1m, 1h ...), else in m or s."""
    for k, v in INTERVAL_MS.items():
        if abs(v - ms) <= 1:
            return k
    return f"{ms / 60_000:g}m" if ms % 60_000 == 0 else f"{ms / 1000:g}s"


def _interval_hint(ms: int) -> str:
    name = _span_name(ms)
    if name in INTERVAL_MS:
        return f"pass --interval {name}"
    return f"the store takes only {', '.join(INTERVAL_MS)}; resample the file to one of those"


# the eighth cell is the Binance close time, or an OHLCV file's funding
_CELLS = ("time", "open", "high", "low", "close", "volume", "trades", "eighth")
_EMPTY = [""] * len(_CELLS)
_CHUNK = 1 << 17  # rows converted at a time: text cells of a chunk only, not of the whole file


def _convert(records: Iterator[tuple[int, str | None, Sequence[str]]], named: dict[str, str],
             eighth: str | None = None, no_trades: bool = False) -> list[np.ndarray]:
    """(line, reason, cells) records to arrays [lines, t, o, h, l, c, v, n, why, eighth],
    a chunk at a time; unreadable times and numbers become reasons naming the cell. The eighth
    cell is read as `eighth` says: "close_time" (ms), "funding" (a rate; empty = NaN, no
    observation) or not at all (NaN)."""
    parts: list[list[np.ndarray]] = []
    while chunk := list(itertools.islice(records, _CHUNK)):
        lines = np.fromiter((r[0] for r in chunk), np.int64, len(chunk))
        why = np.array([r[1] for r in chunk], dtype=object)
        cells = list(zip(*(r[2] for r in chunk)))
        t = times_to_ms(np.asarray(cells[0], dtype=object))
        for i in np.nonzero((why == None) & ~np.isfinite(t))[0]:  # noqa: E711 - elementwise
            why[i] = f"{named['time']} {cells[0][i]!r} is not a time this importer reads"
        prices = []
        for k in range(1, 6):
            arr = to_floats(cells[k])
            for i in np.nonzero((why == None) & ~np.isfinite(arr))[0]:  # noqa: E711
                why[i] = f"{named[_CELLS[k]]} {cells[k][i]!r} is not a number"
            prices.append(arr)
        n = to_floats(cells[6]) if no_trades is False else np.zeros(len(chunk))
        n = np.where(np.isfinite(n), n, 0).astype(np.int64)
        if eighth == "close_time":
            last = epoch_to_ms(to_floats(cells[7]))
        elif eighth == "funding":
            last = to_floats(cells[7])
            blank = np.array([not str(x).strip() for x in cells[7]], dtype=bool)
            for i in np.nonzero((why == None) & ~np.isfinite(last) & ~blank)[0]:  # noqa: E711
                why[i] = f"{named['funding']} {cells[7][i]!r} is not a number"
        else:
            last = np.full(len(chunk), np.nan)
        parts.append([lines, t, *prices, n, why, last])
    if not parts:
        empty = np.empty(0)
        return [empty.astype(np.int64), *([empty] * 6), empty.astype(np.int64),
                empty.astype(object), empty]
    return [np.concatenate(col) for col in zip(*parts)]


def check_candles(name: str, interval: str | None, lines: np.ndarray, t: np.ndarray,
                  o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray,
                  n: np.ndarray, why: np.ndarray | None = None,
                  funding: np.ndarray | None = None) -> Parsed:
    """Validate parsed candles (t in ms; `why` holds a reason for rows already known bad) and
    build the table: prices positive, low <= open, close <= high, one set of values per open
    time, open times on the interval grid. Exact duplicate rows are dropped and counted.
    Interval None: the most common spacing of the good rows (any whole number of seconds)."""
    size = len(t)
    why = np.full(size, None, dtype=object) if why is None else why
    ok = why == None  # noqa: E711
    f = _fmt
    with np.errstate(invalid="ignore"):
        checks = [
            (np.minimum.reduce([o, h, l, c]) <= 0, lambda i: (
                f"non-positive price (open {f(o[i])}, high {f(h[i])}, low {f(l[i])}, "
                f"close {f(c[i])})")),
            (v < 0, lambda i: f"negative volume {f(v[i])}"),
            (h < l, lambda i: f"high {f(h[i])} below low {f(l[i])}"),
            (h < np.maximum(o, c),
             lambda i: f"high {f(h[i])} below max(open, close) {f(max(o[i], c[i]))}"),
            (l > np.minimum(o, c),
             lambda i: f"low {f(l[i])} above min(open, close) {f(min(o[i], c[i]))}"),
        ]
    for failed, reason in checks:
        for i in np.nonzero(ok & failed)[0]:
            why[i] = reason(i)
            ok[i] = False
    cols = [o, h, l, c, v, n.astype(np.float64)]
    if funding is not None:
        cols.append(np.nan_to_num(funding, nan=-1e308))  # NaN != NaN would not dedupe
    values = np.column_stack(cols) if size else np.empty((0, len(cols)))
    ti = np.where(ok, t, 0).astype(np.int64)
    keep, dups = dedupe(ti, values, lines, ok, why, what="open time")
    if interval is None:
        interval = _usual_spacing(ti[keep], name)
    if interval is None:
        step = None
    elif interval in INTERVAL_MS or interval == "1M":
        step = interval_ms(interval)
    else:
        step = interval_seconds(interval) * 1000
    if step:
        keep = _check_grid(ti, keep, why, step, interval, name)
    order = np.nonzero(keep)[0]
    order = order[np.argsort(ti[order], kind="stable")]
    ts = ti[order]
    gaps = missing = 0
    if step and ts.size > 1:
        d = np.diff(ts)
        gaps = int((d > step).sum())
        missing = int((d[d > step] // step - 1).sum())
    table = pa.Table.from_arrays(
        [pa.array(ts, pa.int64()), *(pa.array(a[order], pa.float64()) for a in (o, h, l, c, v)),
         pa.array(n[order], pa.int64())], schema=CANDLE_SCHEMA)
    bad = tuple(BadRow(name, int(lines[i]), str(why[i]))
                for i in np.argsort(lines, kind="stable") if why[i] is not None)
    return Parsed("candles", table, size, dups, bad, gaps, missing, interval=interval,
                  funding=None if funding is None else np.ascontiguousarray(funding[order]))


def _usual_spacing(t: np.ndarray, name: str) -> str | None:
    """The interval a file's open times keep most often, as a name (1h, 15m, 10m ...); None
    with fewer than two candles."""
    uniq = np.unique(t)
    if uniq.size < 2:
        return None
    gaps, counts = np.unique(np.diff(uniq), return_counts=True)
    step = int(gaps[np.argmax(counts)])
    name_of = _span_name(step)
    if name_of in INTERVAL_MS:
        return name_of
    if step % 1000:
        raise ImportFormatError(f"{name}: the candles are {step} ms apart, not a whole number "
                                f"of seconds; resample the file")
    return interval_name(step // 1000)


def _check_grid(t: np.ndarray, keep: np.ndarray, why: np.ndarray, step: int, interval: str,
                name: str) -> np.ndarray:
    """Open times must sit on the interval's grid (multiples of the interval since the epoch;
    weekly and 3-day candles on the phase most of the file uses) and so at least one interval
    apart. When most rows are off the grid the interval given is wrong: one clear error."""
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        return keep
    tt = t[idx]
    phase = 0
    if step > _DAY_MS:
        vals, counts = np.unique(tt % step, return_counts=True)
        phase = int(vals[np.argmax(counts)])
    off = (tt - phase) % step != 0
    uniq = np.sort(tt)  # dedupe left one row per open time
    if uniq.size >= 3:
        d = np.diff(uniq)
        typical = int(np.median(d))
        never_one_step = uniq.size >= 10 and not (d == step).any()
        if typical < step or never_one_step:
            raise ImportFormatError(
                f"{name}: the candles are mostly {_span_name(typical)} apart, but --interval is "
                f"{interval}; {_interval_hint(typical)}"
            )
        if off.mean() > 0.5:
            first = int(tt[off][0])
            raise ImportFormatError(
                f"{name}: {int(off.sum())} of {tt.size} open times are off the {interval} grid "
                f"(e.g. {iso(first)}, {(first - phase) % step // 1000} s past a boundary); "
                f"are they close times, or in a local time zone? Shift them to UTC open times"
            )
    if off.any():
        on = np.sort(tt[~off])
        for i in idx[off]:
            k = np.searchsorted(on, t[i])
            near = [abs(int(t[i]) - int(on[j])) for j in (k - 1, k) if 0 <= j < on.size]
            gap = min(near) if near else step
            close = f", {_span_name(gap)} from its neighbour" if gap < step else ""
            why[i] = (f"open time {iso(int(t[i]))} is off the {interval} grid "
                      f"({(int(t[i]) - phase) % step // 1000} s past a {interval} boundary{close})")
            keep[i] = False
    return keep


# --- asset contexts -----------------------------------------------------------------------------
def parse_asset_ctxs(lines: Iterable[str], name: str, coin: str) -> Parsed:
    """Hyperliquid's `asset_ctxs` archive CSV (many coins per file): the rows of `coin` only,
    as CTX_SCHEMA (funding is the hourly rate as given). Empty cells become nulls, except
    funding, mark_px and oracle_px which every row needs."""
    reader = csv.reader(lines)
    header = next(reader, None)
    cells = [_norm(c) for c in header or []]
    missing_cols = [c for c in CTX_COLUMNS if c not in cells]
    if missing_cols:
        raise ImportFormatError(
            f"{name}: an asset_ctxs header needs {', '.join(CTX_COLUMNS)}; lacks "
            f"{', '.join(missing_cols)}"
        )
    col = {c: cells.index(c) for c in CTX_COLUMNS}
    width = len(cells)
    fields = [f.name for f in CTX_SCHEMA if f.name != "t"]
    raw: dict[str, list[str]] = {k: [] for k in ["time", *fields]}
    line_no: list[int] = []
    reasons: list[str | None] = []
    others: set[str] = set()
    other_rows = 0
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) > col["coin"] and row[col["coin"]].strip() != coin:
            others.add(row[col["coin"]].strip())
            other_rows += 1
            continue
        line_no.append(reader.line_num)
        ok = len(row) == width
        reasons.append(None if ok else f"expected {width} fields like the header, found {len(row)}")
        for k in raw:
            raw[k].append(row[col[k]].strip() if ok else "")
    if not line_no:
        listed = ", ".join(sorted(others)[:20]) + (" ..." if len(others) > 20 else "")
        raise ImportFormatError(
            f"{name}: no rows for coin {coin!r} (coin names are case-sensitive); "
            f"the file has {listed or 'no rows'}; pass one of those to --coin"
        )
    why = np.asarray(reasons, dtype=object)
    t = times_to_ms(np.asarray(raw["time"], dtype=object))
    for i in np.nonzero((why == None) & ~np.isfinite(t))[0]:  # noqa: E711
        why[i] = f"time {raw['time'][i]!r} is not a time this importer reads"
    arrays = {}
    for k in fields:
        arr = to_floats(raw[k])
        empty = np.array([s == "" for s in raw[k]], dtype=bool)
        required = k in ("funding", "mark_px", "oracle_px")
        for i in np.nonzero((why == None) & ~np.isfinite(arr) & (~empty | required))[0]:  # noqa: E711
            why[i] = f"{k} {raw[k][i]!r} is not a number" if raw[k][i] else f"{k} is empty"
        arrays[k] = arr
    with np.errstate(invalid="ignore"):
        for k in ("mark_px", "oracle_px"):
            for i in np.nonzero((why == None) & (arrays[k] <= 0))[0]:  # noqa: E711
                why[i] = f"{k} {_fmt(arrays[k][i])} is not a positive price"
        for i in np.nonzero((why == None) & (arrays["open_interest"] < 0))[0]:  # noqa: E711
            why[i] = f"open_interest {_fmt(arrays['open_interest'][i])} is negative"
    lines = np.asarray(line_no, dtype=np.int64)
    ok = why == None  # noqa: E711
    tt = np.where(ok, t, 0).astype(np.int64)
    values = np.nan_to_num(np.column_stack([arrays[k] for k in fields]), nan=-1e308)
    keep, dups = dedupe(tt, values, lines, ok, why, what="time")
    order = np.nonzero(keep)[0]
    order = order[np.argsort(tt[order], kind="stable")]
    table = pa.Table.from_arrays(
        [pa.array(tt[order], pa.int64()),
         *(pa.array(arrays[k][order], pa.float64(), mask=~np.isfinite(arrays[k][order]))
           for k in fields)], schema=CTX_SCHEMA)
    bad = tuple(BadRow(name, int(lines[i]), str(why[i]))
                for i in np.argsort(lines, kind="stable") if why[i] is not None)
    return Parsed("asset_ctxs", table, len(line_no), dups, bad, other_coin_rows=other_rows)
