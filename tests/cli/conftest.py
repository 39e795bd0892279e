"""Fixtures for tests that run `organism` as a real child process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bus.broker import free_port


@pytest.fixture
def organism_env(tmp_path, nats_server):
    """Environment for a child `organism` process: its own data dir, this test's broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    env.update(
        ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "data"),
        ORGANISM__NATS__URL=nats_server.url,
        ORGANISM__METRICS__BASE_PORT="0",
        ORGANISM__HEARTBEAT__INTERVAL_S="0.3",
    )
    return env


_spawned: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    """Whatever a test started, pass or fail, is gone when it ends, with its own children
    (`organism up`'s broker, local exchange and agents: killing `up` alone would orphan them)."""
    yield
    while _spawned:
        p = _spawned.pop()
        if p.poll() is not None:
            continue
        try:
            family = psutil.Process(p.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        p.kill()
        p.wait(timeout=10)
        for child in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(family, timeout=10)


def organism(*args: str, env: dict, **kw) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-m", "organism.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        **kw,
    )
    _spawned.append(p)
    return p


def run_organism(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    p = organism(*args, env=env)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def run_main(argv, capsys) -> tuple[int, str, str]:
    """`organism ARGV` in this process (the real entry point): (exit code, stdout, stderr);
    argparse's errors and --help count by their exit code."""
    from organism.cli.main import main

    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


__all__ = ["organism", "run_organism", "run_main", "free_port"]
