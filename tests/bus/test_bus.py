"""The typed bus against a real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import time

import pytest

from bus import subjects
from bus.codec import decode, encode
from bus.connection import Bus, ConnectOptions, Delivery
from bus.jetstream import KV_BUCKETS, STREAMS, provision
from schemas import Candle, DeadLetter, KillSwitch, OrderIntent
from tests.bus.helpers import eventually
from tests.schemas.examples import EXAMPLES


def _kill(i: int) -> KillSwitch:
    now = time.time_ns()
    return KillSwitch(ts_event=now, ts_init=now, operator="test", reason=f"r{i}")


async def test_typed_publish_subscribe(bus):
    got: list[Delivery] = []

    async def on_candle(d: Delivery) -> None:
        got.append(d)

    await bus.subscribe(subjects.md_candle("*", "1h"), on_candle, message_type=Candle)
    await bus.flush()
    candle = EXAMPLES["Candle"]
    await bus.publish(subjects.md_candle("BTC", "1h"), candle)
    await eventually(lambda: got, what="the candle")
    assert got[0].message == candle and isinstance(got[0].message, Candle)
    assert got[0].subject == "md.candle.BTC.1h"
    assert bus.metrics.messages_in["md.candle"] == 1
    assert bus.metrics.messages_out["md.candle"] == 1


async def test_request_reply_is_typed_both_ways(bus):
    async def responder(d: Delivery):
        assert isinstance(d.message, OrderIntent)
        return EXAMPLES["OrderDenied"]

    await bus.subscribe(subjects.bench("probe"), responder, message_type=OrderIntent)
    await bus.flush()
    reply = await bus.request(subjects.bench("probe"), EXAMPLES["OrderIntent"])
    assert reply == EXAMPLES["OrderDenied"]


async def test_requests_on_stored_subjects_are_refused(bus):
    with pytest.raises(subjects.SubjectError, match="stream ORDERS stores that subject"):
        await bus.request(subjects.order_intent("paper", "x"), EXAMPLES["OrderIntent"])


async def test_queue_group_delivers_each_message_once(nats_server):
    buses = [await Bus.connect(ConnectOptions(url=nats_server.url, name=f"w{i}")) for i in range(3)]
    seen: list[str] = []

    async def work(d: Delivery):
        seen.append(d.message.reason)

    for b in buses:
        await b.subscribe(subjects.eval_batch(), work, message_type=KillSwitch, queue="evaluators")
        await b.flush()
    for i in range(30):
        await buses[0].publish(subjects.eval_batch(), _kill(i))
    await eventually(lambda: len(seen) >= 30, what="30 deliveries")
    await asyncio.sleep(0.1)  # a duplicate, if any, would arrive within this window
    assert sorted(seen) == sorted(f"r{i}" for i in range(30))
    for b in buses:
        await b.drain()


async def test_provisioning_is_idempotent(bus):
    first = await provision(bus.js)
    second = await provision(bus.js, duplicate_window_s=60)
    assert first == second
    assert set(first) == {s.name for s in STREAMS} | {f"KV_{b}" for b in KV_BUCKETS}
    info = await bus.js.stream_info("ORDERS")
    assert info.config.duplicate_window == 60


async def test_a_retried_publish_with_the_same_msg_id_is_stored_once(bus):
    subject = subjects.order_intent("paper", "dedupe")
    intent = EXAMPLES["OrderIntent"]
    before = (await bus.js.stream_info("ORDERS")).state.messages
    a = await bus.publish_durable(subject, intent, msg_id="intent-i-1")
    b = await bus.publish_durable(subject, intent, msg_id="intent-i-1")
    c = await bus.publish_durable(subject, intent, msg_id="intent-i-2")
    assert not a.duplicate and b.duplicate and not c.duplicate
    assert a.seq == b.seq != c.seq
    assert (await bus.js.stream_info("ORDERS")).state.messages == before + 2


async def test_kv_holds_current_state(bus):
    kv = await bus.kv("registry")
    await kv.put("gp_12_3fa9c2d1", encode(EXAMPLES["LifecycleEvent"]))
    entry = await kv.get("gp_12_3fa9c2d1")
    assert decode(entry.value) == EXAMPLES["LifecycleEvent"]
    await kv.put("gp_12_3fa9c2d1", b"{}")
    history = await kv.history("gp_12_3fa9c2d1")
    assert len(history) == 2


async def _dead_letters(bus: Bus, agent: str) -> list[DeadLetter]:
    sub = await bus.js.pull_subscribe(subjects.sys_deadletter(agent), stream="DEADLETTER")
    try:
        msgs = await sub.fetch(100, timeout=1)
    except asyncio.TimeoutError:
        return []
    for m in msgs:
        await m.ack()
    await sub.unsubscribe()
    return [decode(m.data, DeadLetter) for m in msgs]


async def test_garbage_goes_to_the_dead_letter_subject_and_the_agent_keeps_running(nats_server):
    agent = await Bus.connect(ConnectOptions(url=nats_server.url, name="dlagent"))
    await provision(agent.js)
    got: list = []

    async def on_intent(d: Delivery):
        got.append(d.message)

    await agent.subscribe(subjects.order_intent("paper", "*"), on_intent, message_type=OrderIntent)
    await agent.flush()
    sender = await Bus.connect(ConnectOptions(url=nats_server.url, name="sender"))
    await sender.nc.publish(subjects.order_intent("paper", "x"), b"\x00garbage", headers={"k": "v"})
    bad = encode(EXAMPLES["OrderIntent"]).replace(b'"0.015"', b'"-2"')
    await sender.nc.publish(subjects.order_intent("paper", "x"), bad)
    await sender.publish(subjects.order_intent("paper", "x"), EXAMPLES["OrderIntent"])
    await eventually(lambda: got and agent.metrics.dead_letters == 2, what="1 good, 2 dead")
    assert got == [EXAMPLES["OrderIntent"]]
    letters = await _dead_letters(sender, "dlagent")
    assert [l.payload for l in letters] == [b"\x00garbage", bad]
    assert "malformed" in letters[0].reason and letters[0].headers == {"k": "v"}
    assert "`size` must be > 0" in letters[1].reason
    assert all(l.agent == "dlagent" and l.subject == "order.intent.paper.x" for l in letters)
    await agent.drain()
    await sender.drain()


async def test_durable_consumer_acks_after_the_handler_and_redelivers_failures(bus, nats_server):
    for i in range(5):
        await bus.publish_durable(subjects.ctl_kill(), _kill(i), msg_id=f"redeliver-{i}")
    consumer = await Bus.connect(ConnectOptions(url=nats_server.url, name="flaky"))
    attempts: dict[str, int] = {}

    async def flaky(d: Delivery):
        attempts[d.message.reason] = attempts.get(d.message.reason, 0) + 1
        if d.message.reason == "r2" and attempts["r2"] == 1:
            raise RuntimeError("transient")
        if d.message.reason == "r4":
            raise RuntimeError("always fails")

    await consumer.consume("CONTROL", "flaky", flaky, max_deliver=2, ack_wait_s=5)
    await eventually(lambda: attempts.get("r2") == 2 and attempts.get("r4") == 2, timeout=15,
                     what="redelivery of r2 and exhaustion of r4")
    await eventually(lambda: consumer.metrics.dead_letters == 1, what="r4 dead-lettered")
    await consumer.drain()
    letters = await _dead_letters(bus, "flaky")
    assert len(letters) == 1 and "handler failed 2 times" in letters[0].reason
    assert decode(letters[0].payload).reason == "r4"
    info = await bus.js.consumer_info("CONTROL", "flaky")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_durable_reads_only_its_filters_and_an_older_durable_is_refiltered_in_place(
        bus, nats_server):
    """Several filter subjects: the broker delivers only those. A durable created earlier
    without them is updated at the next start, keeping what it had acknowledged."""
    from schemas import ResumeTrading

    def resume(i: int) -> ResumeTrading:
        now = time.time_ns()
        return ResumeTrading(ts_event=now, ts_init=now, operator="test", reason=f"resume{i}")

    got: list[str] = []
    ours = {"r0", "r1", "r2", "r11", "r12", "resume0", "resume1", "resume2"}

    async def record(d: Delivery) -> None:  # the stream holds other tests' messages too
        if d.message.reason in ours and d.headers.get("Nats-Msg-Id", "").startswith("refilter"):
            got.append(d.message.reason)

    first = await Bus.connect(ConnectOptions(url=nats_server.url, name="refilter-1"))
    await first.consume("CONTROL", "refilter", record, ack_wait_s=5)  # everything, unfiltered
    await bus.publish_durable(subjects.ctl_kill(), _kill(0), msg_id="refilter-k0")
    await bus.publish_durable(subjects.ctl_resume(), resume(0), msg_id="refilter-r0")
    await eventually(lambda: len(got) == 2, what="both read unfiltered")
    await first.drain()

    for i in (1, 2):
        await bus.publish_durable(subjects.ctl_kill(), _kill(i), msg_id=f"refilter-k{i}")
        await bus.publish_durable(subjects.ctl_resume(), resume(i), msg_id=f"refilter-r{i}")
        await bus.publish_durable(subjects.ctl_strategy("s1"), _kill(10 + i),
                                  msg_id=f"refilter-s{i}")
    second = await Bus.connect(ConnectOptions(url=nats_server.url, name="refilter-2"))
    await second.consume("CONTROL", "refilter", record, ack_wait_s=5,
                         filter_subjects=[subjects.ctl_kill(), subjects.ctl_strategy("*")])
    await eventually(lambda: len(got) == 6, what="the kills and strategy messages after the floor")
    await asyncio.sleep(0.5)  # nothing else arrives
    assert sorted(got) == ["r0", "r1", "r11", "r12", "r2", "resume0"]
    info = await bus.js.consumer_info("CONTROL", "refilter")
    assert sorted(info.config.filter_subjects) == ["ctl.kill", "ctl.strategy.*"]
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await second.drain()
    with pytest.raises(ValueError, match="not both"):
        await bus.consume("CONTROL", "x", record, filter_subject="ctl.kill",
                          filter_subjects=["ctl.resume"])


async def test_a_message_delivered_but_not_handled_at_stop_goes_back_at_once(bus, nats_server):
    """A consumer keeps a pull request waiting, so the next message can arrive while one is
    handled. Stopping then hands it back (nak): the next consumer gets it at once, not after
    the 30 s ack wait."""
    release = asyncio.Event()
    first: list[str] = []

    async def slow(d: Delivery) -> None:
        first.append(d.message.reason)
        await release.wait()

    a = await Bus.connect(ConnectOptions(url=nats_server.url, name="nak-a"))
    await a.consume("CONTROL", "nakback", slow, filter_subject=subjects.ctl_kill(), batch=2,
                    ack_wait_s=30, deliver_new=True)
    await bus.publish_durable(subjects.ctl_kill(), _kill(100), msg_id="nakback-0")
    await eventually(lambda: first, what="the first message in hand")
    for i in (1, 2):  # one is delivered behind it (the pull asked for 2), one stays stored
        await bus.publish_durable(subjects.ctl_kill(), _kill(100 + i), msg_id=f"nakback-{i}")

    async def delivered() -> int:
        return (await bus.js.consumer_info("CONTROL", "nakback")).num_ack_pending

    deadline = time.monotonic() + 10
    while await delivered() < 2:  # the one in hand and the one waiting behind it
        assert time.monotonic() < deadline, "the second message never reached the consumer"
        await asyncio.sleep(0.05)
    stopping = asyncio.create_task(a.drain())
    await asyncio.sleep(0.2)
    release.set()
    await stopping
    assert first == ["r100"]

    got: list[str] = []

    async def record(d: Delivery) -> None:
        got.append(d.message.reason)

    b = await Bus.connect(ConnectOptions(url=nats_server.url, name="nak-b"))
    await b.consume("CONTROL", "nakback", record, filter_subject=subjects.ctl_kill(), batch=2,
                    ack_wait_s=30, deliver_new=True)
    await eventually(lambda: sorted(got) == ["r101", "r102"], timeout=5,
                     what="the message handed back and the one never delivered")
    await b.drain()


async def test_a_consumer_deleted_under_a_running_agent_is_asked_for_calmly(bus, nats_server):
    """The broker ends the waiting pull request (409 Consumer Deleted): one warning, asked
    again after a pause, never a tight loop of requests."""
    agent = await Bus.connect(ConnectOptions(url=nats_server.url, name="deleted"))

    async def nothing(d: Delivery) -> None:
        return None

    await agent.consume("CONTROL", "deleted", nothing, filter_subject=subjects.ctl_resume(),
                        deliver_new=True)
    await asyncio.sleep(0.3)
    await bus.js.delete_consumer("CONTROL", "deleted")
    await eventually(lambda: agent.metrics.errors >= 1, what="the 409 heard")
    await asyncio.sleep(2.0)
    assert agent.metrics.errors <= 6  # at most one every 0.5 s, not thousands
    await agent.drain()


async def test_a_handler_the_broker_let_down_is_retried_with_one_line_a_bug_with_its_traceback(
        bus, nats_server):
    """A handler failing because the broker did not answer is weather: one warning line, no
    traceback; any other failure is a bug and keeps its traceback. Both are retried."""
    import nats.errors
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lines.append, format="{level} {message}\n{exception}", level="WARNING")
    for i in (5, 6):
        await bus.publish_durable(subjects.ctl_kill(), _kill(i), msg_id=f"weather-{i}")
    consumer = await Bus.connect(ConnectOptions(url=nats_server.url, name="weather"))
    attempts: dict[str, int] = {}

    async def handler(d: Delivery):
        if d.message.reason not in ("r5", "r6"):  # the stream's earlier tests' messages
            return
        attempts[d.message.reason] = attempts.get(d.message.reason, 0) + 1
        if attempts[d.message.reason] == 1:
            raise (nats.errors.TimeoutError() if d.message.reason == "r5"
                   else KeyError("a bug"))

    try:
        await consumer.consume("CONTROL", "weather", handler, max_deliver=3, ack_wait_s=5)
        await eventually(lambda: attempts.get("r5") == 2 and attempts.get("r6") == 2,
                         timeout=15, what="both retried")
    finally:
        logger.remove(sink)
        await consumer.drain()
    weather = [x for x in lines if "the broker did not answer" in x]
    bug = [x for x in lines if "failed, attempt 1/3" in x and "did not answer" not in x]
    assert len(weather) == 1 and "Traceback" not in weather[0] and "TimeoutError" in weather[0]
    assert len(bug) == 1 and "Traceback" in bug[0] and "KeyError" in bug[0]
