"""Risk as a real process (`organism agent risk`) and the operator's commands (`organism order`,
`kill`, `resume`) as real processes, against a real broker; execution's side is played by the
test (its heartbeats and status, and a fill for every command it sees)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from bus import subjects
from bus.state import pending
from schemas import OPERATOR, OrderApproved, OrderFilled, SubmitOrder
from tests.bus.helpers import eventually
from tests.risk.factories import intent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, broker):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    e.update(ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "data"),
             ORGANISM__NATS__URL=broker.url, ORGANISM__METRICS__BASE_PORT="0",
             ORGANISM__METRICS__ENABLED="false", ORGANISM__HEARTBEAT__INTERVAL_S="0.2",
             ORGANISM__RISK__HEARTBEAT_TIMEOUT_S="1.5", ORGANISM__RISK__TICK_S="0.1",
             ORGANISM__RISK__WARMUP_S="3")
    return e


class Proc:
    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, *args: str, env: dict) -> asyncio.subprocess.Process:
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "organism.cli.main", *args, env=env, cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self.procs.append(p)
        return p

    async def run(self, *args: str, env: dict, timeout: float = 60) -> tuple[int, str, str]:
        """A CLI command to its end (the event loop keeps running: heartbeats go on)."""
        p = await self.start(*args, env=env)
        out, err = await asyncio.wait_for(p.communicate(), timeout)
        return p.returncode, out.decode(), err.decode()

    async def close(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.kill()
                await p.wait()


@pytest.fixture
async def procs():
    p = Proc()
    yield p
    await p.close()


@pytest.fixture
def cli(env, capsys, monkeypatch):
    """`await cli(*args)`: the real entry point in a thread of this process (the event loop,
    and with it the heartbeats the test publishes, keeps running); (code, stdout, stderr)."""
    for k in [k for k in os.environ if k.startswith("ORGANISM")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        if k.startswith("ORGANISM"):
            monkeypatch.setenv(k, v)

    async def run(*args: str) -> tuple[int, str, str]:
        from organism.cli.main import main

        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


async def _pending_is(bus, n: int) -> bool:
    return await pending(bus, "ORDERS", "risk") == n


async def _risk_consuming(bus) -> bool:
    return await pending(bus, "ORDERS", "risk") is not None


async def test_risk_killed_intents_pile_up_and_nothing_is_sent_restarted_the_backlog_is_decided(
        make_world, procs, env):
    w = await make_world()
    await w.ready_account()
    risk = await procs.start("agent", "risk", env=env)
    await eventually(lambda: _risk_consuming(w.bus), timeout=60, what="risk's consumer")
    await w.intent(intent("0.001", strategy_id=OPERATOR, intent_id="before"))
    await w.decision("before", timeout=30)
    # risk acks an intent after its decision is out: kill it once that ack is in, so the
    # count below is the pile alone (a redelivered "before" would be decided once anyway)
    await eventually(lambda: _pending_is(w.bus, 0), timeout=30, what="risk's ack of 'before'")
    risk.send_signal(signal.SIGKILL)
    await risk.wait()
    for n in range(10):
        await w.intent(intent("0.001", strategy_id=OPERATOR, intent_id=f"pile-{n}"))
    assert await pending(w.bus, "ORDERS", "risk") == 10  # waiting on the stream
    info = await w.bus.js.stream_info("EXEC_CMD")
    assert info.state.messages == 1  # only the command decided before the kill
    again = await procs.start("agent", "risk", env=env)
    for n in range(10):
        assert isinstance(await w.decision(f"pile-{n}", timeout=30), OrderApproved)
    await eventually(lambda: _commands(w.bus, 11), what="11 commands")
    again.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(again.wait(), 30) == 0


async def _commands(bus, n: int) -> bool:
    return (await bus.js.stream_info("EXEC_CMD")).state.messages == n


def _fill_every_command(w) -> None:
    """Play execution: a full fill at the mark for every SubmitOrder risk sends."""
    seen = set()

    async def fill(d) -> None:
        c: SubmitOrder = d.message
        if c.command_id in seen:
            return
        seen.add(c.command_id)
        now = time.time_ns()
        await w.event(subjects.exec_event(c.account, "filled", c.coin), OrderFilled(
            ts_event=now, ts_init=now, correlation_id=c.correlation_id, command_id=c.command_id,
            coin=c.coin, cloid=c.cloid, venue_order_id=1, fill_id=f"t-{c.command_id}",
            side=c.side, price=D("60010"), size=c.size, fee=D("0.27"), liquidity="taker",
            strategy_id=c.strategy_id, account=c.account))

    asyncio.get_running_loop().create_task(
        w.bus.subscribe(subjects.exec_cmd("*", "*"), fill, message_type=SubmitOrder))


async def test_organism_order_approved_denied_and_unanswered(make_world, procs, env, cli):
    w = await make_world()
    await w.ready_account()
    # no risk yet: the intent waits, the command says so and fails
    code, out, err = await cli("order", "--coin", "BTC", "--side", "buy", "--size", "0.001",
                               "--timeout", "0.5")
    assert code == 1 and "no decision from risk within 0.5 s" in err
    _fill_every_command(w)
    await procs.start("agent", "risk", env=env)
    await eventually(lambda: _risk_consuming(w.bus), timeout=60, what="risk's consumer")
    code, out, err = await procs.run("order", "--coin", "BTC", "--side", "buy", "--size",
                                     "0.002", "--json", env=env)
    assert code == 0, err
    r = json.loads(out)
    assert r["decision"] == "approved" and r["command_id"] == f"cmd-{r['intent_id']}"
    assert r["numbers"]["notional"] == "120.00"
    assert [e["type"] for e in r["events"]] == ["OrderFilled"]
    assert r["events"][0]["price"] == "60010"
    code, out, err = await cli("order", "--coin", "BTC", "--side", "sell", "--size", "0.0001")
    assert code == 1 and out.startswith("denied (min_notional): sell 0.0001 BTC on paper")
    assert "below the venue's $10.00 minimum" in out
    code, out, err = await cli("order", "--coin", "BTC", "--side", "buy", "--size", "0.001",
                               "--limit", "90000", "--json")
    assert code == 1 and json.loads(out)["reason"] == "price_band"
    with pytest.raises(SystemExit) as exit_:
        await cli("order", "--coin", "BTC", "--side", "buy", "--size", "-1")
    assert exit_.value.code == 2
    # the backlog of the first (unanswered) intent was decided too, once risk came
    assert len([d for d in w.seen["decision"] if d.strategy_id == OPERATOR]) == 4


async def test_organism_kill_and_resume(make_world, procs, env, cli):
    w = await make_world()
    await w.ready_account(positions={"BTC": "0.01"})
    await procs.start("agent", "risk", env=env)
    await eventually(lambda: _risk_consuming(w.bus), timeout=60, what="risk's consumer")
    code, out, err = await cli("kill", "--account", "paper", "--reason", "drill")
    assert code == 0, err
    assert out.startswith("paper: HALTED (kill switch by ") and "drill" in out
    assert "closing positions" in out
    close = await eventually(lambda: next((c for c in w.seen["cmd"] if c.origin == "flatten"),
                                          None), what="the flatten")
    assert (close.coin, close.side, close.size, close.reduce_only) == ("BTC", "sell", D("0.01"),
                                                                       True)
    code, out, err = await procs.run("kill", "--account", "live", "--no-flatten", "--json",
                                     env=env)
    r = json.loads(out)
    assert code == 0 and r["confirmed"] and r["states"][0]["state"] == "HALTED"
    assert not any(c.origin == "flatten" and c.account == "live" for c in w.seen["cmd"])
    code, out, err = await cli("order", "--coin", "BTC", "--side", "buy", "--size", "0.001",
                               "--account", "live")
    assert code == 1 and "denied (kill_switch)" in out
    code, out, err = await cli("resume")  # not a terminal, no --yes
    assert code == 2 and "add --yes" in err
    code, out, err = await cli("resume", "--yes", "--json")
    r = json.loads(out)
    assert code == 0 and r["confirmed"], err
    assert {s["account"]: s["state"] for s in r["states"]} == {"paper": "ACTIVE",
                                                               "live": "ACTIVE"}
    assert r["before"]["paper"]["latched"] == ["kill_switch"]
    code, out, err = await cli("order", "--coin", "BTC", "--side", "buy", "--size", "0.001",
                               "--account", "live", "--wait", "0")
    assert code == 0 and out.startswith("approved: buy 0.001 BTC on live at market")


async def test_cli_without_a_broker_says_so(cli, monkeypatch):
    monkeypatch.setenv("ORGANISM__NATS__URL", "nats://127.0.0.1:1")
    for args in (("order", "--coin", "BTC", "--side", "buy", "--size", "1"), ("kill",),
                 ("resume", "--yes")):
        code, out, err = await cli(*args)
        assert code == 1 and "no NATS broker answers at nats://127.0.0.1:1" in err, args
