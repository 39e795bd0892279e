"""The operator's hand on the order path: `order`, `kill`, `resume`.

- `organism order --coin C --side buy|sell --size S [--limit PX] [--account paper|live]`: an
  intent of the strategy `operator`, through risk like any other (every check applies; the
  broker lets only the operator publish as `operator`). Prints risk's decision and, when it was
  approved, what execution reported within --wait seconds. Exit 0 approved, 1 denied or no
  answer.
- `organism kill [--reason TEXT] [--no-flatten] [--account paper|live|all]`: HALTED now, and
  positions closed unless --no-flatten. Stored on the CONTROL stream: a risk agent that is down
  acts on it when it starts.
- `organism resume [--account ...] [--yes]`: lifts what the operator must lift (kill switch,
  drawdown, daily loss, exchange errors); conditions (execution not ready, silent agents, stale
  data) lift by themselves. Asks for confirmation unless --yes.

`--json` prints one object: times in ns (`ts_*`), money as decimal strings, exactly as on the
wire.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
import uuid
from decimal import Decimal, InvalidOperation

from organism.cli import fmt
from organism.cli.common import broker, connect_operator

WHO = f"{getpass.getuser()}@organism-cli"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("order", help="send an operator order intent through risk",
                       description="Send an order intent as the strategy `operator`: risk "
                       "judges it like any other (every pre-trade check, the trading state), "
                       "and only an approved one reaches execution. Prints the decision and, "
                       "once approved, what execution reported.")
    p.add_argument("--coin", required=True, help="e.g. BTC")
    p.add_argument("--side", required=True, choices=("buy", "sell"))
    p.add_argument("--size", required=True, type=_amount, help="in coins, e.g. 0.01")
    p.add_argument("--limit", type=_amount, metavar="PX",
                   help="limit price in USD (resting, Gtc); without it a market order (IOC)")
    p.add_argument("--reduce-only", action="store_true", help="only ever reduce the position")
    p.add_argument("--stop", type=_amount, metavar="PX",
                   help="where you would stop out (USD): risk's capital-at-risk check uses it")
    p.add_argument("--account", choices=("paper", "live"), default="paper",
                   help="the account to trade")
    p.add_argument("--timeout", type=_seconds, default=10.0,
                   help="seconds to wait for risk's decision")
    p.add_argument("--wait", type=_seconds, default=5.0,
                   help="seconds to wait for execution's report after an approval (0: do not)")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--url", help="NATS URL (default: from the config)")
    p.set_defaults(func=cmd_order)

    p = sub.add_parser("kill", help="halt trading now (and flatten, unless --no-flatten)",
                       description="The kill switch: the account(s) go HALTED at once and stay "
                       "so through restarts until `organism resume`; open positions are closed "
                       "with reduce-only market orders unless --no-flatten.")
    p.add_argument("--reason", default="operator kill switch", help="kept with the halt")
    p.add_argument("--no-flatten", action="store_true", help="halt, but keep the positions")
    p.add_argument("--account", choices=("paper", "live", "all"), default="all",
                   help="the account(s) to halt")
    p.add_argument("--timeout", type=_seconds, default=10.0,
                   help="seconds to wait for risk to confirm")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--url", help="NATS URL (default: from the config)")
    p.set_defaults(func=cmd_kill)

    p = sub.add_parser("resume", help="leave HALTED / REDUCING (asks for confirmation)",
                       description="Lift the kill switch and the breakers that wait for the "
                       "operator (drawdown, daily loss, exchange errors). Conditions that are "
                       "still true (execution not ready, a silent agent, stale market data) "
                       "keep holding until they clear.")
    p.add_argument("--account", choices=("paper", "live", "all"), default="all",
                   help="the account(s) to resume")
    p.add_argument("--reason", default="operator resumed", help="kept with the change")
    p.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    p.add_argument("--timeout", type=_seconds, default=10.0,
                   help="seconds to wait for risk to confirm")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--url", help="NATS URL (default: from the config)")
    p.set_defaults(func=cmd_resume)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a decimal number, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text}")
    return value


def _wire(message) -> dict:
    import msgspec

    return msgspec.to_builtins(message)


# --- order -------------------------------------------------------------------------------------
def cmd_order(args: argparse.Namespace) -> int:
    from bus.subjects import SubjectError, _token

    try:
        _token(args.coin, "coin")
    except SubjectError as exc:
        return fmt.fail("order", str(exc))
    ready, code = broker(args, "order")
    if ready is None:
        return code
    config, url = ready
    result = asyncio.run(_order(config, url, args))
    if args.json:
        print(json.dumps(result, default=str))
    else:
        _say_order(result)
    return 0 if result["decision"] == "approved" else 1


async def _order(config, url: str, args: argparse.Namespace) -> dict:
    from bus import subjects
    from bus.state import follow
    from schemas import OPERATOR, OrderApproved, OrderIntent, cloid_for

    now = time.time_ns()
    intent_id = f"op-{now // 1_000_000}-{uuid.uuid4().hex[:8]}"
    intent = OrderIntent(
        ts_event=now, ts_init=now, correlation_id=intent_id, intent_id=intent_id,
        strategy_id=OPERATOR, coin=args.coin, side=args.side, size=args.size,
        kind="limit" if args.limit else "market", limit_price=args.limit,
        time_in_force="Gtc" if args.limit else "Ioc", reduce_only=args.reduce_only,
        stop_price=args.stop, account=args.account, reason=f"organism order by {WHO}")
    result: dict = {"intent_id": intent_id, "account": args.account, "coin": args.coin,
                    "side": args.side, "size": str(args.size),
                    "limit_price": str(args.limit) if args.limit else None,
                    "decision": None, "reason": None, "detail": "", "numbers": {},
                    "command_id": None, "events": []}
    cloid = cloid_for(intent_id)
    decided = asyncio.Event()
    finished = asyncio.Event()

    async def on_decision(msg) -> None:
        if getattr(msg, "intent_id", None) != intent_id:
            return
        result["decision"] = "approved" if isinstance(msg, OrderApproved) else "denied"
        result["numbers"] = dict(msg.numbers)
        if isinstance(msg, OrderApproved):
            result["command_id"] = msg.command_id
        else:
            result["reason"], result["detail"] = msg.reason.value, msg.detail
        decided.set()

    async def on_event(msg) -> None:
        if getattr(msg, "cloid", None) != cloid:
            return
        result["events"].append(_wire(msg))
        kind = type(msg).__name__
        if kind in ("OrderRejected", "OrderCanceled", "OrderExpired") or (
                kind == "OrderFilled" and msg.remaining == 0) or (
                kind == "OrderAccepted" and args.limit):
            finished.set()

    bus = await connect_operator(config, url, "organism-order")
    try:
        stops = [await follow(bus, subjects.risk_decision(args.account, OPERATOR), on_decision),
                 await follow(bus, subjects.exec_event(args.account, subjects.ANY, args.coin),
                              on_event)]
        await bus.publish_durable(subjects.order_intent(args.account, OPERATOR), intent,
                                  msg_id=f"intent:{intent_id}")
        try:
            await asyncio.wait_for(decided.wait(), args.timeout)
        except asyncio.TimeoutError:
            result["detail"] = (f"no decision from risk within {args.timeout:g} s: is it running "
                                "(`organism status`)? The intent is stored and is decided when "
                                "risk is back")
            return result
        if result["decision"] == "approved" and args.wait > 0:
            try:
                await asyncio.wait_for(finished.wait(), args.wait)
            except asyncio.TimeoutError:
                pass
        for stop in stops:
            await stop()
    finally:
        await bus.drain()
    return result


def _say_order(r: dict) -> None:
    what = f"{r['side']} {r['size']} {r['coin']} on {r['account']}"
    what += f" limit {r['limit_price']}" if r["limit_price"] else " at market"
    if r["decision"] is None:
        print(f"organism order: {what}: {r['detail']}", file=sys.stderr)
        return
    if r["decision"] == "denied":
        print(f"denied ({r['reason']}): {what}: {r['detail']}")
        return
    n = r["numbers"]
    extra = ", ".join(f"{k} {n[k]}" for k in ("notional", "equity_share", "leverage") if k in n)
    print(f"approved: {what} (intent {r['intent_id']}; {extra})")
    for e in r["events"]:
        kind = e.get("type")
        if kind == "OrderFilled":
            print(f"  filled {e['size']} at {e['price']} (fee {fmt.usd(float(e['fee']))}, "
                  f"{e['liquidity']})")
        elif kind == "OrderRejected":
            print(f"  rejected by the venue: {e['reason']}")
        elif kind in ("OrderCanceled", "OrderExpired"):
            print(f"  {kind[5:].lower()}: {e.get('reason') or 'no reason given'} "
                  f"(filled {e.get('filled', '0')})")
        elif kind == "OrderAccepted":
            print(f"  accepted by the venue (order {e['venue_order_id']})")
    if not r["events"]:
        print("  no word from execution yet (`organism tail 'exec.event.>'` to watch)")


# --- kill and resume -----------------------------------------------------------------------------
def _accounts(target: str) -> tuple[str, ...]:
    return ("paper", "live") if target == "all" else (target,)


def cmd_kill(args: argparse.Namespace) -> int:
    ready, code = broker(args, "kill")
    if ready is None:
        return code
    config, url = ready
    from schemas import KillSwitch

    now = time.time_ns()
    msg = KillSwitch(ts_event=now, ts_init=now, operator=WHO, reason=args.reason,
                     flatten=not args.no_flatten, account=args.account)
    cause = f"kill switch by {WHO}: {args.reason}"
    result = asyncio.run(_control(
        config, url, msg, args.timeout,
        lambda book, st: "kill_switch" in book.trips and book.trips["kill_switch"].cause == cause
        and st is not None and st.state == "HALTED"))
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    if result["confirmed"]:
        for s in result["states"]:
            print(f"{s['account']}: HALTED ({s['reason']})"
                  + ("; closing positions" if s["flatten"] else ""))
    else:
        print(f"kill switch stored on the CONTROL stream for {args.account}, but risk did not "
              f"confirm within {args.timeout:g} s: is it running (`organism status`)? It acts "
              "on it when it starts; until then no intent is decided, so nothing is sent",
              file=sys.stderr)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    ready, code = broker(args, "resume")
    if ready is None:
        return code
    config, url = ready
    before = asyncio.run(_read(config, url, _accounts(args.account)))
    if not args.yes:
        if not sys.stdin.isatty():
            return fmt.fail("resume", "needs confirmation: run it in a terminal, or add --yes")
        for account, (book, st) in before.items():
            print(f"{account}: {_describe(book, st)}")
        answer = input(f"Resume trading on {args.account}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not resumed")
            return 1
    from schemas import ResumeTrading

    now = time.time_ns()
    msg = ResumeTrading(ts_event=now, ts_init=now, operator=WHO, reason=args.reason,
                        account=args.account)
    result = asyncio.run(_control(config, url, msg, args.timeout,
                                  lambda book, st: not book.trips))
    result["before"] = {a: _state_dict(a, book, st) for a, (book, st) in before.items()}
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    if not result["confirmed"]:
        print(f"resume stored on the CONTROL stream, but risk did not confirm within "
              f"{args.timeout:g} s: is it running (`organism status`)?", file=sys.stderr)
        return 0
    for s in result["states"]:
        held = "" if s["state"] == "ACTIVE" else f", still held until it clears: {s['reason']}"
        print(f"{s['account']}: {s['state']}{held}")
    return 0


class _NoBook:
    """An account risk never kept a book for: nothing latched."""

    trips: dict = {}


_NO_BOOK = _NoBook()


def _describe(book, st) -> str:
    if st is None:
        return "ACTIVE (no state from risk yet)"
    text = st.state + (f" ({st.reason})" if st.state != "ACTIVE" else "")
    latched = sorted(book.trips) if book is not None else []
    if latched:
        text += f"; resume lifts: {', '.join(latched)}"
    return text


def _state_dict(account: str, book, st) -> dict:
    return {"account": account, "state": st.state if st else "ACTIVE",
            "reason": st.reason if st else "", "breaker": st.breaker if st else "",
            "flatten": bool(st.flatten) if st else False,
            "latched": sorted(book.trips) if book is not None else []}


async def _read(config, url: str, accounts: tuple[str, ...], bus=None) -> dict:
    """(book, state) of each account as risk keeps them in KV `risk` (None when never)."""
    from agents.risk.book import AccountBook
    from bus.state import TypedKV
    from schemas import TradingStateChanged

    own = bus is None
    bus = bus or await connect_operator(config, url, "organism-risk-state")
    try:
        kv = await TypedKV.open(bus, "risk")
        return {a: (await kv.get(f"book.{a}", AccountBook),
                    await kv.get(f"state.{a}", TradingStateChanged)) for a in accounts}
    finally:
        if own:
            await bus.drain()


async def _control(config, url: str, msg, timeout: float, done) -> dict:
    """Publish a kill or resume on the CONTROL stream, then read risk's KV until every account
    it names shows it (`done(book, state)`), at most `timeout` seconds."""
    from bus import subjects
    from schemas import KillSwitch

    accounts = _accounts(msg.account)
    subject = subjects.ctl_kill() if isinstance(msg, KillSwitch) else subjects.ctl_resume()
    bus = await connect_operator(config, url, "organism-control")
    try:
        await bus.publish_durable(subject, msg, msg_id=f"ctl:{uuid.uuid4().hex}")
        deadline = time.monotonic() + timeout
        while True:
            seen = await _read(config, url, accounts, bus)
            confirmed = all(done(b or _NO_BOOK, st) for b, st in seen.values())
            if confirmed or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await bus.drain()
    return {"account": msg.account, "operator": msg.operator, "reason": msg.reason,
            "confirmed": confirmed,
            "states": [_state_dict(a, b, st) for a, (b, st) in seen.items()]}
