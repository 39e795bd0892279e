"""Watching the organism: `organism tail`, the Prometheus endpoint, heartbeat counters."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request

from bus import subjects
from bus.connection import Bus, ConnectOptions, Delivery
from schemas import Heartbeat
from tests.bus.helpers import wait_sync
from tests.cli.conftest import organism
from tests.schemas.examples import EXAMPLES


async def _publish_until(url: str, proc, items, stop_after: float = 30.0) -> None:
    """Publish the items repeatedly until the tail process exits (it subscribes asynchronously)."""
    bus = await Bus.connect(ConnectOptions(url=url, name="tail-feeder"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_after
    while proc.poll() is None and loop.time() < deadline:
        for subject, message in items:
            await bus.publish(subject, message)
        await bus.flush()
        await asyncio.sleep(0.05)
    if proc.poll() is None:
        await bus.nc.publish(subjects.md_candle("BTC", "1h"), b"\xffjunk")  # unblocks nothing
    await bus.drain()


def test_tail_decodes_typed_messages_with_wildcards(organism_env, nats_server):
    proc = organism("tail", "md.candle.*.1h", "--count", "3", "--json", env=organism_env)
    # the feeder publishes faster than tail drains: exactly 3 lines must come out anyway
    asyncio.run(_publish_until(nats_server.url, proc, [
        (subjects.md_candle("BTC", "1h"), EXAMPLES["Candle"]),
        (subjects.md_book("BTC"), EXAMPLES["BookSnapshot"]),  # not matched by the pattern
    ]))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["subject"] == "md.candle.BTC.1h" and line["type"] == "Candle"
        assert line["message"]["close"] == 60321.0


def test_tail_shows_undecodable_bytes_instead_of_hiding_them(organism_env, nats_server):
    proc = organism("tail", "order.>", "--count", "1", "--json", env=organism_env)

    async def feed():
        bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="junk"))
        while proc.poll() is None:
            await bus.nc.publish(subjects.order_intent("paper", "x"), b"not json")
            await bus.flush()
            await asyncio.sleep(0.05)
        await bus.drain()

    asyncio.run(feed())
    out, _ = proc.communicate(timeout=30)
    line = json.loads(out.splitlines()[0])
    assert line["type"] == "undecodable" and "malformed" in line["error"]


def test_tail_human_output(organism_env, nats_server):
    proc = organism("tail", ">", "--count", "1", env=organism_env)
    asyncio.run(_publish_until(nats_server.url, proc, [(subjects.risk_state("paper"), EXAMPLES["TradingStateChanged"])]))
    out, _ = proc.communicate(timeout=30)
    assert "risk.state" in out and "TradingStateChanged" in out and "state=HALTED" in out


def test_tail_refuses_a_bad_pattern(organism_env):
    proc = organism("tail", "md.>.x", env=organism_env)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "'>' may only be the last token" in err


async def _heartbeat(url: str, agent: str) -> Heartbeat:
    bus = await Bus.connect(ConnectOptions(url=url, name="hb-listener"))
    got: list[Heartbeat] = []

    async def on(d: Delivery):
        got.append(d.message)

    await bus.subscribe(subjects.sys_heartbeat(agent), on, message_type=Heartbeat)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.05)
    await bus.drain()
    assert got, "no heartbeat"
    return got[-1]


def test_metrics_endpoint_and_heartbeat_report_the_same_counters(organism_env, nats_server):
    agent = organism("agent", "recorder", env=organism_env)
    try:
        hb = asyncio.run(_heartbeat(nats_server.url, "recorder"))
        assert hb.metrics_port > 0

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{hb.metrics_port}/metrics", timeout=2) as r:
                return r.read().decode()

        text = scrape()
        for name, kind in (("organism_messages_in_total", "counter"),
                           ("organism_messages_out_total", "counter"),
                           ("organism_handler_seconds", "histogram"),
                           ("organism_dead_letters_total", "counter"),
                           ("organism_errors_total", "counter"),
                           ("organism_agent_start_time_seconds", "gauge")):
            assert f"# TYPE {name} {kind}" in text, name
        # the recorder publishes heartbeats: counted as messages out of family sys.heartbeat
        wait_sync(lambda: 'organism_messages_out_total{agent="recorder",family="sys.heartbeat"}' in scrape(),
                  timeout=10, what="heartbeat counter")
        hb2 = asyncio.run(_heartbeat(nats_server.url, "recorder"))
        assert hb2.messages_out.get("sys.heartbeat", 0) >= 1
        assert hb2.uptime_s >= hb.uptime_s
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0


def test_tail_last_replays_stored_messages_first(organism_env, nats_server):
    import msgspec

    from bus.jetstream import provision

    async def store():
        bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="storer"))
        await provision(bus.js)
        for i in range(5):
            msg = msgspec.structs.replace(EXAMPLES["Candle"], coin="SOL", close=100.0 + i)
            await bus.js.publish(subjects.md_candle("SOL", "1h"), msgspec.json.encode(msg))
        await bus.drain()

    asyncio.run(store())
    proc = organism("tail", "md.candle.SOL.*", "--last", "2", "--count", "2", "--json",
                    env=organism_env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["message"]["close"] for x in lines] == [103.0, 104.0]
    assert all("stored_ns" in x for x in lines)
    proc = organism("tail", "md.candle.SOL.*", "--last", "1", "--count", "1", env=organism_env)
    out, _ = proc.communicate(timeout=30)
    assert "md.candle.SOL.1h Candle" in out and "close=104.0" in out and "Z" in out.split()[1]
