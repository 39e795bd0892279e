"""`organism up`: the broker, JetStream provisioning, then every Procfile process, supervised."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from loguru import logger
from rich.console import Console

from bus.broker import BrokerError
from bus.log import setup_logging
from settings import AGENT_PORT_ORDER, PROJECT_ROOT, Config, load_secrets
from organism.procfile import ProcfileError, read_procfile
from organism.supervisor import Child, Supervisor, resolve_command

# Procfile entries `up` provides itself or runs only for a given venue.
BROKER_ENTRY = "nats"
VENUE_ENTRY = "venue"


def procfile_path(config: Config) -> Path:
    p = Path(config.organism.procfile)
    if p.is_absolute():
        return p
    return p if p.exists() else PROJECT_ROOT / p


def run_up(config: Config, *, duration: float | None = None, config_path: str | None = None) -> int:
    from bus.credentials import CredentialsError, for_organism, secured_broker

    console = Console(soft_wrap=True)
    data = config.data_dir
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:  # one password per process, created at the first start (bus/permissions.py)
        creds = for_organism(config)
    except CredentialsError as exc:
        print(f"organism up: {exc}", file=sys.stderr)
        return 1
    setup_logging("up", level=config.organism.log_level, log_dir=logs,
                  secrets=[*load_secrets().values(), *(creds.values() if creds else ())])
    try:
        processes = read_procfile(procfile_path(config))
    except ProcfileError as exc:
        print(f"organism up: {exc}", file=sys.stderr)
        return 2

    broker = None
    url = config.nats.url
    if not url:
        # the broker enforces the permissions of deploy/nats/hub.conf (rendered from one table)
        broker = secured_broker(data, creds, store_dir=data / "nats", host=config.nats.host,
                                port=config.nats.port, log_file=logs / "nats.log")
        try:
            broker.start()
        except BrokerError as exc:
            print(f"organism up: {exc}", file=sys.stderr)
            return 1
        url = broker.url
    try:
        return asyncio.run(_supervise(config, url, processes, duration, config_path, console,
                                      creds))
    except ConnectionError as exc:  # e.g. a broker elsewhere that refuses our admin password
        print(f"organism up: {exc}", file=sys.stderr)
        return 1
    finally:
        if broker is not None:
            broker.stop()
            logger.info("broker stopped")


async def _supervise(config, url, processes, duration, config_path, console, creds=None) -> int:
    from bus.connection import Bus
    from bus.credentials import child_env, login
    from bus.jetstream import provision
    from bus.permissions import ADMIN, OPERATOR

    from organism.story import Digest, follow, stamp

    js = config.jetstream
    admin = await Bus.connect(login(url, "organism-up", ADMIN, creds, initial_attempts=5))
    await provision(admin.js, duplicate_window_s=js.duplicate_window_s,
                    max_age_days=js.max_age_days, replicas=js.replicas)
    await admin.drain()
    # what happens is followed as the operator (admin may provision, nothing else)
    bus = await Bus.connect(login(url, "organism-up", OPERATOR, creds, initial_attempts=5))

    def say(text: str) -> None:  # one plain line per notable event, flushed for log readers
        console.print(text, markup=False, highlight=False)
        console.file.flush()

    digest = Digest()  # failed verdicts beyond a few a minute, told as one line a minute
    story = await follow(bus, say, digest)

    async def tell_digest() -> None:
        while True:
            await asyncio.sleep(5)
            for text in digest.tick(time.time()):
                say(f"{stamp()} {text}")

    digest_task = asyncio.create_task(tell_digest())

    env = {"ORGANISM__NATS__URL": url}
    if config_path:
        env["ORGANISM_CONFIG"] = str(Path(config_path).resolve())
    logs = config.data_dir / "logs"
    children = []
    for proc in processes:
        if proc.name == BROKER_ENTRY:
            continue  # this process is the broker's supervisor already
        if proc.name == VENUE_ENTRY and not config.venue.uses_sim:
            continue  # trading against testnet or mainnet: no local exchange
        # each agent logs in as itself (its Procfile name), with only its own password
        children.append(Child(proc.name, resolve_command(proc.command),
                              {**env, **child_env(creds, proc.name)},
                              log_path=str(logs / f"{proc.name}.out")))
    sup = Supervisor(
        children,
        backoff_initial_s=config.supervisor.restart_backoff_initial_s,
        backoff_max_s=config.supervisor.restart_backoff_max_s,
        stable_after_s=config.supervisor.stable_after_s,
        stop_timeout_s=config.supervisor.stop_timeout_s,
        notify=lambda text: say(f"{stamp()} {text}"),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    venue_up = config.venue.uses_sim and any(c.name == VENUE_ENTRY for c in children)

    async def venue_listening() -> None:  # the market-data agent's first connect then succeeds
        host, port = config.venue.sim.host, config.venue.sim.port
        deadline = loop.time() + 30.0
        while loop.time() < deadline and not stop.is_set():
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.2)
        logger.warning("the local exchange is not listening on {}:{} after 30 s; starting the "
                       "agents anyway (they retry)", host, port)

    await sup.start(frozenset({VENUE_ENTRY}) if venue_up else frozenset(), venue_listening)

    console.print(f"[bold green]organism up[/]: NATS {url}, data {config.data_dir}")
    for c in children:
        port = ""
        if c.name in AGENT_PORT_ORDER and config.metrics.enabled and config.metrics.base_port:
            port = f"metrics http://{config.metrics.host}:{config.metrics.port_for(c.name)}/metrics"
        console.print(f"  {c.name:<12} {' '.join(c.argv[2:] if c.argv[1:2] == ['-m'] else c.argv)}  {port}")
    if venue_up:
        from organism.cli.sim_cmd import local_market

        market = local_market(config)
        mirror = f", mirroring {market[len('mirror:'):]} (paper at real prices)" \
            if market.startswith("mirror:") else ""
        console.print(f"  venue: local exchange http://{config.venue.sim.host}:{config.venue.sim.port}{mirror}")
    console.print(f"  logs: {logs}   watch: `organism status`, `organism tail '>'`   stop: Ctrl-C")

    try:
        if duration:
            try:
                await asyncio.wait_for(stop.wait(), timeout=duration)
            except asyncio.TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        # the story ends here: what the agents report while they stop (market data going
        # quiet, risk reducing for it) is the stop's own doing, not news
        for sub in story:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        digest_task.cancel()
        for text in digest.tick(float("inf")):  # what the last minute held back
            say(f"{stamp()} {text}")
        console.print("stopping: draining agents")
        await sup.stop()
        await bus.drain()
    console.print("[bold]organism stopped[/]")
    return 0
