"""Typed access to JetStream KV buckets and stored streams, for agents (which import no nats).

`TypedKV`: get, put and create-once of msgspec values under a key; `kv_key` turns any id into a
valid key. `last_message`: the newest stored message on a subject. `pending`: what a durable
consumer has not yet been given or has not acked. `follow`: new messages stored on a subject,
through an ordered consumer delivering to this connection's own inbox (how a client reads the
order path: the broker allows no core subscription on a stored subject, bus/permissions.py).
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
