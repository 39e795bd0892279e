"""Every process can still do its job under the broker's permissions (bus/permissions.py), on a
real nats-server running the generated configuration: each grant of the table works through the
same client calls the agents make, requests are answered across users, and an intent travels
operator -> risk -> execution -> observers with no refusal."""

from __future__ import annotations

import asyncio

import msgspec
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from bus import permissions as perm
from bus import subjects
from bus.codec import encode
from bus.connection import Bus, Delivery
from bus.jetstream import provision, stream_for
from bus.observe import observe
from schemas import OrderFilled, SubmitOrder, WarehouseQuery, WarehouseResult
from tests.bus.helpers import eventually
from tests.schemas.examples import EXAMPLES

NO_MESSAGE = (nats.errors.TimeoutError, asyncio.TimeoutError)


def _concrete(pattern: str) -> str:
    """A subject the pattern matches: accounts 'paper', any other wildcard 'x'."""
    out = []
    for i, tok in enumerate(pattern.split(".")):
        if tok in ("*", ">"):
            tok = "paper" if out[:1] in (["exec"], ["order"], ["risk"]) and i == 2 else "x"
        out.append(tok)
    return ".".join(out)


async def _exercise(bus: Bus, p: perm.Principal) -> None:
    """Everything the table grants `p`, done the way the agents' client calls do it."""
    for pattern in p.publish:
        subject = _concrete(pattern)
        if any(perm.matches(d, subject) for d in p.publish_except):
            continue
        if stream_for(subject):
            ack = await bus.js.publish(subject, b"{}", timeout=2)
            assert ack.seq > 0, subject
        else:
            await bus.nc.publish(subject, b"{}")
    if p.agent:
        await bus.nc.publish(subjects.sys_heartbeat(p.name), b"{}")
        await bus.js.publish(subjects.sys_deadletter(p.name), b"{}", timeout=2)
    subs = [await bus.nc.subscribe(pattern)
            for pattern in perm.nats_permissions(p).subscribe_allow]
    for d in p.durables:  # create, bind, fetch, ack: Bus.consume's calls
        sub = await bus.js.pull_subscribe(
            "", durable=d.name, stream=d.stream,
            config=ConsumerConfig(durable_name=d.name, ack_policy=AckPolicy.EXPLICIT))
        try:
            for msg in await sub.fetch(1, timeout=0.2):
                await msg.ack()
        except NO_MESSAGE:
            pass
        await sub.unsubscribe()
    for bucket in p.kv_write:
        kv = await bus.kv(bucket)
        rev = await kv.put("grant_probe", b"1")
        await kv.update("grant_probe", b"2", last=rev)
        assert (await kv.get("grant_probe")).value == b"2"
        await kv.delete("grant_probe")
    for bucket in set(p.kv_read) | set(p.kv_write):
        kv = await bus.kv(bucket)
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await kv.get("never_written")
        watcher = await kv.watchall()
        await watcher.stop()
    for stream in p.streams_read:
        await bus.js.stream_info(stream)
        ordered = await bus.js.subscribe(">", stream=stream, ordered_consumer=True,
                                         cb=_ignore)
        await ordered.unsubscribe()
    if p.jetstream_admin:
        await provision(bus.js)
    for sub in subs:
        await sub.unsubscribe()
    await bus.flush()


async def _ignore(msg) -> None:
    pass


@pytest.mark.parametrize("user", perm.USERS)
async def test_every_grant_of_the_table_works(connect_as, user):
    bus = await connect_as(user)
    await _exercise(bus, perm.BY_NAME[user])
    await bus.flush()
    assert not bus.refusals, list(bus.refusals)


async def test_requests_are_answered_across_users(connect_as):
    """evolution -> the evaluators' queue group; the operator and the dashboard -> the
    recorder's warehouse queries (allow_responses: one reply to each request, nothing else)."""
    evaluator = await connect_as("evaluator")
    recorder = await connect_as("recorder")

    async def echo(d: Delivery):
        return d.message

    async def answer(d: Delivery):
        now = d.message.ts_event
        return WarehouseResult(ts_event=now, ts_init=now, columns=["n"], rows=[[1]])

    await evaluator.subscribe(subjects.eval_batch(), echo, queue="evaluators")
    await recorder.subscribe(subjects.sys_warehouse_query(), answer, message_type=WarehouseQuery)
    await evaluator.flush()
    await recorder.flush()
    evolution = await connect_as("evolution")
    batch = EXAMPLES["EvaluationBatch"]
    assert (await evolution.request(subjects.eval_batch(), batch)).batch_id == batch.batch_id
    for user in ("operator", "dashboard"):
        asker = await connect_as(user)
        result = await asker.request(subjects.sys_warehouse_query(), EXAMPLES["WarehouseQuery"],
                                     reply_type=WarehouseResult)
        assert result.rows == [[1]]
        assert not asker.refusals
    assert not (evolution.refusals or evaluator.refusals or recorder.refusals)


async def test_an_intent_travels_the_order_path_with_no_refusal(connect_as):
    """operator intent -> risk (durable on ORDERS) -> decision and command -> execution_paper
    (its durable on EXEC_CMD) -> fill -> the trader (durable on EXEC_EVENTS); the operator's
    `tail` sees the order path through its streams."""
    operator = await connect_as("operator")
    risk = await connect_as("risk")
    execution = await connect_as("execution_paper")
    trader = await connect_as("trader")
    seen: list[str] = []

    async def on_seen(msg) -> None:
        seen.append(msg.subject)

    await observe(operator, ">", on_seen)
    decided: list[str] = []
    filled: list[str] = []

    async def decide(d: Delivery) -> None:
        intent = d.message
        approved = msgspec.structs.replace(
            EXAMPLES["OrderApproved"], correlation_id=intent.correlation_id,
            intent_id=intent.intent_id, strategy_id=intent.strategy_id, account=intent.account)
        await risk.publish_durable(subjects.risk_decision(intent.account, intent.strategy_id),
                                   approved, msg_id=f"dec:{intent.intent_id}")
        command = msgspec.structs.replace(EXAMPLES["SubmitOrder"], account=intent.account,
                                          command_id=f"cmd-{intent.intent_id}",
                                          correlation_id=intent.correlation_id, origin="intent")
        await risk.publish_durable(subjects.exec_cmd(intent.account, intent.coin), command,
                                   msg_id=f"cmd:{intent.intent_id}")
        kv = await risk.kv("risk_decisions")
        await kv.put(intent.intent_id, encode(approved))
        decided.append(intent.intent_id)

    async def execute(d: Delivery) -> None:
        command: SubmitOrder = d.message
        fill = msgspec.structs.replace(EXAMPLES["OrderFilled"], account=command.account,
                                       correlation_id=command.correlation_id)
        await execution.publish_durable(subjects.exec_event("paper", "filled", command.coin),
                                        fill, msg_id=f"fill:{command.command_id}")
        kv = await execution.kv("exec_paper")
        await kv.put(f"order.{command.command_id}", b"filled")
        await execution.publish(subjects.exec_status("paper"), EXAMPLES["ExecutionStatus"])

    async def follow(d: Delivery) -> None:
        filled.append(d.message.correlation_id)

    await risk.consume("ORDERS", "risk", decide, filter_subject=subjects.order_intent(
        subjects.ANY, subjects.ANY))
    await execution.consume("EXEC_CMD", "execution_paper", execute,
                            filter_subject=subjects.exec_cmd("paper", subjects.ANY))
    await trader.consume("EXEC_EVENTS", "trader", follow, message_type=OrderFilled,
                         filter_subject=subjects.exec_event("paper", subjects.ANY, subjects.ANY))
    intent = msgspec.structs.replace(EXAMPLES["OrderIntent"], intent_id="grants-1",
                                     strategy_id=perm.OPERATOR, account="paper",
                                     correlation_id="corr-grants-1")
    await operator.publish_durable(subjects.order_intent("paper", perm.OPERATOR), intent,
                                   msg_id=intent.intent_id)
    await eventually(lambda: filled == ["corr-grants-1"], what="the fill to reach the trader")
    assert decided == ["grants-1"]
    want = {subjects.order_intent("paper", perm.OPERATOR), subjects.exec_cmd("paper", "BTC"),
            subjects.risk_decision("paper", perm.OPERATOR),
            subjects.exec_event("paper", "filled", "BTC")}
    await eventually(lambda: want <= set(seen), what=f"the operator's tail to see {want}")
    for bus in (operator, risk, execution, trader):
        await bus.stop_consumers()
        assert not bus.refusals, (bus.agent, list(bus.refusals))
