"""Running the organism: `up`, `agent`, `nats` (watching it: organism/cli/watch_cmds.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from organism.cli.common import config_from, positive_seconds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up",
        help="start the broker (unless nats.url is set) and every agent in the Procfile",
        description="Start the organism on this machine: the embedded NATS broker with JetStream "
        "(unless nats.url names one), then every process in the Procfile, supervised and "
        "restarted on crash. Ctrl-C (or --for expiry) stops everything cleanly.",
    )
    p.add_argument("--for", dest="duration", type=positive_seconds, metavar="SECONDS",
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
    from bus.credentials import CredentialsError, agent_login

    try:  # its own NATS user: ORGANISM_NATS_PASSWORD, else the data folder's (bus/credentials)
        secrets, config = agent_login(config, agent.name)
    except CredentialsError as exc:
        print(f"organism agent: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run_agent(agent, config, secrets=secrets, url=args.url,
                                 metrics_port=args.metrics_port))


def lower_priority(nice: int) -> int:
    """Raise this process's niceness to at least `nice` (never lower it: that needs root);
    returns the niceness now in force."""
    current = os.nice(0)
    if nice > current:
        current = os.nice(nice - current)
    return current


# --- nats --------------------------------------------------------------------------------------
def cmd_nats(args: argparse.Namespace) -> int:
    """The broker `organism up` runs: the users and permissions of deploy/nats/hub.conf, the
    passwords in the data folder, streams and buckets provisioned as admin."""
    from bus.broker import BrokerError
    from bus.credentials import (CredentialsError, credentials_path, load_or_create,
                                 provision_as_admin, secured_broker)

    config = config_from(args)
    data = config.data_dir
    (data / "logs").mkdir(parents=True, exist_ok=True)
    try:
        creds = load_or_create(data)
        broker = secured_broker(data, creds, store_dir=data / "nats", host=config.nats.host,
                                port=config.nats.port, log_file=data / "logs" / "nats.log")
        broker.start()
    except (CredentialsError, BrokerError) as exc:
        print(f"organism nats: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(provision_as_admin(config, broker.url, creds))
        print(f"nats-server with JetStream on {broker.url} (store {broker.store_dir}), one user "
              f"per process (passwords in {credentials_path(data)}); Ctrl-C stops it")
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


# --- status (organism/cli/watch_cmds.py) ----------------------------------------------------
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
