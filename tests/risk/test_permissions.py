"""Risk under the broker's generated permissions (bus/permissions.py), as `organism up` runs it:
`organism agent risk` as a process logged in as `risk` (provision off), execution and market data
played by connections logged in as `execution_paper` and `market_data`, the operator's intent,
kill and reads as `operator`. Nothing risk needs is refused, and its commands are heard."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from decimal import Decimal as D
from pathlib import Path

from bus import subjects
from bus.state import follow, pending
from schemas import (
    OPERATOR,
    AccountReport,
    AssetContext,
    ExecutionStatus,
    FlattenRequested,
    Heartbeat,
    KillSwitch,
    OrderApproved,
    SubmitOrder,
)
from tests.bus.helpers import eventually
from tests.risk.factories import intent

ROOT = Path(__file__).resolve().parents[2]


async def _feed(execution, market) -> None:
    while True:
        now = time.time_ns()
        for bus, agent in ((execution, "execution_paper"), (market, "market_data")):
            await bus.publish(subjects.sys_heartbeat(agent), Heartbeat(
                ts_event=now, ts_init=now, agent=agent, instance="test:1", pid=1, started=now,
                uptime_s=1.0))
        await execution.publish(subjects.exec_status("paper"), ExecutionStatus(
            ts_event=now, ts_init=now, account="paper", state="ready"))
        for coin, mark in (("BTC", "60000"), ("ETH", "3000")):
            await market.publish(subjects.md_ctx(coin), AssetContext(
                ts_event=now, ts_init=now, coin=coin, mark_price=D(mark), oracle_price=D(mark)))
        await asyncio.sleep(0.1)


async def test_risk_decides_commands_and_flattens_under_the_generated_permissions(
        secured_nats, connect_as, tmp_path):
    execution = await connect_as("execution_paper")
    market = await connect_as("market_data")
    operator = await connect_as(OPERATOR)
    now = time.time_ns()
    await execution.publish_durable(subjects.exec_account("paper"), AccountReport(
        ts_event=now, ts_init=now, correlation_id="account-paper", account="paper",
        equity=D("10000"), net_transfers=D("10000"), positions={"BTC": D("0.01")}),
        msg_id=f"acct:{now}")
    feeder = asyncio.create_task(_feed(execution, market))
    seen: list = []

    async def keep(m) -> None:
        seen.append(m)

    for subject in (subjects.risk_decision("paper", OPERATOR), subjects.exec_cmd("paper", "BTC"),
                    subjects.risk_flatten("paper")):
        await follow(operator, subject, keep)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANISM")}
    env.update(secured_nats.env("risk"), ORGANISM__ORGANISM__DATA_DIR=str(tmp_path / "data"),
               ORGANISM__METRICS__ENABLED="false", ORGANISM__HEARTBEAT__INTERVAL_S="0.2",
               ORGANISM__RISK__TICK_S="0.1", ORGANISM__RISK__WARMUP_S="2")
    risk = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "organism.cli.main", "agent", "risk", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await eventually(lambda: _consuming(operator), timeout=60, what="risk's consumer")
        it = intent("0.001", strategy_id=OPERATOR, intent_id="secured", t=time.time_ns())
        await operator.publish_durable(subjects.order_intent("paper", OPERATOR), it,
                                       msg_id="intent:secured")
        decision = await eventually(lambda: next((m for m in seen if getattr(
            m, "intent_id", "") == "secured" and not isinstance(m, SubmitOrder)), None),
            what="the decision")
        assert isinstance(decision, OrderApproved), decision
        await eventually(lambda: any(isinstance(m, SubmitOrder) and m.intent_id == "secured"
                                     for m in seen), what="the command")
        await operator.publish_durable(subjects.ctl_kill(), KillSwitch(
            ts_event=now, ts_init=time.time_ns(), operator="tester", reason="secured drill",
            flatten=True, account="paper"), msg_id="kill:secured")
        close = await eventually(lambda: next((m for m in seen if isinstance(m, SubmitOrder)
                                               and m.origin == "flatten"), None),
                                 what="the flatten")
        assert (close.side, close.size) == ("sell", D("0.01"))
        await eventually(lambda: any(isinstance(m, FlattenRequested) for m in seen))
        assert not (execution.refusals or market.refusals or operator.refusals)
    finally:
        feeder.cancel()
        risk.terminate()
        out, err = await asyncio.wait_for(risk.communicate(), 30)
    text = err.decode()
    assert risk.returncode == 0, text[-3000:]
    assert "refused" not in text, text[-3000:]


async def _consuming(bus) -> bool:
    return await pending(bus, "ORDERS", "risk") is not None
