"""`kv_entries`: a bucket listed whole (values, deletes and purges left out), empty when it is
empty, and an error, never a short list, when it cannot be read."""

from __future__ import annotations

import asyncio

import pytest

from bus.state import KVListingError, kv_entries


@pytest.fixture
async def kv(bus):
    name = f"listing{id(bus) % 10**6}"
    yield await bus.js.create_key_value(bucket=name, history=1)
    await bus.js.delete_key_value(name)


async def test_every_current_key_and_value(kv):
    assert await kv_entries(kv) == {}
    for i in range(50):
        await kv.put(f"order.{i}", f"v{i}".encode())
    await kv.put("order.7", b"newer")  # only the current value
    await kv.delete("order.8")
    await kv.purge("order.9")
    got = await kv_entries(kv)
    want = {f"order.{i}": f"v{i}".encode() for i in range(50) if i not in (8, 9)}
    want["order.7"] = b"newer"
    assert got == want


async def test_a_bucket_of_deletes_only_is_empty(kv):
    await kv.put("a", b"1")
    await kv.delete("a")
    assert await kv_entries(kv) == {}


async def test_listed_whole_every_time_while_writes_go_on(kv):
    """Listings taken while another task keeps writing: each holds at least every key written
    before it began (nats-py's keys() can end early: bus/state.py)."""
    for i in range(3):
        await kv.put(f"k.{i}", b"x")
    written = 3
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await kv.put(f"k.{written % 200}", b"x")  # 200 keys, rewritten over and over
            written += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(writer())
    try:
        for _ in range(30):
            before = min(written, 200)
            got = await kv_entries(kv)
            assert {f"k.{i}" for i in range(before)} <= set(got)
    finally:
        stop.set()
        await task


async def test_an_unreadable_bucket_is_an_error_not_an_empty_list(bus, kv):
    await kv.put("a", b"1")
    await bus.js.delete_key_value(kv._name)
    with pytest.raises(KVListingError, match=kv._name):
        await kv_entries(kv)
    await bus.js.create_key_value(bucket=kv._name)  # for the fixture's clean-up
