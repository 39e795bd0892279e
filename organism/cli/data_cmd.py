"""`organism data`: the market-data store. `status`, `synth`, `backfill` here; `import` in
organism/cli/data_import.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timezone

from organism.cli.common import config_from


def register(sub: argparse._SubParsersAction) -> None:
    from organism.cli.data_import import add_import_parser

    p = sub.add_parser("data", help="the market-data store: status, import, synth, backfill",
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


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def cmd_status(args: argparse.Namespace) -> int:
    from marketdata.store import CandleStore

    config = config_from(args)
    store = CandleStore(config.data_dir)
    rows = []
    for coin, interval in store.partitions():
        cov = store.coverage(coin, interval)
        rows.append({
            "coin": coin, "interval": interval, "first": cov.first, "last": cov.last,
            "rows": cov.rows, "gaps": len(cov.gaps), "missing": cov.missing, "files": cov.files,
        })
    if args.json:
        print(json.dumps({"store": str(config.data_dir), "series": rows}))
        return 0
    from organism.cli import fmt

    console = fmt.console()
    if not rows:
        console.print(f"the store under {config.data_dir} is empty: fill it with `organism data "
                      "import`, `organism data synth`, `organism data backfill` or a live run")
        return 0
    table = fmt.table(f"candle store {config.data_dir / 'candles'} (times UTC)")
    for col in ("coin", "interval", "first", "last", "bars", "gaps", "missing"):
        fmt.key_column(table, col, right=col not in ("coin", "interval", "first", "last"))
    for r in rows:
        table.add_row(r["coin"], r["interval"], fmt.utc_ms(r["first"]), fmt.utc_ms(r["last"]),
                      f"{r['rows']:,}",
                      str(r["gaps"]) if not r["gaps"] else f"[yellow]{r['gaps']}[/]",
                      f"{r['missing']:,}")
    console.print(table)
    return 0


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
