"""`organism data`: the market-data store. `status`, `synth`, `backfill`, `fetch` here; `import`
in organism/cli/data_import.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from organism.cli.common import config_from


def register(sub: argparse._SubParsersAction) -> None:
    from organism.cli.data_import import add_import_parser

    p = sub.add_parser("data", help="the market-data store: status, import, synth, backfill, "
                       "fetch",
                       description="Manage the candle store under organism.data_dir.")
    data_sub = p.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=type(p))
    data_sub.required = True

    s = data_sub.add_parser("status", help="coverage per coin and interval: first, last, rows, gaps",
                            description="Print the store's coverage per coin and interval.")
    s.add_argument("--json", action="store_true",
                   help="print JSON for scripts (first and last: open times in ms since the epoch)")
    s.set_defaults(func=cmd_status)

    add_import_parser(data_sub)

    y = data_sub.add_parser(
        "synth", help="write a seeded synthetic market into the store",
        description="Generate a synthetic market (regime-switching GARCH volatility, jumps, "
        "funding; noise only, or a planted edge a strategy rule can capture) and store it as "
        "COIN/INTERVAL. The same options work as --data synthetic:seed=S,bars=N,edge=X,...")
    y.add_argument("--coin", default="SYN", help="store it under this coin name")
    y.add_argument("--interval", default="1h", help="bar interval, e.g. 1m, 15m, 1h, 1d")
    y.add_argument("--bars", type=int, default=26_280,
                   help="number of bars (26,280 = 3 years of 1h)")
    y.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same market")
    y.add_argument("--replace", action="store_true",
                   help="replace what the store holds for COIN/INTERVAL (and COIN's funding); "
                   "without it, a coin already stored is refused")
    y.add_argument("--edge", type=float, default=0.0, metavar="SHARPE",
                   help="plant an edge whose oracle rule earns this annual Sharpe after costs")
    y.add_argument("--mode", choices=("noise", "edge", "regimes"),
                   help="noise (default), edge (implied by --edge) or regimes")
    y.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    y.set_defaults(func=cmd_synth)

    b = data_sub.add_parser(
        "backfill", help="page candleSnapshot from the venue and fill the store's gaps",
        description="Fetch candles from the configured venue (the local exchange unless "
        "venue.market_data says testnet or mainnet) and append the missing ones. Hyperliquid keeps "
        "only the newest 5000 candles per interval. Contacting the real exchange needs --live.")
    b.add_argument("--coin", required=True, help="coin, e.g. BTC")
    b.add_argument("--interval", required=True, help="candle interval, e.g. 1m, 1h, 1d")
    b.add_argument("--bars", type=int, default=5000, help="how far back to ask, in bars")
    b.add_argument("--live", action="store_true",
                   help="allow contacting Hyperliquid itself (testnet or mainnet)")
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    b.set_defaults(func=cmd_backfill)

    f = data_sub.add_parser(
        "fetch", help="years of history from Binance's public archive (USD-M futures)",
        description="Download monthly USD-M futures klines and funding rates from Binance's "
        "public archive (data.binance.vision), verify each file against its published "
        ".CHECKSUM (a file that does not match is refused and nothing from it is stored) and "
        "store them as the binance source of the store, beside Hyperliquid's own candles. "
        "store:COIN/INTERVAL then reads both joined: Hyperliquid's candles where it has them, "
        "Binance's before, and Binance's funding until Hyperliquid's begins. Contacting the "
        "archive needs --live; a mirror on this machine (a folder or a loopback URL) does not.")
    f.add_argument("--source", choices=("binance",), default="binance",
                   help="where the history comes from")
    f.add_argument("--coin", required=True, help="the Hyperliquid coin to store it under, e.g. BTC")
    f.add_argument("--interval", required=True, help="candle interval, e.g. 1h, 15m, 1d")
    f.add_argument("--since", required=True, metavar="DATE",
                   help="first month to fetch, as a UTC date, e.g. 2019-01-01 (months before "
                   "the symbol was listed are reported as not in the archive)")
    f.add_argument("--until", metavar="DATE",
                   help="last month to fetch (default: the last month that has ended)")
    f.add_argument("--symbol", metavar="SYMBOL",
                   help="the Binance USD-M symbol (default: COIN + USDT; kPEPE -> 1000PEPEUSDT)")
    f.add_argument("--live", action="store_true",
                   help="allow downloading from the internet (the archive itself)")
    f.add_argument("--archive-url", default=None, metavar="URL|DIR",
                   help="the archive or a mirror with its layout (default: "
                   "https://data.binance.vision; a folder or a loopback URL needs no --live)")
    f.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    f.set_defaults(func=cmd_fetch)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def cmd_status(args: argparse.Namespace) -> int:
    from marketdata.store import SOURCES, funding_span, joined_coverage, series

    config = config_from(args)
    root = config.data_dir
    rows, parts, funding = [], [], []
    for coin, interval in series(root):
        cov, shares = joined_coverage(root, coin, interval)
        rows.append({
            "coin": coin, "interval": interval, "first": cov.first, "last": cov.last,
            "rows": cov.rows, "gaps": len(cov.gaps), "missing": cov.missing, "files": cov.files,
        })
        for sh in shares:
            parts.append({
                "coin": coin, "interval": interval, "source": sh.source, "first": sh.held.first,
                "last": sh.held.last, "rows": sh.held.rows, "used": sh.used,
                "used_first": sh.used_first, "used_last": sh.used_last,
                "gaps": len(sh.held.gaps), "missing": sh.held.missing, "files": sh.held.files,
            })
    for coin in sorted({r["coin"] for r in rows}):
        for src in SOURCES:
            span = funding_span(root, coin, src)
            if span:
                funding.append({"coin": coin, "source": src, "first": span[0], "last": span[1],
                                "rates": span[2]})
    if args.json:
        print(json.dumps({"store": str(root), "series": rows, "sources": parts,
                          "funding": funding, "precedence": list(SOURCES)}))
        return 0
    from organism.cli import fmt

    console = fmt.console()
    if not rows:
        console.print(f"the store under {root} is empty: fill it with `organism data "
                      "import`, `organism data synth`, `organism data backfill`, `organism data "
                      "fetch` or a live run")
        return 0
    table = fmt.table(f"candle store {root / 'candles'} (times UTC)")
    for col in ("coin", "interval", "first", "last", "bars", "gaps", "missing"):
        fmt.key_column(table, col, right=col not in ("coin", "interval", "first", "last"))

    def cells(first, last, bars, gaps, missing):
        return (fmt.utc_ms(first), fmt.utc_ms(last), f"{bars:,}",
                str(gaps) if not gaps else f"[yellow]{gaps}[/]", f"{missing:,}")

    joins = []
    for r in rows:
        table.add_row(r["coin"], r["interval"], *cells(r["first"], r["last"], r["rows"],
                                                       r["gaps"], r["missing"]))
        mine = [p for p in parts if (p["coin"], p["interval"]) == (r["coin"], r["interval"])]
        if len(mine) > 1 or mine[0]["source"] != SOURCES[0]:
            joins.append((r, mine))
    console.print(table)
    for r, mine in joins:
        for line in _join_lines(r, mine, [f for f in funding if f["coin"] == r["coin"]]):
            console.print(line, soft_wrap=False, highlight=False, markup=False)
    return 0


def _join_lines(row: dict, shares: list[dict], funding: list[dict]) -> list[str]:
    """How store:COIN/INTERVAL is joined: what each source gives, whose funding is charged."""
    from organism.cli import fmt

    name = f"store:{row['coin']}/{row['interval']}"
    if len(shares) > 1:
        head = f"{name} joins {len(shares)} sources, {shares[0]['source']}'s bar where both " \
               f"have one:"
    else:
        head = f"{name} comes from {shares[0]['source']} alone:"
    lines = [head]
    for s in shares:
        span = (f"{fmt.utc_ms(s['used_first'])} to {fmt.utc_ms(s['used_last'])}"
                if s["used"] else "nothing (the other source has every bar)")
        lines.append(f"  {s['source']:<12} {span}  {s['used']:>9,} bars")
    if len(funding) > 1:
        lines.append(f"  funding: {funding[1]['source']}'s before "
                     f"{fmt.utc_ms(funding[0]['first'])}, {funding[0]['source']}'s from then on")
    elif funding:
        lines.append(f"  funding: {funding[0]['source']}'s")
    return lines


def cmd_synth(args: argparse.Namespace) -> int:
    from marketdata.store import CandleStore, StoreError, candles_table
    from quant.synth import SynthSpec, generate

    config = config_from(args)
    try:
        mode = args.mode or ("edge" if args.edge > 0 else "noise")
        spec = SynthSpec(seed=args.seed, bars=args.bars, interval=args.interval, mode=mode,
                         edge=args.edge)
        market = generate(spec)
        d = market.dataset
        table = candles_table([
            dict(t=int(d.time_ms[i]), o=float(d.open[i]), h=float(d.high[i]), l=float(d.low[i]),
                 c=float(d.close[i]), v=float(d.volume[i]), n=0)
            for i in range(len(d))
        ])
        store = CandleStore(config.data_dir)
        held = store.coverage(args.coin, args.interval) if store.files(args.coin, args.interval) \
            else None
        if held is not None and held.rows and not args.replace:
            print(f"organism data synth: store:{args.coin}/{args.interval} already holds "
                  f"{held.rows:,} bars ({_iso(held.first)}Z to {_iso(held.last)}Z); nothing "
                  f"written. Add --replace to overwrite them, or choose another --coin",
                  file=sys.stderr)
            return 2
        replaced = 0
        if held is not None and args.replace:
            import shutil

            replaced = held.rows
            shutil.rmtree(store.partition(args.coin, args.interval))
            shutil.rmtree(store.ctx_folder(args.coin), ignore_errors=True)
            store = CandleStore(config.data_dir)  # forget the open times it had read
        written = store.append(args.coin, args.interval, table)
        import pyarrow as pa

        store.append_ctx(args.coin, pa.table({
            "t": d.time_ms, "funding": d.funding / (d.bar_seconds / 3600.0),  # stored hourly
            "open_interest": [0.0] * len(d), "premium": [0.0] * len(d),
            "oracle_px": d.close, "mark_px": d.close, "mid_px": d.close,
        }))
    except (ValueError, StoreError) as exc:
        print(f"organism data synth: {exc}", file=sys.stderr)
        return 2
    out = {
        "coin": args.coin, "interval": args.interval, "bars": len(d), "written": written,
        "replaced": replaced, "mode": mode, "seed": args.seed, "edge_target": args.edge,
        "oracle_sharpe": None if market.oracle_sharpe != market.oracle_sharpe else round(market.oracle_sharpe, 3),
        "oracle_dsl": market.oracle_dsl or None,
        "data_spec": f"store:{args.coin}/{args.interval}",
    }
    if args.json:
        print(json.dumps(out))
    else:
        what = f" (replacing {replaced:,} stored bars)" if replaced else ""
        print(f"wrote {written:,} bars ({mode} market, {_iso(int(d.time_ms[0]))}Z to "
              f"{_iso(int(d.time_ms[-1]))}Z) to store:{args.coin}/{args.interval}{what}")
        if market.oracle_dsl:
            print(f"oracle Sharpe after costs on this sample: {market.oracle_sharpe:.2f}; the rule:")
            print(market.oracle_dsl)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from agents.market_data.agent import rest_url
    from marketdata.store import CandleStore, StoreError, candles_table, interval_ms

    config = config_from(args)
    if config.venue.market_data != "sim" and not config.market_data.url and not args.live:
        print(f"organism data backfill: venue.market_data is {config.venue.market_data!r}, which means "
              "contacting Hyperliquid over the internet; add --live to allow it", file=sys.stderr)
        return 2
    try:
        step = interval_ms(args.interval)
        store = CandleStore(config.data_dir)
        store.partition(args.coin, args.interval)
    except StoreError as exc:
        print(f"organism data backfill: {exc}", file=sys.stderr)
        return 2
    if step is None:
        print("organism data backfill: 1M candles are not backfilled; use 1w or shorter",
              file=sys.stderr)
        return 2
    base = rest_url(config)
    from organism.cli import fmt

    if not fmt.reachable(base, 2.0):
        local = base == config.venue.url("sim")
        how = ("start the local exchange with `organism sim` (or the whole organism with "
               "`organism up`)") if local else "check the network and market_data.url"
        print(f"organism data backfill: no exchange answers at {base}; {how}", file=sys.stderr)
        return 1
    now = int(time.time() * 1000)
    try:
        bars = asyncio.run(_fetch(base, args.coin, args.interval, now - args.bars * step, now + 86_400_000))
    except Exception as exc:
        print(f"organism data backfill: cannot fetch candles from {base}: {exc}", file=sys.stderr)
        return 1
    closed = bars[:-1]  # the newest one is still open: the live feed closes it
    before = store.coverage(args.coin, args.interval)
    written = store.append(args.coin, args.interval, candles_table(
        [dict(t=b.t, o=b.o, h=b.h, l=b.l, c=b.c, v=b.v, n=b.n) for b in closed]))
    after = store.coverage(args.coin, args.interval)
    out = {"coin": args.coin, "interval": args.interval, "source": base, "fetched": len(bars),
           "written": written, "gaps_before": len(before.gaps), "gaps_after": len(after.gaps),
           "rows": after.rows}
    print(json.dumps(out) if args.json else
          f"fetched {len(bars)} candles from {base}; wrote {written} new; "
          f"gaps {len(before.gaps)} -> {len(after.gaps)}; {after.rows} rows stored")
    return 0


async def _fetch(base: str, coin: str, interval: str, start: int, end: int):
    import aiohttp

    from marketdata.hyperliquid import InfoClient

    async with aiohttp.ClientSession() as session:
        return await InfoClient(base, session).candles(coin, interval, start, end)


def cmd_fetch(args: argparse.Namespace) -> int:
    """`organism data fetch --source binance`: months of the archive into the binance source."""
    from marketdata import binance
    from marketdata.store import StoreError, joined_coverage
    from organism.cli import fmt

    config = config_from(args)
    base = args.archive_url or binance.ARCHIVE_URL
    if not binance.is_local(base) and not args.live:
        return fmt.fail("data fetch", f"this downloads from {base} over the internet; add --live "
                        "to allow it (or --archive-url DIR|http://127.0.0.1:PORT for a mirror on "
                        "this machine)")
    if "://" not in base and not Path(base).is_dir():
        return fmt.fail("data fetch", f"--archive-url {base!r} is neither a URL nor a folder")
    try:
        binance.archive_interval(args.interval)
        symbol = args.symbol or binance.symbol_for(args.coin)
        since = fmt.parse_utc(args.since)
        now = int(time.time() * 1000)
        until = fmt.parse_utc(args.until) if args.until else now
    except (StoreError, ValueError) as exc:
        return fmt.fail("data fetch", str(exc))
    if until < since:
        return fmt.fail("data fetch", f"--until {args.until} is before --since {args.since}")
    months = binance.months_between(since, until, now)
    if not months:
        return fmt.fail("data fetch", f"no month from {args.since} to {args.until or 'now'} has "
                        "ended yet; the archive publishes a month once it is over (the "
                        "newest candles come from Hyperliquid: organism data backfill)")
    label = f"{symbol} {args.interval}"
    if not args.json:
        print(f"fetching {len(months)} month(s) of {label} klines and funding rates, "
              f"{months[0][0]:04d}-{months[0][1]:02d} to {months[-1][0]:04d}-"
              f"{months[-1][1]:02d}, from {base}", file=sys.stderr)
    try:
        report = asyncio.run(binance.fetch_months(
            base, symbol, args.coin, args.interval, months, config.data_dir))
    except binance.ArchiveError as exc:
        return fmt.fail("data fetch", str(exc), 1)
    cov, shares = joined_coverage(config.data_dir, args.coin, args.interval)
    out = {
        "source": args.source, "symbol": symbol, "coin": args.coin, "interval": args.interval,
        "archive": base, "months": report.months, "skipped_months": report.skipped,
        "verified": len(report.verified), "missing": report.missing, "refused": report.refused,
        "bad_rows": report.bad_rows, "candles_written": report.candles_written,
        "funding_written": report.payments_written,
        "store": {"first": cov.first, "last": cov.last, "rows": cov.rows,
                  "sources": {sh.source: sh.used for sh in shares}},
    }
    if args.json:
        print(json.dumps(out))
    else:
        _print_fetch(out, report, f"store:{args.coin}/{args.interval}")
    return 1 if report.refused else 0


def _print_fetch(out: dict, report, spec: str) -> None:
    from organism.cli import fmt

    console = fmt.console()

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    say(f"{len(report.verified)} file(s) verified against their published checksums; wrote "
        f"{out['candles_written']:,} candles and {out['funding_written']:,} funding rates to "
        f"the binance source of {spec}")
    if report.skipped:
        say(f"already stored whole, not fetched again: {_months(report.skipped)}")
    if report.missing:
        say(f"not in the archive: {len(report.missing)} file(s), e.g. {report.missing[0]} (a "
            f"month before {out['symbol']} was listed, or not published yet)")
    for b in report.bad_rows[:10]:
        say(f"skipped bad row: {b}")
    st = out["store"]
    if st["rows"]:
        joined = ", ".join(f"{k} {v:,}" for k, v in st["sources"].items())
        say(f"{spec} now reads {st['rows']:,} bars, {fmt.utc_ms(st['first'])} to "
            f"{fmt.utc_ms(st['last'])} ({joined}; `organism data status` shows the join)")
    for r in report.refused:
        print(f"organism data fetch: {r}", file=sys.stderr)
    if report.refused:
        print(f"organism data fetch: {len(report.refused)} file(s) refused; run the same "
              f"command again to fetch them", file=sys.stderr)


def _months(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]} ({len(labels)})"
