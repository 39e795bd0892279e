"""L2 book snapshots: parsed from Hyperliquid's `l2Book` archive files, stored as Parquet under
`{root}/l2book/coin={COIN}/` (t in ms; bids and asks as lists of {px, sz, n}, best first) and
exported as JSON lines the local exchange replays (`organism sim --market l2:PATH`)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa

from marketdata.parsed import BadRow, ImportFormatError, Parsed, dedupe
from marketdata.store import append_unique, read_range

LEVEL = pa.struct([("px", pa.float64()), ("sz", pa.float64()), ("n", pa.int64())])
L2_SCHEMA = pa.schema([("t", pa.int64()), ("bids", pa.list_(LEVEL)), ("asks", pa.list_(LEVEL))])
_TOKEN = re.compile(r"^[^\s/\\=.]+$")


def _levels(side: object, name: str) -> list[dict]:
    if not isinstance(side, list):
        raise ValueError(f"{name} is not a list of levels")
    out = []
    for k, lv in enumerate(side):
        if not isinstance(lv, dict) or not {"px", "sz"} <= lv.keys():
            raise ValueError(f"{name} level {k} is not an object with px and sz")
        try:
            px, sz, n = float(lv["px"]), float(lv["sz"]), int(lv.get("n", 0))
        except (TypeError, ValueError):
            raise ValueError(f"{name} level {k} has px {lv.get('px')!r}, sz {lv.get('sz')!r}, "
                             f"n {lv.get('n')!r}: not numbers") from None
        if not (np.isfinite(px) and px > 0 and np.isfinite(sz) and sz > 0 and n >= 0):
            raise ValueError(f"{name} level {k} has px {_num(px)}, sz {_num(sz)}, n {n}: "
                             f"prices and sizes must be positive")
        out.append({"px": px, "sz": sz, "n": n})
    pxs = [lv["px"] for lv in out]
    ordered = all(a > b for a, b in zip(pxs, pxs[1:])) if name == "bids" else \
        all(a < b for a, b in zip(pxs, pxs[1:]))
    if not ordered:
        best = "highest" if name == "bids" else "lowest"
        raise ValueError(f"{name} are not ordered {best} price first")
    return out


def snapshot(rec: object, coin: str) -> tuple[int, list[dict], list[dict]]:
    """(t ms, bids, asks) from an archive line or a bare l2Book data record; ValueError why not."""
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    raw = rec.get("raw")
    if isinstance(raw, dict):
        if raw.get("channel") != "l2Book":
            raise ValueError(f"channel {raw.get('channel')!r}, not l2Book")
        rec = raw.get("data")
        if not isinstance(rec, dict):
            raise ValueError("raw.data is not an object")
    missing = [k for k in ("coin", "time", "levels") if k not in rec]
    if missing:
        raise ValueError(f"l2Book data lacks {', '.join(missing)}")
    if rec["coin"] != coin:
        raise ValueError(f"coin {rec['coin']!r}, importing {coin!r}")
    try:
        t = int(rec["time"])
    except (TypeError, ValueError):
        raise ValueError(f"time {rec['time']!r} is not ms since the epoch") from None
    levels = rec["levels"]
    if not isinstance(levels, list) or len(levels) != 2:
        raise ValueError("levels is not [bids, asks]")
    bids, asks = _levels(levels[0], "bids"), _levels(levels[1], "asks")
    if bids and asks and bids[0]["px"] >= asks[0]["px"]:
        raise ValueError(f"crossed book: best bid {_num(bids[0]['px'])} >= best ask "
                         f"{_num(asks[0]['px'])}")
    return t, bids, asks


def parse_l2book(lines: Iterable[str], name: str, coin: str) -> Parsed:
    """Hyperliquid `l2Book` snapshots, one JSON object a line (the S3 archive's lines, or bare
    l2Book data records as `export_jsonl` writes them), for `coin`. Snapshots sharing a time with
    different books are bad rows; identical ones are duplicates."""
    ts: list[int] = []
    books: list[tuple[list, list]] = []
    line_no: list[int] = []
    bad: list[BadRow] = []
    coins: set[str] = set()
    read = 0
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        read += 1
        try:
            rec = json.loads(line.strip())
        except ValueError as exc:
            bad.append(BadRow(name, no, f"not JSON ({exc.msg}, column {exc.colno}); a cut-off "
                                        f"download? fetch the file again"))
            continue
        try:
            t, bids, asks = snapshot(rec, coin)
        except ValueError as exc:
            data = rec.get("raw", {}).get("data", rec) if isinstance(rec, dict) else None
            if isinstance(data, dict) and isinstance(data.get("coin"), str):
                coins.add(data["coin"])
            bad.append(BadRow(name, no, str(exc)))
            continue
        ts.append(t)
        books.append((bids, asks))
        line_no.append(no)
    if not ts and coins and coin not in coins:
        raise ImportFormatError(
            f"{name}: holds l2Book snapshots for {', '.join(sorted(coins))}, not {coin!r}; "
            f"pass --coin {sorted(coins)[0]}"
        )
    t = np.asarray(ts, dtype=np.int64)
    lines_arr = np.asarray(line_no, dtype=np.int64)
    why = np.full(len(ts), None, dtype=object)
    # books compared by identity of their JSON text: equal text, equal snapshot
    ids: dict[str, int] = {}
    values = np.asarray([ids.setdefault(json.dumps(b), len(ids)) for b in books], dtype=np.float64)
    keep, dups = dedupe(t, values, lines_arr, np.ones(len(ts), bool), why, what="snapshot time")
    bad.extend(BadRow(name, int(lines_arr[i]), str(why[i])) for i in np.nonzero(why != None)[0])  # noqa: E711
    order = np.nonzero(keep)[0]
    order = order[np.argsort(t[order], kind="stable")]
    table = pa.Table.from_pydict(
        {"t": t[order].tolist(), "bids": [books[i][0] for i in order],
         "asks": [books[i][1] for i in order]}, schema=L2_SCHEMA)
    return Parsed("l2book", table, read, dups, tuple(sorted(bad, key=lambda b: b.line)))


# --- the store ----------------------------------------------------------------------------------
def l2_folder(root: str | os.PathLike[str], coin: str) -> Path:
    if not _TOKEN.match(coin):
        raise ImportFormatError(f"coin {coin!r} cannot name a store partition; use e.g. BTC")
    return Path(root) / "l2book" / f"coin={coin}"


def append_l2(root: str | os.PathLike[str], coin: str, table: pa.Table) -> int:
    """Store snapshots (L2_SCHEMA) for `coin`, skipping times already stored. Returns rows written."""
    return append_unique(l2_folder(root, coin), table.cast(L2_SCHEMA))


def read_l2(root: str | os.PathLike[str], coin: str, start: int | None = None,
            end: int | None = None) -> pa.Table:
    """Stored snapshots of `coin` with start <= t <= end (ms), sorted by t."""
    return read_range(sorted(l2_folder(root, coin).glob("*.parquet")), L2_SCHEMA, start, end)


def _num(x: float) -> str:
    """A price or size as Hyperliquid writes it: positional decimal text, no exponent."""
    return np.format_float_positional(x, trim="-")


def export_jsonl(table: pa.Table, coin: str, out: str | os.PathLike[str] | IO[str]) -> int:
    """Write snapshots as l2Book data records, one JSON object a line
    (`{"coin","time","levels":[[{"px","sz","n"}...],[...]]}`, px and sz as strings): the input of
    the local exchange's `l2:PATH` market. Returns lines written."""
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8") as fh:
            return export_jsonl(table, coin, fh)
    rows = 0
    for rec in table.to_pylist():
        levels = [[{"px": _num(lv["px"]), "sz": _num(lv["sz"]), "n": int(lv["n"])}
                   for lv in rec[side]] for side in ("bids", "asks")]
        out.write(json.dumps({"coin": coin, "time": int(rec["t"]), "levels": levels},
                             separators=(",", ":")) + "\n")
        rows += 1
    return rows
