"""Running and watching the organism: `up`, `agent`, `nats`, `status`, `tail`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

import msgspec

from organism.cli.common import config_from, nats_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up",
        help="start the broker (unless nats.url is set) and every agent in the Procfile",
        description="Start the organism on this machine: the embedded NATS broker with JetStream "
        "(unless nats.url names one), then every process in the Procfile, supervised and "
        "restarted on crash. Ctrl-C (or --for expiry) stops everything cleanly.",
    )
    p.add_argument("--for", dest="duration", type=_positive_float, metavar="SECONDS",
                   help="stop by itself after this many seconds")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("agent", help="run one agent in the foreground",
                       description="Run one agent in the foreground until SIGTERM or Ctrl-C.")
    p.add_argument("name", help="agent name, e.g. recorder")
    p.add_argument("--url", help="NATS URL (default: nats.url or nats.host:nats.port)")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="Prometheus port (default: metrics.base_port + the agent's index; 0 = any)")
    p.add_argument("--account", choices=("paper", "live"),
                   help="the account of an agent run once per account (execution): it runs as "
                   "NAME_ACCOUNT, e.g. execution_paper")
    p.set_defaults(func=cmd_agent)

    p = sub.add_parser("nats", help="run only the embedded NATS broker (JetStream on)",
                       description="Run the embedded nats-server in the foreground, its JetStream "
                       "store under the data directory.")
    p.set_defaults(func=cmd_nats)

    p = sub.add_parser("status", help="collect heartbeats and show which agents are alive",
                       description="Listen to sys.heartbeat.* for a couple of seconds and print "
                       "one row per agent.")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--wait", type=_positive_float, default=None, metavar="SECONDS",
                   help="how long to listen (default: heartbeat interval + 0.5 s)")
    p.add_argument("--url", help="NATS URL")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tail", help="print typed messages on a subject live (wildcards allowed)",
                       description="Decode and print messages on SUBJECT, e.g. 'md.candle.BTC.*', "
                       "'order.>' or '>' for everything.")
    p.add_argument("subject")
    p.add_argument("--count", type=int, default=0, metavar="N", help="stop after N messages")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--url", help="NATS URL")
    p.set_defaults(func=cmd_tail)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


# --- agent -------------------------------------------------------------------------------------
def cmd_agent(args: argparse.Namespace) -> int:
    from agents import UnknownAgent, load_agent_class
    from bus.runtime import run_agent

    config = config_from(args)
    try:
        cls = load_agent_class(args.name)
    except UnknownAgent as exc:
        print(f"organism agent: {exc}", file=sys.stderr)
        return 2
    lower_priority(config.supervisor.nice.get(args.name, 0))
    try:
        agent = cls(account=args.account) if args.account else cls()
    except TypeError:
        print(f"organism agent: {args.name} takes no --account (only agents run once per "
              "account do)", file=sys.stderr)
        return 2
    return asyncio.run(run_agent(agent, config, url=args.url, metrics_port=args.metrics_port))


def lower_priority(nice: int) -> int:
    """Raise this process's niceness to at least `nice` (never lower it: that needs root);
    returns the niceness now in force."""
    current = os.nice(0)
    if nice > current:
        current = os.nice(nice - current)
    return current


# --- nats --------------------------------------------------------------------------------------
def _broker(config):
    from bus.broker import EmbeddedBroker

    data = config.data_dir
    return EmbeddedBroker(
        store_dir=data / "nats",
        host=config.nats.host,
        port=config.nats.port,
        log_file=data / "logs" / "nats.log",
    )


def cmd_nats(args: argparse.Namespace) -> int:
    config = config_from(args)
    (config.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    broker = _broker(config).start()
    print(f"nats-server with JetStream on {broker.url} (store {broker.store_dir}); Ctrl-C stops it")
    try:
        _wait_for_signal()
    finally:
        broker.stop()
    return 0


def _wait_for_signal(timeout: float | None = None) -> None:
    got = {"sig": False}

    def handler(signum, frame):
        got["sig"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not got["sig"] and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# --- up ----------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from organism.up import run_up

    return run_up(config_from(args), duration=args.duration, config_path=args.config)


# --- status ------------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    config = config_from(args)
    wait = args.wait or config.heartbeat.interval_s + 0.5
    url = nats_url(config, args.url)
    try:
        beats = asyncio.run(_collect_heartbeats(url, wait, config.nats.connect_timeout_s))
    except ConnectionError as exc:
        print(f"organism status: {exc}", file=sys.stderr)
        return 1
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
    for name in _expected_agents(config):
        if name not in heard:  # listed in the Procfile, silent: dead, stuck or not started
            rows.append({"agent": name, "instance": "", "alive": False, "state": "silent",
                         "uptime_s": 0.0, "messages_in": 0, "messages_out": 0,
                         "dead_letters": 0, "errors": 0, "metrics_port": 0})
    if args.json:
        print(json.dumps({"url": url, "agents": rows}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"organism status ({url}, listened {wait:.1f} s)")
    for col in ("agent", "alive", "uptime", "in", "out", "dead letters", "errors", "metrics"):
        table.add_column(col, justify="left" if col == "agent" else "right")
    for r in rows:
        table.add_row(
            r["agent"],
            "[green]yes[/]" if r["alive"] else
            ("[red]no heartbeat[/]" if r["state"] == "silent" else f"[yellow]{r['state']}[/]"),
            _duration(r["uptime_s"]),
            str(r["messages_in"]),
            str(r["messages_out"]),
            str(r["dead_letters"]) if not r["dead_letters"] else f"[red]{r['dead_letters']}[/]",
            str(r["errors"]) if not r["errors"] else f"[red]{r['errors']}[/]",
            f":{r['metrics_port']}" if r["metrics_port"] else "-",
        )
    console = Console()
    console.print(table)
    if not rows:
        console.print("no heartbeats heard: is the organism up (`organism up`)?")
    return 0


def _expected_agents(config) -> list[str]:
    """Agents the Procfile runs (`organism agent NAME` lines), for spotting silent ones."""
    from organism.procfile import ProcfileError, read_procfile
    from organism.up import procfile_path

    try:
        processes = read_procfile(procfile_path(config))
    except ProcfileError:
        return []
    names = []
    for p in processes:
        words = p.command.split()
        if len(words) >= 3 and words[:2] == ["organism", "agent"]:
            account = words[words.index("--account") + 1] if "--account" in words[:-1] else ""
            names.append(f"{words[2]}_{account}" if account else words[2])
    return names


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


async def _collect_heartbeats(url: str, wait: float, connect_timeout: float):
    from bus.connection import Bus, ConnectOptions, Delivery
    from bus import subjects
    from schemas import Heartbeat

    bus = await Bus.connect(
        ConnectOptions(url=url, name="organism-status", connect_timeout_s=connect_timeout,
                       initial_attempts=2)
    )
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
        print(f"organism tail: {exc}", file=sys.stderr)
        return 2
    config = config_from(args)
    url = nats_url(config, args.url)
    try:
        asyncio.run(_tail(url, args.subject, args.count, args.json, config.nats.connect_timeout_s))
    except ConnectionError as exc:
        print(f"organism tail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def _tail(url: str, subject: str, count: int, as_json: bool, connect_timeout: float) -> None:
    from rich.console import Console

    from bus.codec import DecodeFailure, decode
    from bus.connection import Bus, ConnectOptions

    console = Console(highlight=False)
    bus = await Bus.connect(
        ConnectOptions(url=url, name="organism-tail", connect_timeout_s=connect_timeout,
                       initial_attempts=2)
    )
    done = asyncio.Event()
    seen = 0
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)

    async def on_msg(msg) -> None:
        nonlocal seen
        if count and seen >= count:
            return  # in flight while we drain: --count means exactly N
        try:
            message = decode(msg.data)
            body = msgspec.to_builtins(message)
            kind = type(message).__name__
            error = None
        except DecodeFailure as exc:
            body, kind, error = msg.data.decode("utf-8", "replace")[:500], "undecodable", exc.reason
        if as_json:
            line = {"subject": msg.subject, "type": kind, "message": body}
            if error:
                line["error"] = error
            sys.stdout.write(json.dumps(line, default=str) + "\n")
            sys.stdout.flush()
        else:
            stamp = time.strftime("%H:%M:%S")
            text = body if isinstance(body, str) else _compact(body)
            style = "red" if error else "cyan"
            console.print(f"[dim]{stamp}[/] [bold]{msg.subject}[/] [{style}]{kind}[/] {text}",
                          markup=True, soft_wrap=True)
        seen += 1
        if count and seen >= count:
            done.set()

    # Raw subscription: tail shows what is on the wire, including what does not decode.
    await bus.nc.subscribe(subject, cb=on_msg)
    await done.wait()
    await bus.drain()


def _compact(body: dict) -> str:
    skip = {"type", "ts_init"}
    parts = []
    for k, v in body.items():
        if k in skip:
            continue
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str, separators=(",", ":"))
            if len(v) > 120:
                v = v[:117] + "..."
        parts.append(f"{k}={v}")
    from rich.markup import escape

    return escape(" ".join(parts))
