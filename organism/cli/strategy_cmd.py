"""`organism strategy`: the strategy registry from the command line.

  list [--stage S]            every strategy in the registry (KV `registry`)
  show ID                     its DSL, every stage change with its reason, flags, the validated
                              figures beside the trader's live ones
  add FILE --coin C --interval I [--stage validated|paper|live] [--skip-validation]
                              a user's own strategy: validated first (a StrategyCandidate with
                              algorithm_type "user", trial count 1, an id from the DSL's hash),
                              then moved to the stage asked for
  promote ID --to paper|live  move it by hand (to live: asks for confirmation; --yes)
  pause | resume | flatten ID the paused flag and StrategyControl on ctl.strategy.{id}
  retire ID --reason TEXT     retired for good, with a death report

The operator writes as `operator` (bus/registry.py's table says what it may change). Times in
--json are ns since the epoch (the wire's), ratios fractions, money USD.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path

import msgspec

from organism.cli import fmt
from organism.cli.common import config_from, connect_operator, nats_url

STAGES = ("validated", "paper", "live", "retired")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("strategy", help="the strategy registry: list, show, add, promote, pause, "
                       "resume, flatten, retire", description=__doc__)
    p.add_argument("--url", help="NATS URL (default: nats.url or nats.host:nats.port)")
    s = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    s.required = True

    def add(name, func, help_, **kw):
        q = s.add_parser(name, help=help_, description=help_, **kw)
        q.add_argument("--json", action="store_true", help="print JSON for scripts")
        q.add_argument("--url", default=argparse.SUPPRESS,
                       help="NATS URL (default: nats.url or nats.host:nats.port)")
        q.set_defaults(func=func)
        return q

    q = add("list", cmd_list, "every strategy in the registry, newest stage change first")
    q.add_argument("--stage", choices=STAGES, help="only this stage")
    q = add("show", cmd_show, "one strategy: DSL, stage history, flags, backtest vs live")
    q.add_argument("id")
    q = add("add", cmd_add, "paper-trade your own DSL file: validated first, then the stage "
            "asked for")
    q.add_argument("file", help="a strategy in the DSL (see `organism backtest --help`)")
    q.add_argument("--coin", required=True, help="one of market.coins")
    q.add_argument("--interval", required=True, help="one of market.intervals")
    q.add_argument("--stage", choices=("validated", "paper", "live"), default="paper",
                   help="where it goes once entered")
    q.add_argument("--skip-validation", action="store_true",
                   help="enter it without the gauntlet (the registry says so)")
    q.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait for the validation agent's verdict")
    q.add_argument("--yes", action="store_true", help="confirm --stage live without asking")
    q = add("promote", cmd_promote, "move a strategy to paper or live by hand")
    q.add_argument("id")
    q.add_argument("--to", choices=("paper", "live"), required=True, dest="to")
    q.add_argument("--reason", default="", help="why, for the stage history")
    q.add_argument("--yes", action="store_true", help="confirm a move to live without asking")
    for name, what in (("pause", "stop new entries (exits and stops still followed)"),
                       ("resume", "clear the paused flag"),
                       ("flatten", "close its virtual position now; it waits for a fresh "
                                   "entry signal")):
        q = add(name, cmd_control, what)
        q.add_argument("id")
        q.add_argument("--reason", default="", help="why, for the flag and the log")
    q = add("retire", cmd_retire, "retire a strategy for good (its position is closed)")
    q.add_argument("id")
    q.add_argument("--reason", required=True, help="why, for the stage history")


# --- plumbing ------------------------------------------------------------------------------
class Refused(Exception):
    """A request the registry or the configuration refuses; the message says what to do."""


def _now() -> int:
    return time.time_ns()


def _run(args, command: str, body) -> int:
    config = config_from(args)
    url = nats_url(config, getattr(args, "url", None))
    fmt.quiet_logs()
    if not fmt.reachable(url, config.nats.connect_timeout_s):
        return fmt.broker_down(f"strategy {command}", url)

    async def go():
        from bus.registry import Registry, RegistryError

        bus = await connect_operator(config, url, f"organism-strategy-{command}", attempts=2)
        try:
            reg = await Registry.open(bus, "operator")
            return await body(config, bus, reg)
        except (RegistryError, Refused) as exc:
            return fmt.fail(f"strategy {command}", str(exc), 1)
        finally:
            await bus.drain()

    try:
        return asyncio.run(go())
    except ConnectionError:
        return fmt.broker_down(f"strategy {command}", url)


def _row(e) -> dict:
    flags = {k: getattr(e.flags, k).reason for k in ("paused", "decaying", "deactivated")
             if getattr(e.flags, k) is not None}
    v = e.validation
    return {"strategy_id": e.strategy_id, "stage": e.stage, "account": e.account,
            "coin": e.coin, "interval": e.interval, "stage_since": e.stage_since,
            "origin": e.origin.kind, "flags": flags,
            "score": v.score if v else None,
            "out_of_sample_sharpe": v.out_of_sample_sharpe if v else None,
            "skipped_validation": e.origin.skipped_validation}


# --- list / show ----------------------------------------------------------------------------
def cmd_list(args) -> int:
    async def body(config, bus, reg):
        rows = [_row(e) for e in await reg.entries() if not args.stage or e.stage == args.stage]
        rows.sort(key=lambda r: -r["stage_since"])
        if args.json:
            print(json.dumps(rows))
            return 0
        out = fmt.console()
        t = fmt.table(f"strategies{' in ' + args.stage if args.stage else ''} ({len(rows)}; "
                      "since: the day it entered its stage; score: readiness out of 100; Sharpe: out of "
                      "sample)")
        for col in ("id", "stage", "market", "since"):
            fmt.key_column(t, col)
        fmt.key_column(t, "score", right=True)
        fmt.key_column(t, "Sharpe", right=True)
        fmt.text_column(t, "origin and flags")
        for r in rows:
            notes = [r["origin"] + (", unvalidated" if r["skipped_validation"] else "")]
            notes += [f"{k}: {v}" for k, v in r["flags"].items()]
            t.add_row(r["strategy_id"], r["stage"], f"{r['coin']} {r['interval']}",
                      fmt.utc_ns(r["stage_since"])[:10], fmt.num(r["score"], 1),
                      fmt.num(r["out_of_sample_sharpe"]), "; ".join(notes))
        out.print(t)
        if not rows:
            out.print("no strategies yet: validation enters passing ones; add your own with "
                      "`organism strategy add FILE --coin C --interval I`")
        return 0

    return _run(args, "list", body)


async def _trader_book(bus, sid: str):
    """The trader's book of the strategy (KV `trader`), or None."""
    from agents.trader.agent import BUCKET, book_key
    from agents.trader.book import Book

    try:
        kv = await bus.kv(BUCKET)
        item = await kv.get(book_key(sid))
    except Exception:
        return None
    try:
        return msgspec.json.decode(item.value, type=Book) if item.value else None
    except msgspec.DecodeError:
        return None


def _mean(xs) -> float | None:
    return sum(xs) / len(xs) if xs else None


def cmd_show(args) -> int:
    async def body(config, bus, reg):
        e = await reg.require(args.id)
        book = await _trader_book(bus, e.strategy_id)
        v = e.validation
        live = None
        if book is not None:
            live = {"position": str(book.position), "target": str(book.target),
                    "account": book.account, "decisions": book.decisions,
                    "first_bar_ms": book.first_bar, "last_bar_ms": book.last_bar,
                    "trades": len(book.trade_returns),
                    "mean_trade_return": _mean(book.trade_returns),
                    "in_flight": len([w for w in book.working if not w.ended]),
                    "note": book.note, **book.tracking.summary()}
        backtest = None
        if v is not None:
            backtest = {"in_sample_sharpe": v.in_sample_sharpe,
                        "out_of_sample_sharpe": v.out_of_sample_sharpe,
                        "walk_forward_sharpe": v.walk_forward_sharpe,
                        "max_drawdown": v.max_drawdown, "trades_per_day": v.trades_per_day,
                        "deflated_sharpe": v.deflated_sharpe, "pbo": v.pbo, "score": v.score,
                        "trades": len(v.trade_returns),
                        "mean_trade_return": _mean(v.trade_returns), "data_spec": v.data_spec}
        if args.json:
            print(json.dumps({"entry": msgspec.to_builtins(e), "backtest": backtest,
                              "live": live}))
            return 0
        out = fmt.console()
        out.print(f"[bold]{e.strategy_id}[/]  {e.stage} ({e.account} account) since "
                  f"{fmt.utc_ns(e.stage_since)}; {e.coin} {e.interval}; {e.origin.kind}"
                  + (" (added without validation)" if e.origin.skipped_validation else "")
                  + (f", {e.origin.trial_count} trials" if e.origin.kind == "evolved" else ""))
        for k in ("paused", "decaying", "deactivated"):
            f = getattr(e.flags, k)
            if f is not None:
                out.print(f"[yellow]{k}[/] since {fmt.utc_ns(f.at)} by {f.by}: {f.reason}")
        out.print()
        out.print(e.dsl.strip())
        out.print()
        t = fmt.table("stage history")
        fmt.key_column(t, "when")
        fmt.key_column(t, "stage")
        fmt.key_column(t, "by")
        fmt.text_column(t, "reason")
        for c in e.history:
            t.add_row(fmt.utc_ns(c.at), c.stage, c.by, c.reason)
        out.print(t)
        t = fmt.table("backtest (validation) versus live (the trader)")
        fmt.key_column(t, "figure")
        fmt.key_column(t, "backtest", right=True)
        fmt.key_column(t, "live", right=True)
        b, lv = backtest or {}, live or {}
        rows = [
            ("Sharpe out of sample / walk-forward",
             f"{fmt.num(b.get('out_of_sample_sharpe'))} / {fmt.num(b.get('walk_forward_sharpe'))}"
             if b else "-", "-"),
            ("max drawdown", fmt.pct(b.get("max_drawdown"), sign=False) if b else "-", "-"),
            ("trades", str(b.get("trades", "-")), str(lv.get("trades", "-"))),
            ("mean trade return", fmt.pct(b.get("mean_trade_return"), 2) if b else "-",
             fmt.pct(lv.get("mean_trade_return"), 2) if lv else "-"),
            ("slippage vs decision price (bps)", "-", fmt.num(lv.get("slippage_bps"))),
            ("tracking vs backtest fills (bps, rms)", "-",
             fmt.num(lv.get("tracking_error_bps"))),
            ("position (coins) / target", "-",
             f"{lv.get('position')} / {lv.get('target')}" if lv else "-"),
        ]
        for r in rows:
            t.add_row(*r)
        out.print(t)
        if v is None:
            out.print("no validation figures: it was added with --skip-validation")
        if lv.get("note"):
            out.print(f"trader: {lv['note']}")
        return 0

    return _run(args, "show", body)


# --- add -----------------------------------------------------------------------------------
def strategy_id_for(canonical_text: str, coin: str, interval: str) -> str:
    """`user_0_{hash}`: the DSL's canonical text and its market, hashed (the same file on the
    same market is the same strategy)."""
    digest = hashlib.sha256(f"{canonical_text}|{coin}|{interval}".encode()).hexdigest()
    return f"user_0_{digest[:10]}"


def check_market(config, coin: str, interval: str) -> str:
    """Why the organism cannot trade this market, naming the config key, or ""."""
    m = config.market
    if coin not in m.coins:
        return (f"the market-data agent does not serve {coin}: add it to market.coins "
                f"(now {', '.join(m.coins)}) and restart the organism")
    if interval not in m.intervals:
        return (f"the market-data agent does not serve {interval} candles: add it to "
                f"market.intervals (now {', '.join(m.intervals)}) and restart the organism")
    blocked = getattr(getattr(config, "trader", None), "blocked_coins", [])
    if coin in blocked:
        return f"{coin} is in trader.blocked_coins: remove it there to trade it"
    return ""


def _confirm_live(args, sid: str, config) -> str:
    """"" when moving to live is confirmed, else why not."""
    if args.yes:
        return ""
    network = getattr(getattr(config, "venue", None), "live", None)
    where = f" (venue.live.network = {network.network})" if network is not None else ""
    if not sys.stdin.isatty():
        return f"moving {sid} to live trades real money{where}: confirm with --yes"
    answer = input(f"Move {sid} to live{where}? It will trade the live account. Type yes: ")
    return "" if answer.strip().lower() == "yes" else "not confirmed; nothing changed"


def cmd_add(args) -> int:
    from quant.dsl import DslError, parse_strategy
    from quant.genome import canonical_text, strategy_hash

    command = "strategy add"
    path = Path(args.file)
    try:
        text = path.read_text()
    except OSError as exc:
        return fmt.fail(command, f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        strategy = parse_strategy(text, source=str(path))
    except DslError as exc:
        return fmt.fail(command, f"{exc} (see `organism backtest --help` for the DSL)")
    config = config_from(args)
    problem = check_market(config, args.coin, args.interval)
    if problem:
        return fmt.fail(command, f"refused: {problem}")
    if args.wait <= 0:
        return fmt.fail(command, f"--wait must be > 0 seconds, got {args.wait:g}")
    sid = strategy_id_for(canonical_text(strategy), args.coin, args.interval)
    if args.stage == "live":
        why = _confirm_live(args, sid, config)
        if why:
            return fmt.fail(command, why, 1)

    async def body(config, bus, reg):
        from bus.registry import StrategyExists
        from schemas.registry import Origin, RegistryEntry

        notes: list[str] = []
        existing = await reg.get(sid)
        if existing is not None:
            notes.append(f"already in the registry ({existing.stage})")
        elif args.skip_validation:
            now = _now()
            try:
                await reg.create(RegistryEntry(
                    ts_event=now, ts_init=now, strategy_id=sid, dsl=text, coin=args.coin,
                    interval=args.interval, stage="validated", account="paper",
                    stage_since=now, origin=Origin(
                        kind="user", trial_count=1, algorithm="user",
                        genome_hash=strategy_hash(strategy), skipped_validation=True,
                        added_by="operator")),
                    f"added by the operator from {path.name} without validation "
                    "(--skip-validation)")
            except StrategyExists:
                pass
            notes.append("entered without validation")
        else:
            verdict = await _validate(bus, reg, sid, text, strategy, args)
            if isinstance(verdict, str):
                raise Refused(verdict)
            notes.append(f"passed validation (score {verdict.score:.1f})")
        entry = await reg.require(sid)
        if entry.stage != args.stage and entry.stage in ("validated", "paper"):
            if not (entry.stage == "paper" and args.stage == "validated"):
                entry = await reg.move(sid, args.stage,
                                       f"added by the operator from {path.name} for {args.stage}",
                                       _now())
        result = {"strategy_id": sid, "stage": entry.stage, "account": entry.account,
                  "coin": entry.coin, "interval": entry.interval,
                  "skipped_validation": entry.origin.skipped_validation, "notes": notes}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{sid}: {entry.stage} on the {entry.account} account, {entry.coin} "
                  f"{entry.interval} ({'; '.join(notes)}). `organism strategy show {sid}` "
                  "follows it.")
        return 0

    return _run(args, "add", body)


async def _validate(bus, reg, sid, text, strategy, args):
    """Publish the candidate and wait for the verdict, then for validation's registry entry.
    Returns the report when it passed, else what to tell the user."""
    from bus import subjects
    from quant.genome import strategy_hash
    from schemas import PerformanceMetrics, StrategyCandidate, ValidationReport

    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_report(d):
        if not got.done():
            got.set_result(d.message)

    sub = await bus.subscribe(subjects.val_report(sid), on_report, message_type=ValidationReport)
    now = _now()
    candidate = StrategyCandidate(
        ts_event=now, ts_init=now, strategy_id=sid, algorithm_type="user", generation=0,
        genome_hash=strategy_hash(strategy), dsl=text, coin=args.coin, interval=args.interval,
        data_spec=f"store:{args.coin}/{args.interval}", in_sample=PerformanceMetrics(),
        trial_count=1)
    await bus.publish_durable(subjects.evo_candidate(), candidate, msg_id=f"user:{sid}")
    try:
        report = await asyncio.wait_for(got, args.wait)
    except asyncio.TimeoutError:
        return (f"no verdict from the validation agent within {args.wait:g} s (is it running? "
                f"`organism status`). {sid} is queued: when it passes it enters the registry "
                f"as validated; then `organism strategy promote {sid} --to paper`")
    finally:
        await sub.unsubscribe()
    if report.verdict != "pass":
        return (f"{sid} failed validation, not entered: " + "; ".join(report.reasons[:3])
                + " (`organism strategy add --skip-validation` enters it anyway)")
    deadline = time.monotonic() + 30
    while await reg.get(sid) is None:
        if time.monotonic() > deadline:
            return f"{sid} passed validation but did not appear in the registry within 30 s"
        await asyncio.sleep(0.1)
    return report


# --- promote / pause / resume / flatten / retire -----------------------------------------------
def cmd_promote(args) -> int:
    config = config_from(args)
    if args.to == "live":
        why = _confirm_live(args, args.id, config)
        if why:
            return fmt.fail("strategy promote", why, 1)

    async def body(config, bus, reg):
        before = (await reg.require(args.id)).stage
        e = await reg.move(args.id, args.to, args.reason or f"moved to {args.to} by the "
                           "operator", _now())
        return _done(args, e, f"{before} -> {e.stage}")

    return _run(args, "promote", body)


def cmd_control(args) -> int:
    action = args.action

    async def body(config, bus, reg):
        from bus import subjects
        from schemas import StrategyControl

        e = await reg.require(args.id)
        now = _now()
        reason = args.reason or f"{action} by the operator"
        if action == "pause":
            e = await reg.set_flag(args.id, "paused", reason, now)
        elif action == "resume":
            e = await reg.clear_flag(args.id, "paused", reason, now)
        msg = StrategyControl(ts_event=now, ts_init=now, strategy_id=e.strategy_id,
                              action=action, operator="operator", reason=reason)
        await bus.publish_durable(subjects.ctl_strategy(e.strategy_id), msg,
                                  msg_id=f"ctl:{e.strategy_id}:{action}:{now}")
        return _done(args, e, {"pause": "paused: no new entries; exits and stops still followed",
                               "resume": "resumed", "flatten": "the trader closes its virtual "
                               "position; it waits for a fresh entry signal"}[action])

    return _run(args, action, body)


def cmd_retire(args) -> int:
    async def body(config, bus, reg):
        from schemas import DeathReport

        e = await reg.require(args.id)
        now = _now()
        v = e.validation
        death = DeathReport(
            ts_event=now, ts_init=now, strategy_id=e.strategy_id, cause="operator", dsl=e.dsl,
            born=e.history[0].at if e.history else e.stage_since, died=now,
            backtest_sharpe=v.walk_forward_sharpe if v else 0.0, live_sharpe=0.0,
            max_drawdown=v.max_drawdown if v else 0.0, trades=0, notes=args.reason)
        e = await reg.move(args.id, "retired", args.reason, now, death=death)
        return _done(args, e, "retired; the trader closes its position")

    return _run(args, "retire", body)


def _done(args, e, what: str) -> int:
    if args.json:
        print(json.dumps({**_row(e), "done": what}))
    else:
        print(f"{e.strategy_id}: {what} ({e.stage}, {e.account} account)")
    return 0
