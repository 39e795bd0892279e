"""Watching the organism: `status` (who is alive, the local exchange too) and `tail` (typed
messages, stored ones first with --last / --since, then live).

Both need the broker: when none answers they say so in one line and suggest `organism up`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

import msgspec

from organism.cli import fmt
from organism.cli.common import config_from, nats_url, positive_seconds

# Subjects the broker and clients use among themselves: replies, JetStream's API, its acks and
# advisories, system events. Hidden by `tail` unless --internal (or the pattern names them).
INTERNAL_PREFIXES = ("_INBOX.", "$JS.", "$KV.", "$SYS.", "$O.")
WAIT_NOTE_S = 5.0  # say what tail waits for after this long without a message

TAIL_HELP = """\
Times print as UTC dates (2026-11-29 04:50:00Z); --json keeps the wire's values
(ts_event and ts_init in ns since the epoch, prices and sizes as on the wire).
Stored subjects (candles, candidates, reports, the order path, ...) can be replayed from
JetStream with --last N or --since TIME before following live; books, trades and
heartbeats are not stored."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="collect heartbeats and show which agents are alive",
                       description="Listen to sys.heartbeat.* for a couple of seconds and print "
                       "one row per agent, and whether the local exchange answers.",
                       epilog="--json: uptime in seconds (uptime_s), counts as integers; exit "
                       "0, or 1 when no broker answers.")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--wait", type=positive_seconds, default=None, metavar="SECONDS",
                   help="how long to listen (default: heartbeat interval + 0.5 s)")
    p.add_argument("--url", help="NATS URL (default: nats.url or nats.host:nats.port)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tail", help="print typed messages on a subject live (wildcards allowed)",
                       description="Decode and print messages on SUBJECT, e.g. "
                       "'md.candle.BTC.*', 'order.>' or '>' for everything.",
                       epilog=TAIL_HELP)
    p.add_argument("subject")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="stop after N messages (0: never)")
    p.add_argument("--last", type=int, default=0, metavar="N",
                   help="first print the last N stored messages on SUBJECT")
    p.add_argument("--since", metavar="TIME",
                   help=f"first print the stored messages since TIME, UTC ({fmt.TIME_FORMS})")
    p.add_argument("--internal", action="store_true",
                   help="also show the broker's own subjects (_INBOX.*, $JS.*, $KV.*)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--url", help="NATS URL (default: nats.url or nats.host:nats.port)")
    p.set_defaults(func=cmd_tail)


# --- status ------------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    config = config_from(args)
    wait = args.wait or config.heartbeat.interval_s + 0.5
    url = nats_url(config, args.url)
    fmt.quiet_logs()
    if not fmt.reachable(url, config.nats.connect_timeout_s):
        return fmt.broker_down("status", url)
    try:
        beats = asyncio.run(_collect_heartbeats(url, wait, config))
    except ConnectionError as exc:  # it answers but refuses us (a password), or went away
        return fmt.fail("status", str(exc), 1)
    rows = [
        {
            "agent": hb.agent,
            "instance": hb.instance,
            "alive": hb.state != "draining",
            "state": hb.state,
            "uptime_s": round(hb.uptime_s, 1),
            "messages_in": sum(hb.messages_in.values()),
            "messages_out": sum(hb.messages_out.values()),
            "dead_letters": hb.dead_letters,
            "errors": hb.errors,
            "metrics_port": hb.metrics_port,
        }
        for hb in sorted(beats.values(), key=lambda h: (h.agent, h.instance))
    ]
    heard = {r["agent"] for r in rows}
    for name in _expected(config):
        if name not in heard:  # listed in the Procfile, silent: dead, stuck or not started
            rows.append({"agent": name, "instance": "", "alive": False, "state": "silent",
                         "uptime_s": 0.0, "messages_in": 0, "messages_out": 0,
                         "dead_letters": 0, "errors": 0, "metrics_port": 0})
    venue = None
    if config.venue.uses_sim:
        venue_url = config.venue.url("sim")
        venue = {"url": venue_url, "listening": fmt.reachable(venue_url, 1.0)}
    if args.json:
        print(json.dumps({"url": url, "agents": rows, "local_exchange": venue}))
        return 0
    out = fmt.console()
    t = fmt.table(f"organism status ({url}, listened {wait:.1f} s)")
    fmt.key_column(t, "agent")
    for col in ("alive", "uptime", "in", "out", "dead letters", "errors", "metrics"):
        fmt.key_column(t, col, right=True)
    for r in rows:
        t.add_row(
            r["agent"],
            "[green]yes[/]" if r["alive"] else
            ("[red]no heartbeat[/]" if r["state"] == "silent" else f"[yellow]{r['state']}[/]"),
            fmt.duration(r["uptime_s"]) if r["uptime_s"] else "-",
            f"{r['messages_in']:,}",
            f"{r['messages_out']:,}",
            str(r["dead_letters"]) if not r["dead_letters"] else f"[red]{r['dead_letters']}[/]",
            str(r["errors"]) if not r["errors"] else f"[red]{r['errors']}[/]",
            f":{r['metrics_port']}" if r["metrics_port"] else "-",
        )
    if venue is not None:
        t.add_row("local exchange", "[green]yes[/]" if venue["listening"] else
                  "[red]not listening[/]", "-", "-", "-", "-", "-", "-")
    out.print(t)
    if venue is not None:  # under the table, so the table fits 80 columns
        out.print(f"local exchange: {venue['url']}")
    if not beats:
        out.print("no heartbeats heard: is the organism up (`organism up`)?")
    return 0


def _expected(config) -> list[str]:
    from organism.cli.runtime_cmds import _expected_agents

    return _expected_agents(config)


async def _collect_heartbeats(url: str, wait: float, config):
    from bus import subjects
    from bus.connection import Bus, Delivery
    from bus.credentials import operator_options
    from schemas import Heartbeat

    # as the operator (the broker refuses anonymous connections: bus/permissions.py)
    bus = await Bus.connect(operator_options(config, url, "organism-status", initial_attempts=2))
    beats: dict[tuple[str, str], Heartbeat] = {}

    async def on_beat(d: Delivery) -> None:
        beats[(d.message.agent, d.message.instance)] = d.message

    await bus.subscribe(subjects.sys_heartbeat("*"), on_beat, message_type=Heartbeat)
    await asyncio.sleep(wait)
    await bus.drain()
    return beats


# --- tail --------------------------------------------------------------------------------------
def cmd_tail(args: argparse.Namespace) -> int:
    from bus.subjects import SubjectError, validate_pattern

    try:
        validate_pattern(args.subject)
    except SubjectError as exc:
        return fmt.fail("tail", str(exc))
    for option, value in (("--count", args.count), ("--last", args.last)):
        if value < 0:
            return fmt.fail("tail", f"{option} must be >= 0, got {value}")
    since_ns = None
    if args.since:
        try:
            since_ns = fmt.parse_utc(args.since) * 1_000_000
        except ValueError as exc:
            return fmt.fail("tail", f"--since {exc}")
    config = config_from(args)
    url = nats_url(config, args.url)
    fmt.quiet_logs()
    if not fmt.reachable(url, config.nats.connect_timeout_s):
        return fmt.broker_down("tail", url)
    try:
        asyncio.run(_tail(args, url, since_ns, config))
    except ConnectionError as exc:  # it answers but refuses us (a password), or went away
        return fmt.fail("tail", str(exc), 1)
    except KeyboardInterrupt:
        pass
    return 0


def hidden(subject: str, pattern: str) -> bool:
    """Whether tail leaves this subject out: the broker's own traffic, unless the pattern
    itself names it (`organism tail '_INBOX.>'`)."""
    return subject.startswith(INTERNAL_PREFIXES) and not pattern.startswith(INTERNAL_PREFIXES)


def waiting_for(pattern: str, now_ms: int | None = None) -> str:
    """What a quiet `tail` is waiting for, in a trader's words."""
    from marketdata.store import interval_ms

    now = int(time.time() * 1000) if now_ms is None else now_ms
    parts = pattern.split(".")
    if parts[:2] == ["md", "candle"]:
        interval = parts[3] if len(parts) > 3 and parts[3] not in ("*", ">") else None
        step = None
        if interval:
            try:
                step = interval_ms(interval)
            except Exception:  # noqa: BLE001 - an odd interval only loses the hint
                step = None
        if step:
            nxt = (now // step + 1) * step
            return (f"{interval} candles are published when they close; the next closes at "
                    f"{fmt.utc_ms(nxt)} (in {fmt.duration((nxt - now) / 1000)})")
        return ("candles are published when they close (1m candles every minute, 1h candles "
                "on the hour); --last N shows stored ones")
    hints = {
        "md": "market data flows only while the market_data agent runs (`organism status`)",
        "evo": "evolution publishes a candidate when a strategy passes its in-sample limits, "
               "and progress after each generation",
        "val": "validation reports follow candidates from evolution",
        "order": "the trader sends intents when an allocated strategy's signal changes",
        "risk": "risk decides on each order intent",
        "exec": "execution events follow orders that risk approved",
        "sys": "agents beat every heartbeat.interval_s on sys.heartbeat.*",
    }
    hint = hints.get(parts[0], "nothing has been published on it yet")
    return f"{hint}; `organism status` shows which agents run"


async def _tail(args, url: str, since_ns: int | None, config) -> None:
    from bus.codec import DecodeFailure, decode
    from bus.connection import Bus
    from bus.credentials import operator_options
    from bus.observe import observe

    out = fmt.console(soft_wrap=True)
    bus = await Bus.connect(operator_options(config, url, "organism-tail", initial_attempts=2))
    done = asyncio.Event()
    seen = 0
    last_seen = time.monotonic()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    live: list = []
    replaying = True

    def show(subject: str, data: bytes, stored_ns: int | None = None) -> None:
        nonlocal seen, last_seen
        if done.is_set() or (args.count and seen >= args.count):
            return  # in flight while we drain: --count means exactly N
        last_seen = time.monotonic()
        try:
            message = decode(data)
            body = msgspec.to_builtins(message)
            kind = type(message).__name__
            error = None
        except DecodeFailure as exc:
            body, kind, error = data.decode("utf-8", "replace")[:500], "undecodable", exc.reason
        if args.json:
            line = {"subject": subject, "type": kind, "message": body}
            if error:
                line["error"] = error
            if stored_ns is not None:
                line["stored_ns"] = stored_ns
            sys.stdout.write(json.dumps(line, default=str) + "\n")
            sys.stdout.flush()
        else:
            from rich.markup import escape

            when = body.get("ts_event") if isinstance(body, dict) else None
            stamp = fmt.utc_ns(when, seconds=True) if isinstance(when, int) and when > 10**17 \
                else fmt.utc_ms(int(time.time() * 1000), seconds=True)
            text = escape(body) if isinstance(body, str) else compact(body)
            style = "red" if error else "cyan"
            out.print(f"[dim]{stamp}[/] [bold]{escape(subject)}[/] [{style}]{kind}[/] {text}")
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    async def on_msg(msg) -> None:
        if hidden(msg.subject, args.subject) and not args.internal:
            return
        if replaying:
            live.append((msg.subject, msg.data))
        else:
            show(msg.subject, msg.data)

    # Raw messages: tail shows what is on the wire, including what does not decode; the order
    # path comes through its streams (nobody holds a core subscription there: bus/permissions).
    await observe(bus, args.subject, on_msg)
    if args.last or since_ns is not None:
        from bus.replay import streams_for, stored_messages

        stored = await stored_messages(bus.js, args.subject, last=args.last or None,
                                       since_ns=since_ns)
        if not stored and not args.json:
            what = "no stream stores these subjects" if not streams_for(args.subject) else \
                "nothing stored matches"
            print(f"organism tail: {what}; following live", file=sys.stderr)
        replayed = set()
        for m in stored:
            replayed.add((m.subject, m.data))
            show(m.subject, m.data, m.time_ns)
        replaying = False
        for subject, data in live:
            if (subject, data) not in replayed:  # published while we read the store
                show(subject, data)
        live.clear()
    replaying = False
    noted = False
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass
        if not noted and not args.json and time.monotonic() - last_seen > WAIT_NOTE_S:
            noted = True
            print(f"waiting for {args.subject}: {waiting_for(args.subject)}", file=sys.stderr)
    await bus.drain()


_TIME_KEYS = ("ts_event", "ts_init", "time", "t", "T", "start", "end", "open_time",
              "close_time", "timestamp")


def _human(key: str, value):
    """A time-like integer field as a UTC date; other values as they are."""
    if isinstance(value, int) and not isinstance(value, bool) and (
            key in _TIME_KEYS or key.endswith(("_ns", "_ms", "_time", "_at"))):
        if 946_684_800_000 <= value < 4_102_444_800_000 or \
                946_684_800 * 10**9 <= value < 4_102_444_800 * 10**9:  # 2000..2100, ms or ns
            return fmt.utc(value, seconds=True)
    return value


def compact(body: dict) -> str:
    """One line of key=value, times as UTC dates, nested values as short JSON."""
    from rich.markup import escape

    skip = {"type", "ts_init", "ts_event"}
    parts = []
    for k, v in body.items():
        if k in skip:
            continue
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str, separators=(",", ":"))
            if len(v) > 120:
                v = v[:117] + "..."
        else:
            v = _human(k, v)
        parts.append(f"{k}={v}")
    return escape(" ".join(parts))
