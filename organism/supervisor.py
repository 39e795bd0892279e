"""Supervised child processes for `organism up`: start, restart on crash with backoff, stop in order.

Children run in their own sessions, so a Ctrl-C reaches only `organism up`, which then stops them
with SIGTERM (they drain) and SIGKILL after a timeout. Each child also watches for its parent's
death (ORGANISM_PARENT_PID), so a killed supervisor leaves no orphans trading on.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loguru import logger


def resolve_command(command: str) -> list[str]:
    """`organism ...` runs with this interpreter, so an un-activated venv still works."""
    argv = shlex.split(command)
    if argv and argv[0] == "organism":
        return [sys.executable, "-m", "organism.cli.main", *argv[1:]]
    if argv and argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    log_path: str | None = None


@dataclass
class Supervisor:
    children: list[Child]
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_after_s: float = 60.0
    stop_timeout_s: float = 10.0
    # told one plain sentence per restart (organism up prints it; organism/story.py)
    notify: Callable[[str], None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _first: frozenset[str] = frozenset()  # started first, stopped last

    async def start(self, first: frozenset[str] = frozenset(),
                    ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Start every child; those named in `first` before the others, which wait for
        `ready()` (e.g. the local exchange listening, so agents do not start by failing)."""
        self._first = first
        for child in self.children:
            if child.name in first:
                self._tasks.append(asyncio.create_task(self._keep_alive(child), name=child.name))
        if ready is not None and first:
            await ready()
        for child in self.children:
            if child.name not in first:
                self._tasks.append(asyncio.create_task(self._keep_alive(child), name=child.name))

    async def _spawn(self, child: Child) -> None:
        env = {**os.environ, **child.env, "ORGANISM_PARENT_PID": str(os.getpid())}
        out = open(child.log_path, "ab") if child.log_path else None
        try:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                env=env,
                stdout=out or asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if out:
                out.close()
        child.started_at = time.monotonic()

    async def _keep_alive(self, child: Child) -> None:
        delay = self.backoff_initial_s
        while not self._stopping.is_set():
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - child.started_at
            if lived >= self.stable_after_s:
                delay = self.backoff_initial_s
            child.restarts += 1
            logger.warning(
                "{} exited with code {} after {:.1f} s; restart #{} in {:.1f} s",
                child.name, code, lived, child.restarts, delay,
            )
            if self.notify is not None:
                from organism.story import restart_line

                self.notify(restart_line(child.name, code, lived, child.restarts, delay))
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                return
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, self.backoff_max_s)

    async def stop(self) -> None:
        """SIGTERM every child and wait (SIGKILL after `stop_timeout_s`); those started `first`
        stop last, so the agents' last words still reach the local exchange."""
        self._stopping.set()
        live = [c for c in self.children if c.process and c.process.returncode is None]
        await self._terminate([c for c in live if c.name not in self._first],
                              time.monotonic() + self.stop_timeout_s)
        await self._terminate([c for c in live if c.name in self._first],
                              time.monotonic() + self.stop_timeout_s)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _terminate(self, children: list[Child], deadline: float) -> None:
        for c in children:
            try:
                c.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            except ProcessLookupError:
                pass
        for c in children:
            try:
                await asyncio.wait_for(
                    c.process.wait(), timeout=max(0.1, deadline - time.monotonic())  # type: ignore[union-attr]
                )
            except asyncio.TimeoutError:
                logger.warning("{} did not stop in {:.0f} s; killing it", c.name, self.stop_timeout_s)
                try:
                    os.killpg(c.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                except ProcessLookupError:
                    pass
                await c.process.wait()  # type: ignore[union-attr]
