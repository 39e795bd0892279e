"""Typed access to JetStream KV buckets and stored streams, for agents (which import no nats).

`TypedKV`: get, put and create-once of msgspec values under a key; `kv_key` turns any id into a
valid key; `kv_entries`: every current key of a bucket and its value, complete. `last_message`:
the newest stored message on a subject. `pending`: what a durable consumer has not yet been given
or has not acked. `follow`: new messages stored on a subject, through an ordered consumer
delivering to this connection's own inbox (how a client reads the order path: the broker allows
no core subscription on a stored subject, bus/permissions.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from loguru import logger
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from bus.codec import DecodeFailure, decode
from bus.jetstream import stream_for
from schemas import AnyMessage

T = TypeVar("T")
_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")
_encoder = msgspec.json.Encoder()


def kv_key(text: str) -> str:
    """`text` itself when it is a valid KV key (letters, digits, - / _ = .; no leading or
    trailing dot), else `h-` and its SHA-256, so any id has one key."""
    if _KEY.match(text) and not text.startswith(".") and not text.endswith(".") and ".." not in text:
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()


class TypedKV:
    """One bucket, values encoded as msgspec JSON."""

    def __init__(self, kv) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus, bucket: str) -> "TypedKV":
        return cls(await bus.kv(bucket))

    async def get(self, key: str, type_: type[T] | Any) -> T | None:
        """The value, or None when the key is absent or deleted. A value that does not decode
        raises DecodeFailure naming the key."""
        try:
            item = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        if item.value is None:
            return None
        try:
            return decode(item.value, type_)
        except DecodeFailure as exc:
            raise DecodeFailure(f"KV {self.kv._name}/{key}: {exc.reason}") from None

    async def put(self, key: str, value: Any) -> int:
        return await self.kv.put(key, _encoder.encode(value))

    async def create(self, key: str, value: Any) -> bool:
        """Write `value` unless the key holds one already; False when it did."""
        try:
            await self.kv.create(key, _encoder.encode(value))
        except KeyWrongLastSequenceError:
            return False
        return True


class KVListingError(RuntimeError):
    """A bucket could not be listed completely: a caller must not act as if it were empty."""


_KV_GONE = ("DEL", "PURGE")


async def kv_entries(kv, *, timeout: float = 10.0) -> dict[str, bytes]:
    """Every current key of the bucket `kv` (a nats-py KeyValue) and its value, deleted and
    purged keys left out. Complete or an error, never partial.

    nats-py's `keys()` and `watchall()` end their first listing when the server reports nothing
    pending for the watcher, which can come before this client has read what the server already
    sent: the listing is then short or empty. Seen under load: an execution agent restarted with
    its bucket listed as empty, forgot its orders and fills, and sent a redelivered command to
    the venue a second time. Here the listing ends only when the bucket's last message at the
    start has been read (or a message read says none is left), and a bucket that cannot be read
    raises KVListingError."""
    try:
        state = (await kv.status()).stream_info.state
    except (NatsError, asyncio.TimeoutError) as exc:
        raise KVListingError(f"cannot read the state of KV bucket {kv._name!r}: {exc}") from None
    out: dict[str, bytes] = {}
    if not state.messages:
        return out
    need = state.last_seq
    sub = await kv._js.subscribe(f"{kv._pre}>", stream=kv._stream, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=max(0.01, deadline - loop.time()))
            except (NatsError, asyncio.TimeoutError):
                raise KVListingError(
                    f"KV bucket {kv._name!r} was not listed within {timeout} s ({len(out)} keys "
                    f"read, up to sequence {need} wanted)") from None
            meta = msg.metadata
            key = msg.subject[len(kv._pre):]
            if (msg.headers or {}).get("KV-Operation") in _KV_GONE:
                out.pop(key, None)
            else:
                out[key] = msg.data
            if meta.sequence.stream >= need or meta.num_pending == 0:
                return out
    finally:
        await sub.unsubscribe()


async def last_message(bus, stream: str, subject: str, type_: type[T] | Any) -> T | None:
    """The newest message stored on `subject`, or None (none stored, not allowed to read the
    stream, or it does not decode: a hint at start-up, never a requirement)."""
    try:
        msg = await bus.js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    except (NatsError, asyncio.TimeoutError) as exc:
        logger.warning("cannot read the last message on {} from {}: {}", subject, stream, exc)
        return None
    try:
        return decode(msg.data, type_)
    except DecodeFailure:
        return None


async def pending(bus, stream: str, durable: str) -> int | None:
    """Messages the durable consumer still has to be given or to ack; None if it does not
    exist yet."""
    try:
        info = await bus.js.consumer_info(stream, durable)
    except NotFoundError:
        return None
    return info.num_pending + info.num_ack_pending


async def follow(bus, subject: str, handler: Callable[[Any], Awaitable[None]], *,
                 type_: Any = AnyMessage) -> Callable[[], Awaitable[None]]:
    """Call `handler(message)` for every message stored on `subject` (wildcards allowed) from
    now on, decoded as `type_` (undecodable ones are skipped with a warning). Returns the
    coroutine function that stops following."""
    stream = stream_for(subject)
    if stream is None:
        raise ValueError(f"no stream stores {subject!r}: subscribe to it on core NATS instead")

    async def on_msg(msg) -> None:
        try:
            message = decode(msg.data, type_)
        except DecodeFailure as exc:
            logger.warning("skipping a message on {}: {}", msg.subject, exc.reason)
            return
        await handler(message)

    sub = await bus.js.subscribe(subject, stream=stream, cb=on_msg, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.NEW)
    return sub.unsubscribe
