"""deploy/nats/hub.conf on a real nats-server: only the risk user may publish exec.cmd.>."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bus import subjects
from bus.broker import EmbeddedBroker, free_port
from bus.connection import Bus, ConnectOptions, Delivery
from tests.schemas.examples import EXAMPLES

HUB = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "hub.conf"
USERS = ["admin", "risk", "trader", "market_data", "evolution", "evaluator", "validation",
         "lifecycle", "regime", "allocation", "recorder", "dashboard", "operator"]


@pytest.fixture(scope="module")
def secured_hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    text = HUB.read_text().replace("0.0.0.0:7422", f"127.0.0.1:{free_port()}")
    text = re.sub(r'store_dir: "[^"]*"', f'store_dir: "{tmp / "js"}"', text)
    conf = tmp / "hub.conf"
    conf.write_text(text)
    env = {f"ORGANISM_NATS_{u.upper()}_PASSWORD": f"pw-{u}" for u in USERS}
    env["ORGANISM_NATS_LEAF_PASSWORD"] = "pw-leaf"
    with EmbeddedBroker(store_dir=tmp / "js", config_file=conf, env=env) as broker:
        yield broker


async def _connect(url: str, user: str) -> Bus:
    return await Bus.connect(
        ConnectOptions(url=url, name=user, user=user, password=f"pw-{user}", initial_attempts=3)
    )


async def test_only_risk_may_publish_execution_commands(secured_hub):
    url = secured_hub.url
    execution = await _connect(url, "recorder")  # any user may listen
    got: list[str] = []

    async def on_cmd(d: Delivery):
        got.append(d.message.command_id)

    await execution.subscribe(subjects.exec_cmd("*", "*"), on_cmd)
    await execution.flush()
    command = EXAMPLES["SubmitOrder"]
    for user in ("trader", "evolution", "operator"):
        rogue = await _connect(url, user)
        await rogue.publish(subjects.exec_cmd("paper", "BTC"), command)
        await rogue.flush()
        await rogue.drain()
    risk = await _connect(url, "risk")
    await risk.publish(subjects.exec_cmd("paper", "BTC"), command)
    await risk.flush()
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # a rogue command, if delivered, would have arrived by now
    assert got == [command.command_id]  # exactly one: the risk agent's
    await risk.drain()
    await execution.drain()


async def test_a_wrong_password_is_refused(secured_hub):
    with pytest.raises(Exception):
        await Bus.connect(ConnectOptions(url=secured_hub.url, name="x", user="risk",
                                         password="nope", initial_attempts=1))
