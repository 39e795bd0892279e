"""`organism up`, `organism nats`, `organism agent` and the CLI on the broker's permissions
(bus/permissions.py): every agent runs as its own user with no refusal, the CLI logs in as the
operator from the data folder's credentials, and an anonymous connection is refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
from pathlib import Path

from bus import subjects
from bus.credentials import credentials_path
from tests.bus.helpers import eventually, wait_sync
from tests.cli.conftest import free_port, organism, run_organism


def _no_refusals_or_passwords(data: Path) -> None:
    passwords = json.loads(credentials_path(data).read_text())["users"].values()
    for path in (data / "logs").iterdir():
        text = path.read_text(errors="replace")
        assert "permissions violation" not in text.lower(), (path.name, text[-2000:])
        assert "authorization violation" not in text.lower(), path.name
        for pw in passwords:
            assert pw not in text, f"a password in {path.name}"


def test_up_runs_every_agent_as_its_own_user_and_the_cli_as_the_operator(tmp_path,
                                                                          organism_env):
    data = tmp_path / "secured"
    port = free_port()
    env = dict(organism_env, ORGANISM__ORGANISM__DATA_DIR=str(data),
               ORGANISM__NATS__PORT=str(port), ORGANISM__VENUE__SIM__PORT=str(free_port()))
    env.pop("ORGANISM__NATS__URL")  # up starts its own (secured) broker
    up = organism("up", "--for", "60", env=env)
    wait_sync(lambda: credentials_path(data).exists(), timeout=30, what="the credentials")

    # the order path and the recorder (research agents take longer to start; the table's tests
    # cover their grants, and the logs below whatever they did meanwhile)
    needed = {"market_data", "recorder", "risk", "trader", "execution_paper", "execution_live"}

    def alive() -> bool:
        r = run_organism("status", "--json", "--wait", "1", env=env, timeout=30)
        rows = json.loads(r.stdout)["agents"] if r.returncode == 0 else []
        return needed <= {row["agent"] for row in rows if row["alive"]}

    wait_sync(alive, timeout=90, interval=0.5, what=f"heartbeats of {needed}")
    r = run_organism("sql", "SELECT count(*) AS n FROM messages", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["n"] >= 0
    r = run_organism("tail", "sys.heartbeat.*", "--count", "1", "--json", env=env, timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "Heartbeat", r.stderr
    r = run_organism("tail", "md.candle.*.*", "--last", "1", "--count", "1", "--json", env=env,
                     timeout=30)  # from the CANDLES stream (market data backfilled it)
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "Candle", r.stderr
    # someone without the data folder's credentials is not let in
    stranger = dict(env, ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "elsewhere"))
    r = run_organism("status", env=stranger)
    assert r.returncode == 1 and "refused an anonymous connection" in r.stderr, r.stderr
    up.send_signal(signal.SIGINT)
    out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "organism stopped" in out
    keys = credentials_path(data)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    _no_refusals_or_passwords(data)


def test_an_agent_started_by_hand_logs_in_with_the_data_folders_password(secured_nats,
                                                                           organism_env,
                                                                           connect_as):
    """`organism agent NAME` under foreman or Supervisor, beside `organism nats`: no
    ORGANISM_NATS_PASSWORD, so NAME's password from the data folder, and no provisioning."""
    env = dict(organism_env, ORGANISM__NATS__URL=secured_nats.url,
               ORGANISM__ORGANISM__DATA_DIR=str(secured_nats.data_dir))
    env.pop("ORGANISM_NATS_PASSWORD", None)
    agent = organism("agent", "recorder", env=env)
    beats: list[str] = []

    async def watch() -> None:
        operator = await connect_as("operator")

        async def on_beat(d) -> None:
            beats.append(d.message.agent)

        await operator.subscribe(subjects.sys_heartbeat("recorder"), on_beat)
        await eventually(lambda: beats or agent.poll() is not None, timeout=60,
                         what="the recorder's heartbeat")

    asyncio.run(watch())
    assert beats == beats[:1] * len(beats) == ["recorder"] * len(beats), agent.poll()
    agent.send_signal(signal.SIGTERM)
    out, err = agent.communicate(timeout=30)
    assert agent.returncode == 0, err
    assert "permissions violation" not in (out + err).lower()


def test_organism_nats_runs_the_secured_broker_provisioned(tmp_path, organism_env):
    env = dict(organism_env, ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "d"),
               ORGANISM__NATS__PORT=str(free_port()))
    env.pop("ORGANISM__NATS__URL")
    broker = organism("nats", env=env)
    first = broker.stdout.readline()
    assert "one user per process" in first, first + broker.stderr.read()
    from bus.connection import Bus, ConnectOptions
    from bus.credentials import load

    creds = load(tmp_path / "d")
    url = f"nats://127.0.0.1:{env['ORGANISM__NATS__PORT']}"

    async def check() -> None:
        operator = await Bus.connect(ConnectOptions(
            url=url, name="t", user="operator", password=creds.password("operator").reveal(),
            initial_attempts=3))
        assert (await operator.js.stream_info("EXEC_CMD")).config.name == "EXEC_CMD"
        await operator.drain()

    asyncio.run(check())
    r = run_organism("status", env=dict(env, ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "x")))
    assert r.returncode == 1 and "refused an anonymous connection" in r.stderr, r.stderr
    broker.send_signal(signal.SIGTERM)
    broker.communicate(timeout=30)
    assert broker.returncode == 0
    assert os.stat(credentials_path(tmp_path / "d")).st_mode & 0o077 == 0
