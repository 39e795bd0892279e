"""Hypothesis strategies for msgspec Structs that honour their constraints (msgspec.Meta bounds,
Literals, enums, positive money), so generated messages are valid ones."""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal

import msgspec
from hypothesis import strategies as st

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=24
)
_MONEY = st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=-10**9, max_value=10**9)
_POSITIVE = st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=Decimal("1e-8"),
                        max_value=10**9)


def for_type(tp) -> st.SearchStrategy:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *metas = typing.get_args(tp)
        meta = next((m for m in metas if isinstance(m, msgspec.Meta)), None)
        if meta is not None and base is int:
            lo = meta.ge if meta.ge is not None else -(2**53)
            hi = meta.le if meta.le is not None else 2**62
            return st.integers(min_value=lo, max_value=hi)
        if meta is not None and base is str:
            return _TEXT
        return for_type(base)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(for_type(a) for a in typing.get_args(tp)))
    if origin is list:
        return st.lists(for_type(typing.get_args(tp)[0]), max_size=3)
    if origin is dict:
        k, v = typing.get_args(tp)
        return st.dictionaries(for_type(k), for_type(v), max_size=3)
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return for_struct(tp)
    simple = {
        int: st.integers(min_value=-(2**53), max_value=2**53),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        str: st.text(max_size=40),
        bytes: st.binary(max_size=64),
        Decimal: _MONEY,
    }
    if tp in simple:
        return simple[tp]
    raise TypeError(f"no strategy for {tp!r}")


def for_struct(cls) -> st.SearchStrategy:
    hints = typing.get_type_hints(cls, include_extras=True)
    positive = set(getattr(cls, "_positive", ()))
    fields = {}
    for name in cls.__struct_fields__:
        fields[name] = _POSITIVE if name in positive else for_type(hints[name])
    return st.builds(cls, **fields)
