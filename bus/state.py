"""Typed access to JetStream KV buckets and stored streams, for agents (which import no nats).

`TypedKV`: get, put and create-once of msgspec values under a key; `kv_key` turns any id into a
valid key. `last_message`: the newest stored message on a subject. `pending`: what a durable
consumer has not yet been given or has not acked.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeVar

import msgspec
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from bus.codec import DecodeFailure, decode

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
    """The newest message stored on `subject`, or None (none stored, or it does not decode)."""
    try:
        msg = await bus.js.get_last_msg(stream, subject)
    except (NotFoundError, BadRequestError):
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
