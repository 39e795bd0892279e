"""Encoding and decoding of bus messages: msgspec JSON, one cached Decoder per target type.

JSON keeps the bus watchable with any NATS client (`nats sub 'md.>'`) at a cost of about a
microsecond a message; Decimals travel as strings, so money stays exact.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

from schemas import AnyMessage, Message

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


class DecodeFailure(ValueError):
    """Bytes that are not a valid message of the expected type. `reason` is for the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


@functools.cache
def decoder(target: Any = AnyMessage) -> msgspec.json.Decoder:
    """A cached typed decoder for `target` (a message class, a Union of them, or AnyMessage)."""
    return msgspec.json.Decoder(target)


def decode(data: bytes, target: type[T] | Any = AnyMessage) -> T:
    try:
        return decoder(target).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeFailure(f"{type(exc).__name__}: {exc}") from None
