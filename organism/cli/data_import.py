"""`organism data import FILE`: candles, asset contexts or L2 snapshots from a file into the store.

Only orchestration lives here; parsing and validation are marketdata.importers / marketdata.l2,
and marketdata.binance for the zips of Binance's public archive (klines or funding rates,
checked against the `.CHECKSUM` beside them when there is one, stored as the binance source).
Exit codes: 0 imported, 1 bad rows aborted the import or a checksum did not match (nothing
written), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FORMAT_CHOICES = ("auto", "ohlcv", "binance", "hl-l2book", "hl-asset-ctxs")
LISTED = 50  # bad rows shown in the Rich summary (--json lists up to JSON_LISTED)
JSON_LISTED = 1000


def add_import_parser(data_sub: argparse._SubParsersAction) -> None:
    p = data_sub.add_parser(
        "import",
        help="import candles, asset contexts or L2 snapshots from a file into the store",
        description="Import a file into the candle store: a generic OHLCV CSV (banner lines, "
        "newest-first rows, Unix or ISO or 12-hour times are fine), a Binance kline CSV, or "
        "Hyperliquid archive files (l2Book .lz4, asset_ctxs .csv.lz4), or a zip of Binance's "
        "public archive (USD-M klines or funding rates, verified against the .CHECKSUM beside "
        "it, stored as the binance source). All or nothing: any bad row aborts the import "
        "unless --skip-bad.",
    )
    p.add_argument("file", metavar="FILE", help="the file to import (plain or LZ4-compressed)")
    p.add_argument("--coin", required=True, metavar="C", help="coin to store under, e.g. BTC")
    p.add_argument("--interval", metavar="I",
                   help="candle interval, e.g. 1m, 1h, 1d (needed for ohlcv and binance)")
    p.add_argument("--format", default="auto", choices=FORMAT_CHOICES,
                   help="file format (default: auto, recognised from the first lines)")
    p.add_argument("--source", choices=("hyperliquid", "binance"), default=None,
                   help="whose data it is, for the store's precedence (default: binance for a "
                   "Binance archive zip, else hyperliquid: the store's own)")
    p.add_argument("--skip-bad", action="store_true",
                   help="import the good rows and list the bad ones instead of aborting")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--data-dir", metavar="DIR",
                   help="store root (default: organism.data_dir from the config)")
    p.set_defaults(func=run_import)


def _usage(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": message}))
    else:
        print(f"organism data import: error: {message}", file=sys.stderr)
    return 2


def run_import(args: argparse.Namespace) -> int:
    from marketdata.importers import ImportFormatError, check_format, detect_format, parse_file

    path = Path(args.file)
    if not path.is_file():
        return _usage(args, f"{str(path)!r} is not a file; give the path of the CSV or .lz4 "
                            f"file to import")
    unverified = None
    try:
        if _is_zip(path):
            from marketdata.binance import ArchiveError

            try:
                fmt, parsed, unverified = "binance-archive", *_archive(path, args.interval)
            except ArchiveError as exc:
                if args.json:
                    print(json.dumps({"ok": False, "error": str(exc)}))
                else:
                    print(f"organism data import: {exc}", file=sys.stderr)
                return 1
            args.source = args.source or "binance"
        else:
            if args.format == "auto":
                fmt = detect_format(path)
            else:
                check_format(path, args.format)
                fmt = args.format
            parsed = parse_file(path, fmt, args.coin, args.interval)
    except ImportFormatError as exc:
        return _usage(args, str(exc))
    except OSError as exc:
        return _usage(args, f"cannot read {path}: {exc.strerror or exc}; check the path and "
                            f"permissions")
    summary = {
        "ok": True, "file": str(path), "format": fmt, "kind": parsed.kind, "coin": args.coin,
        "interval": args.interval if parsed.kind == "candles" else None,
        "rows_read": parsed.rows_read, "written": 0, "duplicates_skipped": parsed.duplicates,
        "duplicates_in_file": parsed.duplicates, "already_stored": 0,
        "bad_rows": len(parsed.bad), "skipped_bad": False,
        "gaps": parsed.gaps if parsed.kind == "candles" else None,
        "missing_candles": parsed.missing if parsed.kind == "candles" else None,
        "other_coin_rows": parsed.other_coin_rows,
        "first": _iso(parsed.first), "last": _iso(parsed.last),
        "first_ms": parsed.first, "last_ms": parsed.last,
        "bad": [{"file": b.file, "line": b.line, "reason": b.reason}
                for b in parsed.bad[:JSON_LISTED]],
        "source": args.source or "hyperliquid", "checksum": unverified or "verified",
    }
    if unverified and not args.json and fmt == "binance-archive":
        print(f"warning: {unverified}", file=sys.stderr)
    if parsed.bad and not args.skip_bad:
        summary["ok"] = False
        summary["error"] = (f"{len(parsed.bad)} bad row(s); nothing written. Fix them in the "
                            f"file, or re-run with --skip-bad to import the other rows")
        _report(args, summary, parsed.bad)
        return 1
    try:
        written = _write(args, parsed)
    except ImportFormatError as exc:
        return _usage(args, str(exc))
    summary["written"] = written
    summary["skipped_bad"] = bool(parsed.bad)
    valid = parsed.table.num_rows
    summary["already_stored"] = valid - written
    summary["duplicates_skipped"] = parsed.duplicates + valid - written
    _report(args, summary, parsed.bad)
    return 0


def _write(args: argparse.Namespace, parsed) -> int:
    from marketdata.importers import ImportFormatError
    from marketdata.store import CandleStore, StoreError

    root = Path(args.data_dir) if args.data_dir else _data_dir(args)
    if parsed.table.num_rows == 0:
        return 0
    source = args.source or "hyperliquid"
    try:
        if parsed.kind == "candles":
            return CandleStore(root, source).append(args.coin, args.interval, parsed.table)
        if parsed.kind == "asset_ctxs":
            return CandleStore(root, source).append_ctx(args.coin, parsed.table)
        from marketdata.l2 import append_l2

        return append_l2(root, args.coin, parsed.table)
    except StoreError as exc:
        raise ImportFormatError(f"--coin/--interval: {exc}") from None


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as raw:
        return raw.read(4) == b"PK\x03\x04"


def _archive(path: Path, interval: str | None):
    """(parsed, None when verified else why not) for a zip of Binance's archive; ArchiveError
    when its .CHECKSUM does not match."""
    from marketdata.binance import parse_archive_file, verify

    data = path.read_bytes()
    checksum = path.with_name(path.name + ".CHECKSUM")
    unverified = None
    if checksum.is_file():
        verify(data, checksum.read_text(errors="replace"), path.name)
    else:
        unverified = (f"no {checksum.name} beside {path.name}: not verified against the "
                      f"archive's published checksum")
    return parse_archive_file(data, path.name, interval), unverified


def _data_dir(args: argparse.Namespace) -> Path:
    from organism.cli.common import config_from

    return config_from(args).data_dir


def _iso(ms: int | None) -> str | None:
    from marketdata.importers import iso

    return None if ms is None else iso(ms)


def _report(args: argparse.Namespace, s: dict, bad) -> None:
    if args.json:
        print(json.dumps(s))
        return
    from rich.console import Console
    from rich.table import Table

    out = Console()
    err = Console(stderr=True)
    title = f"import {s['file']} ({s['format']}) -> {s['coin']}" + (
        f" {s['interval']}" if s["interval"] else "")
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    rows = [("rows read", s["rows_read"]), ("written", s["written"]),
            ("duplicates skipped", f"{s['duplicates_skipped']} ({s['duplicates_in_file']} in "
                                   f"file, {s['already_stored']} already stored)"),
            ("bad rows", f"{s['bad_rows']}" + (" (skipped)" if s["skipped_bad"] else ""))]
    if s["gaps"] is not None:
        rows.append(("gaps", f"{s['gaps']} ({s['missing_candles']} candles missing)"))
    if s["other_coin_rows"]:
        rows.append(("other coins' rows", s["other_coin_rows"]))
    rows += [("first", s["first"] or "-"), ("last", s["last"] or "-")]
    for k, v in rows:
        table.add_row(k, str(v))
    (out if s["ok"] else err).print(table)
    if bad:
        head = "skipped rows:" if s["ok"] else "bad rows:"
        (out if s["ok"] else err).print(head, highlight=False)
        for b in bad[:LISTED]:
            (out if s["ok"] else err).print(f"  {b}", highlight=False, markup=False, soft_wrap=True)
        if len(bad) > LISTED:
            (out if s["ok"] else err).print(f"  ... and {len(bad) - LISTED} more (all in --json)",
                                            highlight=False)
    if not s["ok"]:
        err.print(f"organism data import: {s['error']}", highlight=False, markup=False, soft_wrap=True)
