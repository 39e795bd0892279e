"""Stored messages read back from JetStream: what `organism tail --last N / --since TIME` shows
before following live.

Every stream whose subjects overlap the pattern is read through a short-lived ephemeral
consumer filtered to the overlap (no acks, memory-only, gone when idle), and the messages come
back in the order they were stored, oldest first. The consumers are unnamed and push to the
reader's own inbox, which is what the broker's permissions let an observer create (it may not
fetch from named consumers, nor delete any: bus/permissions.py). Core-NATS-only subjects (books, trades,
heartbeats) have nothing stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bus.jetstream import STREAMS
from bus.permissions import intersect  # noqa: F401  (re-exported: one pattern algebra)


@dataclass(frozen=True)
class Stored:
    subject: str
    data: bytes
    stream: str
    seq: int
    time_ns: int  # when the broker stored it


def streams_for(pattern: str) -> list[tuple[str, str]]:
    """(stream, filter subject) for every stream storing subjects the pattern matches."""
    found = []
    for spec in STREAMS:
        for subject in spec.subjects:
            common = intersect(pattern, subject)
            if common is not None:
                found.append((spec.name, common))
    return found


def _config(filter_subject: str, **kw) -> ConsumerConfig:
    return ConsumerConfig(filter_subject=filter_subject, ack_policy=AckPolicy.NONE,
                          mem_storage=True, inactive_threshold=10.0, **kw)


async def _pending_from(js: JetStreamContext, stream: str, filt: str, seq: int) -> int:
    info = await js.add_consumer(stream, _config(
        filt, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=seq))
    return int(info.num_pending or 0)  # gone after inactive_threshold (observers delete none)


async def _start_of_last(js: JetStreamContext, stream: str, filt: str, n: int) -> int | None:
    """The sequence from which `n` messages matching `filt` remain (binary search on the
    consumer's pending count), or None when the stream holds none."""
    info = await js.stream_info(stream)
    first, last = int(info.state.first_seq), int(info.state.last_seq)
    if last < first or last == 0:
        return None
    lo, hi = first, last  # pending(lo) >= n is what we want the largest lo for
    if await _pending_from(js, stream, filt, lo) <= n:
        return lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if await _pending_from(js, stream, filt, mid) >= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


async def _read(js: JetStreamContext, stream: str, filt: str, config: ConsumerConfig,
                limit: int) -> list[Stored]:
    out: list[Stored] = []
    done = asyncio.Event()

    async def on_msg(m) -> None:
        if done.is_set():
            return
        md = m.metadata
        out.append(Stored(m.subject, m.data, stream, int(md.sequence.stream),
                          int(md.timestamp.timestamp() * 1e9) if md.timestamp else 0))
        if len(out) >= limit or md.num_pending == 0:
            done.set()

    start = ConsumerConfig(deliver_policy=config.deliver_policy,
                           opt_start_seq=config.opt_start_seq,
                           opt_start_time=config.opt_start_time)
    sub = await js.subscribe(filt, stream=stream, cb=on_msg, ordered_consumer=True,
                             config=start, inactive_threshold=10.0)
    try:
        info = await sub.consumer_info()
        if info.num_pending or info.delivered.consumer_seq or out:
            try:
                await asyncio.wait_for(done.wait(), timeout=10.0)
            except asyncio.TimeoutError:
                pass  # what arrived is what there is
    finally:
        try:
            await sub.unsubscribe()
        except Exception:  # noqa: BLE001 - the ephemeral consumer expires by itself anyway
            pass
    return out


def _rfc3339(ns: int) -> str:
    """An exact RFC 3339 UTC time with nanoseconds (a float of seconds would round)."""
    from datetime import datetime, timezone

    whole = datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{ns % 10**9:09d}Z"


async def stored_messages(js: JetStreamContext, pattern: str, *, last: int | None = None,
                          since_ns: int | None = None, limit: int = 10_000) -> list[Stored]:
    """The last `last` stored messages matching `pattern` (over every stream), or those stored
    since `since_ns`, oldest first; at most `limit`."""
    found: list[Stored] = []
    for stream, filt in streams_for(pattern):
        try:
            if since_ns is not None:
                config = _config(filt, deliver_policy=DeliverPolicy.BY_START_TIME,
                                 opt_start_time=_rfc3339(since_ns))
                found += await _read(js, stream, filt, config, limit)
            elif last:
                seq = await _start_of_last(js, stream, filt, last)
                if seq is None:
                    continue
                config = _config(filt, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=seq)
                found += (await _read(js, stream, filt, config, limit))[-last:]
        except NotFoundError:
            continue  # stream not provisioned on this broker
    found.sort(key=lambda m: (m.time_ns, m.stream, m.seq))
    if last:
        found = found[-last:]
    return found[-limit:]
