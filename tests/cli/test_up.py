"""`organism up`: broker, agents, a clean stop, no stray processes."""

from __future__ import annotations

import os
import signal

import psutil

from tests.bus.helpers import wait_sync
from tests.cli.conftest import free_port, organism, run_organism


def _ours(data_dir: str) -> list[psutil.Process]:
    """Processes started for this data dir: the broker (store path on its command line) and
    agents (the data dir in their environment)."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        try:
            if any(data_dir in part for part in (p.info["cmdline"] or [])):
                found.append(p)
                continue
            if p.environ().get("ORGANISM__ORGANISM__DATA_DIR") == data_dir:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def test_up_starts_and_stops_cleanly(tmp_path, organism_env):
    data = str(tmp_path / "updata")
    sim_port = free_port()
    env = dict(organism_env, ORGANISM__ORGANISM__DATA_DIR=data,
               ORGANISM__NATS__PORT=str(free_port()), ORGANISM__VENUE__SIM__PORT=str(sim_port))
    env.pop("ORGANISM__NATS__URL")  # up starts its own embedded broker
    logs = tmp_path / "updata" / "logs"
    up = organism("up", "--for", "120", env=env)

    def recorder_running() -> bool:
        path = logs / "recorder.out"
        return path.exists() and "recorder running" in path.read_text()

    # stopped once an agent is really running (a fixed --for could end before a loaded machine
    # has imported the recorder); --for's own ending is the other tests'
    wait_sync(recorder_running, timeout=90, interval=0.2, what="the recorder running")
    up.send_signal(signal.SIGINT)
    out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err + out
    assert "organism up" in out and "recorder" in out
    assert f"local exchange http://127.0.0.1:{sim_port}" in out
    assert "organism stopped" in out
    assert _ours(data) == []
    recorder = (logs / "recorder.out").read_text()
    assert "recorder stopped" in recorder
    up_log = (logs / "up.jsonl").read_text()
    assert "killing" not in up_log and "exited with code" not in up_log, up_log


def test_up_leaves_out_the_local_exchange_for_a_real_network(tmp_path, organism_env):
    data = str(tmp_path / "testnet")
    env = dict(organism_env, ORGANISM__ORGANISM__DATA_DIR=data,
               ORGANISM__NATS__PORT=str(free_port()), ORGANISM__VENUE__MARKET_DATA="testnet",
               ORGANISM__VENUE__PAPER__NETWORK="testnet", ORGANISM__VENUE__LIVE__NETWORK="testnet")
    env.pop("ORGANISM__NATS__URL")
    r = run_organism("up", "--for", "1", env=env, timeout=90)
    assert r.returncode == 0, r.stderr
    assert "recorder" in r.stdout and "local exchange" not in r.stdout
    assert not (tmp_path / "testnet" / "logs" / "venue.out").exists()


def test_up_refuses_a_busy_port(tmp_path, organism_env, nats_server):
    env = dict(organism_env, ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "d"),
               ORGANISM__NATS__PORT=str(nats_server.port))
    env.pop("ORGANISM__NATS__URL")
    r = run_organism("up", "--for", "1", env=env, timeout=60)
    assert r.returncode == 1
    assert f"port 127.0.0.1:{nats_server.port} is already in use" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_config_stops_start_up_naming_the_key(organism_env):
    env = dict(organism_env, ORGANISM__NATS__PORT="lots")
    r = run_organism("up", "--for", "1", env=env)
    assert r.returncode == 2
    assert "nats.port = 'lots'" in r.stderr and "ORGANISM__NATS__PORT" in r.stderr


def test_every_command_has_help_and_bad_arguments_are_one_line_errors(organism_env):
    for args in (["--help"], ["up", "--help"], ["status", "--help"], ["tail", "--help"],
                 ["bench", "bus", "--help"], ["config", "--help"], ["agent", "--help"]):
        r = run_organism(*args, env=organism_env)
        assert r.returncode == 0 and "usage:" in r.stdout, args
    r = run_organism("up", "--for", "-3", env=organism_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "positive number of seconds" in r.stderr
    r = run_organism("frobnicate", env=organism_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
