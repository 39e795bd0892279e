"""The base every message on the bus derives from.

A message is a frozen msgspec Struct, tagged with its class name in the field `type`, carrying
`ts_event` (when the thing happened) and `ts_init` (when this message was built), both integer
nanoseconds since the Unix epoch. Schemas only grow: a new field gets a default and goes last; a
breaking change is a new tagged type. Money on the order path is `decimal.Decimal` (exact, encoded
as a string), never a float.

What msgspec cannot check cheaply is checked in `__post_init__`, which msgspec runs at every
decode (and Python at every construction): identifiers without whitespace on every struct with an
`Ident` field, and finite (and, where named, positive) amounts on the order path. Each class gets
its own straight-line check, generated once from its fields (`_checker`): about 0.1 µs an
identifier, where msgspec's regex took about 0.6.
"""

from __future__ import annotations

import re
import typing
from decimal import Decimal
from typing import Annotated, Any, Callable, ClassVar

import msgspec


class _IdentMarker:
    """Marks `Ident` fields for the generated checks (msgspec ignores it)."""

    def __repr__(self) -> str:
        return "IDENT"


IDENT = _IdentMarker()

# Nanoseconds since the Unix epoch. Non-negative so a bad clock is caught at decode time.
Nanos = Annotated[int, msgspec.Meta(ge=0, description="nanoseconds since the Unix epoch")]
# A non-empty identifier without whitespace (strategy ids, coins, correlation ids). Length is
# msgspec's to check; whitespace is the generated __post_init__'s (the JSON schema still says
# `pattern: ^\S+$`, which is what is enforced: no character for which str.isspace() is true).
Ident = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=200, extra_json_schema={"pattern": r"^\S+$"}),
    IDENT,
]
# Exact money on the order path. Decoded from strings such as "3000.5"; never a binary float.
Money = Decimal
# msgspec cannot put bounds on Decimal; OrderPathMessage checks the fields named in `_positive`.
PositiveMoney = Decimal

_SPACE = re.compile(r"\s")


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """A struct whose `Ident` fields (and, on the order path, amounts) are checked at decode and
    construction. Every struct in schemas/ with an `Ident` field derives from it."""

    # Set on OrderPathMessage: Decimal fields must be finite, those in `_positive` also > 0.
    _check_money: ClassVar[bool] = False
    # Names of Decimal fields that must be > 0 (order path only).
    _positive: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        check = _CHECKS.get(self.__class__)
        if check is None:
            check = _CHECKS[self.__class__] = _checker(self.__class__)
        check(self)


class Message(Checked, frozen=True, kw_only=True, tag_field="type", tag=True):
    """A bus message. Subclasses set nothing extra: the tag is the class name."""

    ts_event: Nanos
    ts_init: Nanos


class OrderPathMessage(Message, frozen=True, kw_only=True):
    """A message on the order path: intent → decision → command → events share a correlation id."""

    _check_money = True

    correlation_id: Ident


_CHECKS: dict[type, Callable[[Any], None]] = {}


def _bad_ident(name: str, value: str) -> None:
    if _SPACE.search(value):
        raise ValueError(f"`{name}` must be an identifier without whitespace, got {value!r}")


def _refuse(where: str, amount: Decimal) -> None:
    if not amount.is_finite():
        raise ValueError(f"{where} must be a finite amount, got {amount}")
    raise ValueError(f"{where} must be > 0, got {amount}")


def _refuse_any(name: str, value: dict, positive: bool) -> None:
    for key, amount in value.items():
        if not amount.is_finite() or (positive and amount <= 0):
            _refuse(f"`{name}[{key!r}]`", amount)


def _has_ident(tp: Any) -> bool:
    if IDENT in getattr(tp, "__metadata__", ()):
        return True
    return any(_has_ident(a) for a in typing.get_args(tp))


def _checker(cls: type) -> Callable[[Any], None]:
    """The straight-line check of one struct class: its Ident fields, then (order path) its
    amounts. Generated once per class, on its first construction or decode."""
    hints = typing.get_type_hints(cls, include_extras=True)
    lines: list[str] = []
    for name in cls.__struct_fields__:
        tp = hints[name]
        if IDENT in getattr(tp, "__metadata__", ()):
            # the common case costs two string methods; only a string with a space or a
            # non-printable character goes on to the exact test (any str.isspace() character)
            lines.append(f" v = self.{name}\n"
                         f" if not v.isprintable() or ' ' in v: _bad_ident({name!r}, v)")
        elif _has_ident(tp):
            raise TypeError(f"{cls.__name__}.{name}: an Ident inside {tp} is not checked; "
                            "schemas/base.py checks only fields typed Ident itself")
    if cls._check_money:
        plain = typing.get_type_hints(cls)
        for name in cls.__struct_fields__:
            tp = plain[name]
            args = typing.get_args(tp)
            positive = name in cls._positive
            where = f"`{name}`"
            if tp is Decimal or (typing.get_origin(tp) is not dict and Decimal in args):
                test = "not v.is_finite()" + (" or v <= 0" if positive else "")
                guard = "v is not None and " if tp is not Decimal else ""
                lines.append(f" v = self.{name}\n"
                             f" if {guard}({test}): _refuse({where!r}, v)")
            elif typing.get_origin(tp) is dict and args[1:] == (Decimal,):
                lines.append(f" v = self.{name}\n"
                             f" if v: _refuse_any({name!r}, v, {positive})")
    if not lines:
        return _nothing
    source = "def check(self):\n" + "\n".join(lines) + "\n"
    namespace = {"_bad_ident": _bad_ident, "_refuse": _refuse,
                 "_refuse_any": _refuse_any}
    exec(compile(source, f"<checks of {cls.__qualname__}>", "exec"), namespace)
    return namespace["check"]


def _nothing(self: Any) -> None:
    return None
