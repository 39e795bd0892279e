"""Execution killed (SIGKILL) between sending an order and hearing back, then restarted: the
order exists exactly once at the venue and its fill is published exactly once. Two cases: the
venue took the order after the kill (the restarted agent adopts it), and the venue could no
longer take it (its expiresAfter passed: the restarted agent sends it again, once)."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal

import pytest

from schemas import ExecutionStatus, OrderFilled, OrderSubmitted, PositionReport
from schemas.orders import cloid_for
from tests.bus.helpers import eventually
from tests.execution.conftest import (
    orders_at_venue,
    record,
    send,
    spawn_agent,
    submit,
    write_config,
)
from venue.keys import local_key


async def killed_mid_request(nats_server, bus, sim, data_dir, tmp_path, intent: str,
                             held_ms: int):
    """Execution as a process, `intent`'s order sent while the venue sits on it for `held_ms`,
    then SIGKILL before the reply: (recorder, config file, log)."""
    rec = await record(bus)
    config = write_config(tmp_path / "exec.toml", data_dir, sim, nats_server.url,
                          request_timeout_s=5.0)
    log = tmp_path / "agent.log"
    proc = spawn_agent(config, log)
    try:
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.state == "ready"],
                         timeout=30, what="the agent ready")
        sim.fail_requests("/exchange", count=1, status=0, delay_ms=held_ms)  # the venue sits on it
        await send(bus, submit(intent, size="0.1"))
        await eventually(lambda: rec.of(OrderSubmitted, correlation_id=intent), timeout=20)
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-request: no reply heard, command not acked
        proc.wait(10)
    return rec, config, log


def stopped_clean(proc, log) -> str:
    """Stop the agent (SIGTERM) and return its log, which must hold no traceback."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    return text


@pytest.mark.parametrize("held_ms", [1500, 8000], ids=["venue-took-it-late", "venue-refused-it"])
async def test_killed_between_send_and_reply(nats_server, bus, sim, data_dir, tmp_path, held_ms):
    intent = f"i-kill-{held_ms}"  # stored once per broker: msg ids de-duplicate for two minutes
    rec, config, log = await killed_mid_request(nats_server, bus, sim, data_dir, tmp_path,
                                                intent, held_ms)
    assert not rec.of(OrderFilled, correlation_id=intent)
    rec.messages.clear()
    proc = spawn_agent(config, log)
    try:
        fills = await eventually(lambda: rec.of(OrderFilled, correlation_id=intent), timeout=40,
                                 what="the fill after the restart")
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.1")], timeout=20)
        cloid = cloid_for(intent)
        venue = sim.call(lambda ex: [r for r in ex.records.values() if r.order.cloid == cloid])
        assert len(venue) == 1, "exactly one order at the venue"
        venue_fills = sim.call(lambda ex: [f for f in ex.fills.get(
            venue[0].order.user, []) if f.get("cloid") == cloid])
        assert len(fills) == len(venue_fills) and len({f.fill_id for f in fills}) == len(fills)
        assert sum(f.size for f in fills) == Decimal("0.1")
        # the redelivered command changed nothing; nothing more is published
        rec.messages.clear()
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.open_orders <= 1])
        assert not rec.of(OrderFilled, correlation_id=intent)
    finally:
        text = stopped_clean(proc, log)
    key = local_key(data_dir, "paper")
    assert key not in text and key[2:] not in text  # the key never reaches a log


async def test_a_redelivered_command_is_asked_for_at_the_venue_before_it_is_sent(
        nats_server, bus, sim, data_dir, tmp_path):
    """The journal says nothing of an order the venue has (an earlier run died before writing
    it, or its bucket was read short): the redelivered command is looked up by cloid and the
    order adopted, never sent a second time."""
    from bus.jetstream import exec_bucket

    intent = "i-kill-journal-lost"
    cloid = cloid_for(intent)
    rec, config, log = await killed_mid_request(nats_server, bus, sim, data_dir, tmp_path,
                                                intent, 1500)
    await eventually(lambda: orders_at_venue(sim, cloid), timeout=10,
                     what="the venue to take the order")
    kv = await bus.kv(exec_bucket("paper"))
    await kv.purge(f"order.{cloid}")  # the journal forgets it
    proc = spawn_agent(config, log)
    try:

        async def handled() -> bool:  # the redelivered command taken and acked
            info = await bus.js.consumer_info("EXEC_CMD", "execution_paper")
            return (info.delivered.consumer_seq >= 2  # once before the kill, once after
                    and info.num_pending + info.num_ack_pending == 0)

        await eventually(handled, timeout=60, what="the redelivered command handled")
        assert orders_at_venue(sim, cloid) == 1, "exactly one order at the venue"
        assert "adopted, not sent again" in log.read_text()
        await eventually(lambda: [p for p in rec.of(PositionReport, coin="ETH")
                                  if p.size == Decimal("0.1")], timeout=20)
        fills = rec.of(OrderFilled, coin="ETH")
        assert len({f.fill_id for f in fills}) == len(fills) == 1, "its fill published once"
    finally:
        stopped_clean(proc, log)


async def test_a_restart_after_fills_publishes_none_of_them_again(
        nats_server, bus, sim, data_dir, tmp_path):
    """The fills execution published are remembered in their orders' journal entries (no
    separate marker per fill): a restarted agent reads the venue's fills again at its start
    and publishes none of them twice."""
    from bus.jetstream import exec_bucket
    from bus.state import kv_entries

    rec = await record(bus)
    config = write_config(tmp_path / "exec.toml", data_dir, sim, nats_server.url)
    log = tmp_path / "agent.log"
    proc = spawn_agent(config, log)
    try:
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.state == "ready"],
                         timeout=30, what="the agent ready")
        for i, side in enumerate(("buy", "sell", "buy")):
            await send(bus, submit(f"i-refill-{i}", size="0.1", side=side))
        fills = await eventually(lambda: len(rec.of(OrderFilled)) == 3 and rec.of(OrderFilled),
                                 timeout=30, what="three fills")
    finally:
        stopped_clean(proc, log)
    entries = await kv_entries(await bus.kv(exec_bucket("paper")))
    assert not [k for k in entries if k.startswith("fill.")], "no marker for our own orders"
    journal = {k: v for k, v in entries.items() if k.startswith("order.")}
    assert all(f.fill_id and any(f.cloid in k and b'"fill_keys":["' in v
                                 for k, v in journal.items()) for f in fills)
    rec.messages.clear()
    proc = spawn_agent(config, log)
    try:
        # ready only once its start's reconciliation (the venue's fills read again) is done
        await eventually(lambda: [s for s in rec.of(ExecutionStatus) if s.state == "ready"],
                         timeout=30, what="the agent ready again (its start reconciled)")
        await asyncio.sleep(1.0)
        assert not rec.of(OrderFilled), "a fill published again after the restart"
    finally:
        stopped_clean(proc, log)
