"""The typed expression tree shared by the DSL, the signal compiler, hashing and evolution.

Four kinds keep every tree valid: float series (price-like or oscillator values), boolean
series, window lengths (bounded ints) and thresholds (floats). Windows and thresholds are
constants only (no primitive returns them), so a tree is always computable.
"""

from __future__ import annotations

import enum
from typing import Iterator


class Kind(enum.Enum):
    SERIES = "series"
    BOOL = "bool"
    WINDOW = "window"
    THRESHOLD = "threshold"


# Node names of the two constant leaves; every other name is a primitive key (quant.primitives).
WINDOW_CONST = "#window"
THRESHOLD_CONST = "#threshold"


class Node:
    """Immutable tree node: a primitive key with children, or a constant leaf carrying `value`.

    Structural equality and a hash computed once, so equal subtrees share one cache entry.
    """

    __slots__ = ("name", "children", "value", "_hash")

    def __init__(self, name: str, children: tuple[Node, ...] = (), value: int | float | None = None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "children", tuple(children))
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_hash", hash((name, self.children, value)))

    def __setattr__(self, key, val):  # noqa: D105 - immutability guard
        raise AttributeError("Node is immutable")

    def __reduce__(self):  # pickled by its parts (the default would set slots, which we refuse)
        return (Node, (self.name, self.children, self.value))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Node) or self._hash != other._hash:
            return False
        return (
            self.name == other.name
            and self.value == other.value
            and type(self.value) is type(other.value)
            and self.children == other.children
        )

    def __repr__(self) -> str:
        if self.value is not None:
            return repr(self.value)
        if not self.children:
            return self.name
        return "(" + " ".join([self.name] + [repr(c) for c in self.children]) + ")"

    def walk(self) -> Iterator[Node]:
        """Pre-order traversal."""
        yield self
        for child in self.children:
            yield from child.walk()

    def size(self) -> int:
        return sum(1 for _ in self.walk())

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children), default=0)


def window(n: int) -> Node:
    return Node(WINDOW_CONST, (), int(n))


def threshold(x: float) -> Node:
    return Node(THRESHOLD_CONST, (), float(x))
