"""What execution holds at the venue: `positions` and `orders`.

Both read the execution agents' KV buckets (`exec_paper`, `exec_live`): what each agent last
reconciled with the venue, so they answer while the venue is slow and show the paper and live
accounts side by side.

- `organism positions [--account paper|live|all]`: each account's equity, deposits net of
  withdrawals (the venue's ledger), and every open position with entry, mark, unrealized PnL and
  liquidation price.
- `organism orders [--open] [--account ...] [--limit N]`: the orders execution sent, newest first
  (`--open`: those still working: submitted, accepted, partially filled), with their state,
  fills and the strategy they belong to.

`--json` prints one object: money and sizes as decimal strings exactly as on the wire, times in
ms since the epoch (`*_ms`, the venue's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from decimal import Decimal

import msgspec

from organism.cli import fmt
from organism.cli.common import broker, connect_operator

ACCOUNTS = ("paper", "live")
STATE_WORDS = {"partially_filled": "partial"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("positions", help="positions and equity per account, as execution "
                       "last reconciled them with the venue",
                       description="Each account's equity and deposits (from the venue's "
                       "ledger) and every open position, from the execution agents' KV.")
    _common(p)
    p.set_defaults(func=cmd_positions)

    p = sub.add_parser("orders", help="the orders execution sent, newest first",
                       description="Orders execution sent to the venue (its own protective "
                       "stops included), newest first, with their state and fills.")
    p.add_argument("--open", action="store_true",
                   help="only orders still working (submitted, accepted, partially filled)")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="show at most N orders")
    _common(p)
    p.set_defaults(func=cmd_orders)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", choices=("paper", "live", "all"), default="all",
                   help="the account(s) to show")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--url", help="NATS URL (default: from the config)")


def _accounts(choice: str) -> tuple[str, ...]:
    return ACCOUNTS if choice == "all" else (choice,)


async def _read(url: str, config, accounts: tuple[str, ...], prefixes: tuple[str, ...]):
    """{account: {key: raw bytes}} of the keys under `prefixes` in each account's bucket."""
    from bus.state import kv_entries

    bus = await connect_operator(config, url, "organism-exec")
    out: dict[str, dict[str, bytes]] = {}
    try:
        for account in accounts:
            out[account] = {}
            try:
                kv = await bus.kv(f"exec_{account}")
            except Exception:  # bucket not there yet: execution never ran
                continue
            for key, value in (await kv_entries(kv)).items():
                if key.startswith(prefixes) and value:
                    out[account][key] = value
    finally:
        await bus.drain()
    return out


# --- positions ---------------------------------------------------------------------------------
def cmd_positions(args: argparse.Namespace) -> int:
    from schemas import AccountReport, PositionReport

    ready, code = broker(args, "positions")
    if ready is None:
        return code
    config, url = ready
    accounts = _accounts(args.account)
    raw = asyncio.run(_read(url, config, accounts, ("position.", "account")))
    result: dict[str, dict] = {}
    for account in accounts:
        keys = raw.get(account, {})
        report = (msgspec.json.decode(keys["account"], type=AccountReport)
                  if "account" in keys else None)
        positions = [msgspec.json.decode(v, type=PositionReport)
                     for k, v in sorted(keys.items()) if k.startswith("position.")]
        result[account] = {
            "equity": str(report.equity) if report else None,
            "net_transfers": str(report.net_transfers) if report else None,
            "margin_used": str(report.margin_used) if report else None,
            "withdrawable": str(report.withdrawable) if report else None,
            "as_of_ms": report.ts_event // 1_000_000 if report else None,
            "positions": [_position(p) for p in positions if p.size != 0],
        }
    if args.json:
        print(json.dumps({"accounts": result}))
        return 0
    console = fmt.console()
    for account, data in result.items():
        if data["equity"] is None:
            console.print(f"{account}: no report yet (is `organism agent execution --account "
                          f"{account}` running?)")
            continue
        pnl = Decimal(data["equity"]) - Decimal(data["net_transfers"])
        console.print(f"[bold]{account}[/]: equity {fmt.usd(float(data['equity']))}, PnL "
                      f"{fmt.usd(float(pnl), sign=True)}, deposits "
                      f"{fmt.usd(float(data['net_transfers']))}")
        if not data["positions"]:
            console.print(f"  no open positions ({fmt.utc_ms(data['as_of_ms'], True)})")
            continue
        t = fmt.table(title=f"  positions at {fmt.utc_ms(data['as_of_ms'], True)}")
        for name, right in (("coin", False), ("size", True), ("entry", True), ("mark", True),
                            ("unrealized", True), ("liquidation", True), ("leverage", True)):
            fmt.key_column(t, name, right=right)
        for p in data["positions"]:
            t.add_row(p["coin"], p["size"], _px(p["entry_price"]), _px(p["mark_price"]),
                      fmt.usd(float(p["unrealized_pnl"]), sign=True),
                      _px(p["liquidation_price"]), f"{p['leverage']:g}x")
        console.print(t)
    return 0


def _position(p) -> dict:
    return {"coin": p.coin, "size": str(p.size),
            "entry_price": None if p.entry_price is None else str(p.entry_price),
            "mark_price": None if p.mark_price is None else str(p.mark_price),
            "unrealized_pnl": str(p.unrealized_pnl), "margin_used": str(p.margin_used),
            "liquidation_price": None if p.liquidation_price is None else str(p.liquidation_price),
            "leverage": p.leverage, "as_of_ms": p.ts_event // 1_000_000}


def _px(text: str | None) -> str:
    """A price as people read it: at most six significant figures, thousands separated."""
    if text is None:
        return fmt.NA
    x = Decimal(text)
    if x == 0:
        return "0"
    places = max(0, 5 - x.copy_abs().adjusted())
    return f"{x.quantize(Decimal(1).scaleb(-places)).normalize():,f}"


# --- orders ------------------------------------------------------------------------------------
def cmd_orders(args: argparse.Namespace) -> int:
    from agents.execution.orders import TrackedOrder

    if args.limit <= 0:
        return fmt.fail("orders", f"--limit must be at least 1, got {args.limit}")
    ready, code = broker(args, "orders")
    if ready is None:
        return code
    config, url = ready
    accounts = _accounts(args.account)
    raw = asyncio.run(_read(url, config, accounts, ("order.",)))
    rows = []
    for account in accounts:
        for value in raw.get(account, {}).values():
            order = msgspec.json.decode(value, type=TrackedOrder)
            if args.open and order.done:
                continue
            rows.append((account, order))
    rows.sort(key=lambda r: (r[1].created_ms or r[1].sent_ms), reverse=True)
    rows = rows[:args.limit]
    if args.json:
        print(json.dumps({"orders": [_order(a, o) for a, o in rows]}))
        return 0
    console = fmt.console()
    if not rows:
        console.print("no open orders" if args.open else "no orders yet")
        return 0
    for account in accounts:
        mine = [o for a, o in rows if a == account]
        if not mine:
            continue
        t = fmt.table(title=f"{account} account (times UTC)")
        for name, right in (("time", False), ("order", False), ("price", True),
                            ("filled", True), ("state", False), ("by", False)):
            fmt.key_column(t, name, right=right)
        for o in mine:
            price = o.trigger_px if o.kind == "trigger" else o.limit_px
            what = "stop" if o.origin == "protective" else ("" if o.kind == "limit" else o.kind)
            when = o.created_ms or o.sent_ms
            t.add_row(time.strftime("%m-%d %H:%M:%S", time.gmtime(when / 1000)) if when else "",
                      f"{o.side} {o.size.normalize():f} {o.coin} {what}".rstrip(),
                      _px(None if price is None else str(price)), f"{o.filled.normalize():f}",
                      STATE_WORDS.get(o.status, o.status), o.strategy_id or o.origin)
        console.print(t)
    return 0


def _order(account: str, o) -> dict:
    return {
        "account": account, "cloid": o.cloid, "command_id": o.command_id,
        "intent_id": o.intent_id, "strategy_id": o.strategy_id, "origin": o.origin,
        "coin": o.coin, "side": o.side, "kind": o.kind, "tif": o.tif, "size": str(o.size),
        "filled": str(o.filled),
        "limit_price": None if o.limit_px is None else str(o.limit_px),
        "trigger_price": None if o.trigger_px is None else str(o.trigger_px),
        "reduce_only": o.reduce_only, "status": o.status, "venue_order_id": o.oid,
        "created_ms": o.created_ms, "sent_ms": o.sent_ms, "reason": o.reason,
    }

