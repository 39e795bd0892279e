"""The strategy text form: S-expressions users read and write, parsed with line/column errors.

    (strategy
      (long-entry (cross-above (sma close 10) (sma close 50)))
      (long-exit (cross-below (sma close 10) (sma close 50)))
      (short-entry false) (short-exit false)
      (size (fixed 1.0)) (stop-loss 0.05) (take-profit none) (max-hold none))

Sections may be omitted (no shorts, size fixed 1.0, no stops). `;` starts a comment.
`parse_strategy(format_strategy(s)) == s` for every strategy.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from quant.genome import FALSE, Sizing, Strategy, format_node, format_strategy
from quant.primitives import BY_SYMBOL, Arg
from quant.types import THRESHOLD_CONST, WINDOW_CONST, Kind, Node

_KIND_WORD = {
    Kind.SERIES: "a series",
    Kind.BOOL: "a boolean series",
    Kind.WINDOW: "a window length (integer)",
    Kind.THRESHOLD: "a number",
}


class DslError(ValueError):
    """A malformed strategy text: where (line, column, 1-based) and what was expected."""

    def __init__(self, message: str, line: int, col: int, source: str = "<strategy>"):
        self.message, self.line, self.col, self.source = message, line, col, source
        super().__init__(f"{source}:{line}:{col}: {message}")


class _Atom(NamedTuple):  # (a named tuple builds several times faster than a frozen dataclass:
    text: str           # evolution parses every genome it evaluates)
    line: int
    col: int


class _List(NamedTuple):
    items: tuple
    line: int
    col: int


_TOKEN = re.compile(r"(\n)|[^\S\n]+|;[^\n]*|(\()|(\))|([^\s();]+)")


def _read(text: str) -> list:
    """Tokenise and read every top-level S-expression. Columns count characters from 1 (a
    tab is one), lines count newlines."""
    stack: list[tuple[list, int, int]] = []
    top: list = []
    out = top
    line, line_start = 1, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastindex  # None: spaces or a comment
        if kind is None:
            continue
        if kind == 4:  # an atom, the common case
            out.append(_Atom(m.group(4), line, m.start() - line_start + 1))
        elif kind == 1:  # newline
            line, line_start = line + 1, m.start() + 1
        elif kind == 2:  # (
            stack.append((out, line, m.start() - line_start + 1))
            out = []
        else:  # )
            if not stack:
                raise DslError("unexpected ')'", line, m.start() - line_start + 1)
            parent, l0, c0 = stack.pop()
            parent.append(_List(tuple(out), l0, c0))
            out = parent
    if stack:
        _, l0, c0 = stack[-1]
        raise DslError("unclosed '(' opened here; expected ')'", l0, c0)
    return top


def _number(atom: _Atom) -> float | None:
    try:
        x = float(atom.text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _describe(sx) -> str:
    return f"'{sx.text}'" if isinstance(sx, _Atom) else "a list"


def _constant(sx, arg: Arg, owner: str) -> Node:
    if not isinstance(sx, _Atom) or _number(sx) is None:
        raise DslError(
            f"{owner}: argument '{arg.name}' must be {_KIND_WORD[arg.kind]}, got {_describe(sx)}",
            sx.line, sx.col,
        )
    x = _number(sx)
    if arg.kind is Kind.WINDOW:
        if not x.is_integer() or any(c in sx.text for c in ".eE"):
            raise DslError(
                f"{owner}: window '{arg.name}' must be an integer, got '{sx.text}'", sx.line, sx.col
            )
        value: int | float = int(x)
        node = Node(WINDOW_CONST, (), value)
        what = "window"
    else:
        value = x
        node = Node(THRESHOLD_CONST, (), value)
        what = "value"
    if (arg.lo is not None and value < arg.lo) or (arg.hi is not None and value > arg.hi):
        raise DslError(f"{owner}: {what} '{arg.name}' = {sx.text} {_allowed(arg)}",
                       sx.line, sx.col)
    return node


def _allowed(arg: Arg) -> str:
    """`must be between 2 and 500`, `must be <= 1`, `must be >= 0` (bounds as written)."""
    def g(x):
        return f"{x:g}"

    if arg.lo is not None and arg.hi is not None:
        return f"is out of range: it must be between {g(arg.lo)} and {g(arg.hi)}"
    if arg.hi is not None:
        return f"is out of range: it must be <= {g(arg.hi)}"
    return f"is out of range: it must be >= {g(arg.lo)}"


def _signature(p) -> str:
    return "(" + " ".join([p.symbol] + [a.name for a in p.args]) + ")"


def _expr(sx, kind: Kind) -> Node:
    if isinstance(sx, _Atom):
        cands = BY_SYMBOL.get(sx.text)
        if cands is None:
            if _number(sx) is not None:
                raise DslError(f"expected {_KIND_WORD[kind]}, got the number {sx.text}",
                               sx.line, sx.col)
            raise DslError(f"unknown primitive '{sx.text}'", sx.line, sx.col)
        for p in cands:
            if not p.args and p.ret is kind:
                return Node(p.key)
        p = cands[0]
        if p.args:
            raise DslError(f"'{sx.text}' needs arguments: {_signature(p)}", sx.line, sx.col)
        raise DslError(f"wrong type: '{sx.text}' is {_KIND_WORD[p.ret]}, expected "
                       f"{_KIND_WORD[kind]}", sx.line, sx.col)
    if not sx.items:
        raise DslError(f"empty list; expected {_KIND_WORD[kind]}", sx.line, sx.col)
    head = sx.items[0]
    if not isinstance(head, _Atom):
        raise DslError("expected a primitive name after '('", head.line, head.col)
    cands = BY_SYMBOL.get(head.text)
    if cands is None:
        raise DslError(f"unknown primitive '{head.text}'", head.line, head.col)
    typed = [p for p in cands if p.ret is kind]
    if not typed:
        raise DslError(f"wrong type: '{head.text}' gives {_KIND_WORD[cands[0].ret]}, expected "
                       f"{_KIND_WORD[kind]}", head.line, head.col)
    args = sx.items[1:]
    fitting = [p for p in typed if len(p.args) == len(args)]
    if not fitting:
        forms = " or ".join(_signature(p) for p in typed)
        raise DslError(f"'{head.text}' takes {len(typed[0].args)} argument(s) {forms}, "
                       f"got {len(args)}", head.line, head.col)
    errors: list[DslError] = []
    for p in fitting:
        try:
            kids = tuple(
                _constant(a, spec, head.text) if spec.kind in (Kind.WINDOW, Kind.THRESHOLD)
                else _expr(a, spec.kind)
                for a, spec in zip(args, p.args)
            )
            return Node(p.key, kids)
        except DslError as exc:
            errors.append(exc)
    raise max(errors, key=lambda e: (e.line, e.col))  # the overload that got furthest


def parse_node(text: str, kind: Kind = Kind.BOOL, source: str = "<expr>") -> Node:
    """Parse one expression of the given kind, e.g. `(> (rsi close 14) 70)`."""
    try:
        forms = _read(text)
        if len(forms) != 1:
            raise DslError(f"expected one expression, found {len(forms)}", 1, 1)
        return _expr(forms[0], kind)
    except DslError as exc:
        raise DslError(exc.message, exc.line, exc.col, source) from None


_TREES = ("long-entry", "long-exit", "short-entry", "short-exit")
_RISK = {  # section: (field, lower bound exclusive, upper bound inclusive)
    "stop-loss": ("stop_loss", 0.0, 1.0),
    "take-profit": ("take_profit", 0.0, 100.0),
    "trailing-stop": ("trailing_stop", 0.0, 1.0),
}
SECTIONS = (*_TREES, "size", *_RISK, "max-hold")


def _only_arg(sx: _List, section: str):
    if len(sx.items) != 2:
        raise DslError(f"section '{section}' takes exactly one value, got {len(sx.items) - 1}",
                       sx.line, sx.col)
    return sx.items[1]


def _sizing(sx) -> Sizing:
    bad = DslError("size must be (fixed FRACTION) or (vol-target ANNUAL_VOL WINDOW)",
                   sx.line, sx.col)
    if not isinstance(sx, _List) or not sx.items or not isinstance(sx.items[0], _Atom):
        raise bad
    kind = sx.items[0].text
    if kind == "fixed" and len(sx.items) == 2:
        f = _constant(sx.items[1], Arg(Kind.THRESHOLD, "fraction", 1e-6, 100.0), "fixed")
        return Sizing("fixed", fraction=f.value)
    if kind == "vol-target" and len(sx.items) == 3:
        t = _constant(sx.items[1], Arg(Kind.THRESHOLD, "annual-vol", 1e-6, 100.0), "vol-target")
        w = _constant(sx.items[2], Arg(Kind.WINDOW, "window", 3, 5000), "vol-target")
        return Sizing("vol-target", fraction=1.0, target_vol=t.value, window=w.value)
    raise bad


def parse_strategy(text: str, source: str = "<strategy>") -> Strategy:
    """Parse the text form; raise DslError naming line, column and what was expected."""
    try:
        return _strategy(text)
    except DslError as exc:
        raise DslError(exc.message, exc.line, exc.col, source) from None


def _strategy(text: str) -> Strategy:
    forms = _read(text)
    if len(forms) != 1:
        line, col = (forms[1].line, forms[1].col) if len(forms) > 1 else (1, 1)
        raise DslError("expected exactly one (strategy ...) form", line, col)
    top = forms[0]
    if not (isinstance(top, _List) and top.items and isinstance(top.items[0], _Atom)
            and top.items[0].text == "strategy"):
        raise DslError("expected '(strategy ...)'", top.line, top.col)
    values: dict = {}
    seen: set[str] = set()
    for sec in top.items[1:]:
        if not (isinstance(sec, _List) and sec.items and isinstance(sec.items[0], _Atom)):
            raise DslError(f"expected a section like (long-entry ...), got {_describe(sec)}",
                           sec.line, sec.col)
        name = sec.items[0].text
        if name not in SECTIONS:
            raise DslError(f"unknown section '{name}'; expected one of {', '.join(SECTIONS)}",
                           sec.items[0].line, sec.items[0].col)
        if name in seen:
            raise DslError(f"section '{name}' given twice", sec.line, sec.col)
        seen.add(name)
        arg = _only_arg(sec, name)
        if name in _TREES:
            values[name.replace("-", "_")] = _expr(arg, Kind.BOOL)
        elif name == "size":
            values["size"] = _sizing(arg)
        elif isinstance(arg, _Atom) and arg.text == "none":
            continue
        elif name == "max-hold":
            values["max_hold"] = _constant(arg, Arg(Kind.WINDOW, "bars", 1, 10**7), name).value
        else:
            fld, lo, hi = _RISK[name]
            x = _constant(arg, Arg(Kind.THRESHOLD, "fraction", None, hi), name).value
            if x <= lo:
                raise DslError(f"{name} must be > {lo} (a fraction of the entry price) or none",
                               arg.line, arg.col)
            values[fld] = x
    return Strategy(**values)


__all__ = ["DslError", "FALSE", "SECTIONS", "format_node", "format_strategy", "parse_node",
           "parse_strategy"]
