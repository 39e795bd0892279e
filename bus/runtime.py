"""The agent runtime every agent runs in.

`run_agent(agent, config)`: logging (console + JSON lines), a Prometheus endpoint, a named NATS
connection, JetStream provisioning, the clock (wall, or replay from `sys.clock`), a heartbeat on
`sys.heartbeat.{agent}` with the agent's counters, the agent's own start, then on SIGTERM/SIGINT a
graceful drain: consumers finish and ack the batch in hand, the agent flushes, the connection
drains, exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from loguru import logger

from bus import subjects
from bus.clock import Clock, ReplayClock, WallClock
from bus.connection import Bus, Delivery, options_from_config
from bus.jetstream import provision
from bus.log import setup_logging
from bus.metrics import AgentMetrics
from settings import Config, Secrets, load_secrets
from schemas import ClockTick, Heartbeat

VERSION = "0.1.0"


class Agent:
    """Base class of every agent: set `name`, implement `start(ctx)`, optionally `stop()`."""

    name: ClassVar[str] = "agent"

    async def start(self, ctx: "AgentContext") -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        """Flush whatever is in hand; called after consumers stopped, before the drain."""


@dataclass
class AgentContext:
    name: str
    config: Config
    secrets: Secrets
    bus: Bus
    clock: Clock
    data_dir: Path
    stopping: asyncio.Event
    tasks: list[asyncio.Task] = field(default_factory=list)

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """A background task owned by the agent: cancelled at drain, its crash logged and counted."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")

        def done(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is not None:
                self.bus.metrics.error("task")
                logger.opt(exception=t.exception()).error("task {} crashed", t.get_name())

        task.add_done_callback(done)
        self.tasks.append(task)
        return task


def metrics_port_for(agent: str, config: Config) -> int:
    return config.metrics.port_for(agent)


async def run_agent(
    agent: Agent,
    config: Config,
    *,
    secrets: Secrets | None = None,
    url: str | None = None,
    metrics_port: int | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    log_to_file: bool = True,
) -> int:
    name = agent.name
    secrets = secrets or load_secrets()
    data_dir = config.data_dir
    setup_logging(
        name,
        level=config.organism.log_level,
        log_dir=data_dir / "logs" if log_to_file else None,
        secrets=secrets.values(),
    )
    stopping = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)

    metrics = AgentMetrics(name)
    bound_port = 0
    if config.metrics.enabled:
        port = metrics_port if metrics_port is not None else metrics_port_for(name, config)
        try:
            bound_port = metrics.serve(config.metrics.host, port)
        except OSError as exc:
            logger.error(
                "cannot serve metrics on {}:{} ({}); set metrics.base_port or pass "
                "--metrics-port", config.metrics.host, port, exc,
            )
            return 2
    opts = options_from_config(config, name, url=url, secrets=secrets)
    connect = asyncio.ensure_future(Bus.connect(opts, metrics))
    stop_wait = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({connect, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if not connect.done():  # told to stop before NATS ever answered
        connect.cancel()
        metrics.close()
        return 0
    stop_wait.cancel()
    bus = connect.result()
    js = config.jetstream
    if js.provision:
        await provision(
            bus.js,
            duplicate_window_s=js.duplicate_window_s,
            max_age_days=js.max_age_days,
            replicas=js.replicas,
        )

    clock: Clock = WallClock() if config.clock.source == "wall" else ReplayClock()
    if isinstance(clock, ReplayClock):
        replay = clock

        async def on_tick(d: Delivery) -> None:
            replay.advance(d.message.now)

        await bus.subscribe(subjects.sys_clock(), on_tick, message_type=ClockTick)

    ctx = AgentContext(name, config, secrets, bus, clock, data_dir, stopping)
    started = time.time_ns()
    instance = f"{socket.gethostname()}:{os.getpid()}"
    state = {"value": "starting"}

    async def beat() -> None:
        now = time.time_ns()
        hb = Heartbeat(
            ts_event=now,
            ts_init=now,
            agent=name,
            instance=instance,
            pid=os.getpid(),
            started=started,
            uptime_s=(now - started) / 1e9,
            messages_in=dict(metrics.messages_in),
            messages_out=dict(metrics.messages_out),
            dead_letters=metrics.dead_letters,
            errors=metrics.errors,
            state=state["value"],  # type: ignore[arg-type]
            metrics_port=bound_port,
            version=VERSION,
        )
        try:
            await bus.publish(subjects.sys_heartbeat(name), hb)
        except Exception as exc:  # disconnected: the next beat will tell
            logger.debug("heartbeat not sent: {}", exc)

    async def heartbeat_loop() -> None:
        while True:
            await beat()
            await asyncio.sleep(config.heartbeat.interval_s)

    async def watch_parent(parent: int) -> None:
        # Started by `organism up`: if the supervisor dies, stop rather than run unsupervised.
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        logger.warning("supervisor (pid {}) is gone; stopping", parent)
        stopping.set()

    parent_pid = os.environ.get("ORGANISM_PARENT_PID", "")
    if parent_pid.isdigit():
        ctx.spawn(watch_parent(int(parent_pid)), "watch-parent")

    code = 0
    try:
        await agent.start(ctx)
        state["value"] = "running"
        hb_task = asyncio.create_task(heartbeat_loop(), name=f"{name}:heartbeat")
        logger.info(
            "{} running (nats {}, metrics :{}, pid {})", name, opts.url, bound_port, os.getpid()
        )
        await stopping.wait()
        logger.info("{} draining", name)
        state["value"] = "draining"
        hb_task.cancel()
        await beat()
    except Exception:
        logger.exception("{} failed", name)
        metrics.error("fatal")
        code = 1
    finally:
        await bus.stop_consumers()
        try:
            await agent.stop()
        except Exception:
            logger.exception("{} stop failed", name)
            code = code or 1
        await _cancel_all(ctx.tasks, name)
        await bus.drain()
        metrics.close()
        logger.info("{} stopped", name)
    return code


async def _cancel_all(tasks: list[asyncio.Task], name: str, rounds: int = 5,
                      wait_s: float = 2.0) -> None:
    """Cancel the agent's background tasks and wait for them, cancelling again those still
    running: on Python 3.11 `asyncio.wait_for` can swallow a cancellation that lands as its
    timeout fires (gh-86296), and a loop around it then runs on after its agent stopped (seen:
    execution's reconciliation loop outliving the stop, its HTTP session closed). After
    `rounds`, the stragglers are named in the log and left behind rather than hanging the stop."""
    pending = {t for t in tasks if not t.done()}
    for _ in range(rounds):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=wait_s)
    if pending:
        logger.error("{}: tasks still running after {} cancellations: {}", name, rounds,
                     ", ".join(sorted(t.get_name() for t in pending)))
