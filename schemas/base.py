"""The base every message on the bus derives from.

A message is a frozen msgspec Struct, tagged with its class name in the field `type`, carrying
`ts_event` (when the thing happened) and `ts_init` (when this message was built), both integer
nanoseconds since the Unix epoch. Schemas only grow: a new field gets a default and goes last; a
breaking change is a new tagged type. Money on the order path is `decimal.Decimal` (exact, encoded
as a string), never a float.
"""

from __future__ import annotations

import functools
import typing
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

# Nanoseconds since the Unix epoch. Non-negative so a bad clock is caught at decode time.
Nanos = Annotated[int, msgspec.Meta(ge=0, description="nanoseconds since the Unix epoch")]
# A non-empty identifier without whitespace (strategy ids, coins, correlation ids).
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^\S+$")]
# Exact money on the order path. Decoded from strings such as "3000.5"; never a binary float.
Money = Decimal
# msgspec cannot put bounds on Decimal; OrderPathMessage checks the fields named in `_positive`.
PositiveMoney = Decimal


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    """A bus message. Subclasses set nothing extra: the tag is the class name."""

    ts_event: Nanos
    ts_init: Nanos


class OrderPathMessage(Message, frozen=True, kw_only=True):
    """A message on the order path: intent → decision → command → events share a correlation id."""

    correlation_id: Ident

    # Names of Decimal fields that must be > 0; checked at construction and at decode time.
    _positive: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        # every decode of an order-path message runs this: the message text is built only for
        # an amount that fails
        for name, positive, mapping in _money_fields(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            if mapping:
                for key, amount in value.items():
                    if not amount.is_finite() or (positive and amount <= 0):
                        _refuse(f"`{name}[{key!r}]`", amount)
            elif not value.is_finite() or (positive and value <= 0):
                _refuse(f"`{name}`", value)


def _refuse(where: str, amount: Decimal) -> None:
    if not amount.is_finite():
        raise ValueError(f"{where} must be a finite amount, got {amount}")
    raise ValueError(f"{where} must be > 0, got {amount}")


@functools.cache
def _money_fields(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    """(field, must be positive, is a mapping to amounts) for every Decimal-typed field (Decimal,
    Decimal | None, or dict[str, Decimal]) of a message class."""
    hints = typing.get_type_hints(cls)
    out = []
    for name in cls.__struct_fields__:
        tp = hints[name]
        args = typing.get_args(tp)
        if tp is Decimal or (typing.get_origin(tp) is not dict and Decimal in args):
            out.append((name, name in cls._positive, False))
        elif typing.get_origin(tp) is dict and args[1:] == (Decimal,):
            out.append((name, name in cls._positive, True))
    return tuple(out)
