"""Signal programs: a strategy's four boolean trees compiled into a few instructions over cached
indicator arrays, run by one numba pass, block by block, that writes what each close decides.

Evaluating a tree in numpy materialised every comparison, cross, and/or/not and arithmetic node
as an array of the whole history (at 10^5 bars tens of fresh arrays per strategy, each faulting
in new pages), then the four signals were copied into batch matrices and read once more to
decide. Here the leaves are what the IndicatorCache keeps (indicators, data columns, the boolean
indicators, and each comparison or cross of indicators and levels that recurs: an "atom" such
as `(> (rsi close 14) 70)`, one byte a bar, shared by every strategy that uses it and read at
an eighth of the memory traffic of its two operands), and everything above them runs over
registers of BLOCK bars that stay in the first-level cache: float registers for + - * /,
boolean ones (bytes 0/1) for comparisons of arithmetic and for and/or/not. The pass writes one
decision code per bar (quant.sim's codes: what a close decides when flat, long or short), or
the four signals themselves (`compile_signals`, the trader's entry point).

Bit for bit the numpy evaluation (`IndicatorCache.evaluate`, the reference): the same IEEE
operations on the same values in the same order, no fastmath; NaN compares false.

Leaves reach the kernel as addresses (an int64 table) instead of a typed list of arrays, which
would cost a couple of microseconds per array to build for every chunk. The Python side keeps
every array it gave an address for alive until the kernel returns (`ProgramBuilder.leaves`).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from quant.codes import decision_code_nb
from quant.genome import Strategy
from quant.primitives import PRIMITIVES
from quant.types import Kind, Node

BLOCK = 1024  # bars per register: 1024 float64 = 8 KiB, a few registers fit in L1

# Opcodes. Float ops write a float register over bars [s-1, e) of a block (crosses read the
# bar before the block), boolean ops a byte register over [s, e).
ADD, SUB, MUL, MULK, DIV = 1, 2, 3, 4, 5
GT, GTK, LT, LTK, XA, XAK, XB, XBK, AND, OR, NOT, TRUE, FALSE = range(10, 23)
_LAST_FLOAT_OP = DIV

_FLOAT_OPS = {"add": ADD, "sub": SUB, "mul": MUL, "mul-k": MULK, "div": DIV}
_BOOL_OPS = {"gt": GT, "gt-k": GTK, "lt": LT, "lt-k": LTK, "cross-above": XA,
             "cross-above-k": XAK, "cross-below": XB, "cross-below-k": XBK, "and": AND,
             "or": OR, "not": NOT, "true": TRUE, "false": FALSE}
_WITH_LEVEL = {MULK, GTK, LTK, XAK, XBK}  # second argument is a constant (kon index)
_ATOMS = {GT, GTK, LT, LTK, XA, XAK, XB, XBK}


# --- addresses -> arrays, inside the kernels ----------------------------------------------------
@intrinsic
def _f64_at(typingctx, address):
    sig = types.CPointer(types.float64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.float64)))

    return sig, codegen


@intrinsic
def _u8_at(typingctx, address):
    sig = types.CPointer(types.uint8)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.uint8)))

    return sig, codegen


@njit(cache=True, nogil=True)
def leaf_f64(addr, i, n):
    return carray(_f64_at(addr[i]), n)


@njit(cache=True, nogil=True)
def leaf_u8(addr, i, n):
    return carray(_u8_at(addr[i]), n)


# --- the kernel ---------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy", nogil=True)
def _fslice(code, addr, n, fregs, s, lo, e):
    """Bars lo..e-1 of a float operand: a register (bar t at index t - s + 1) or a leaf."""
    if code >= 0:
        return fregs[code][lo - s + 1:e - s + 1]
    return leaf_f64(addr, -1 - code, n)[lo:e]


@njit(cache=True, error_model="numpy", nogil=True)
def _bslice(code, addr, n, bregs, s, lo, e):
    """Bars lo..e-1 of a boolean operand: a register (bar t at index t - s) or a leaf."""
    if code >= 0:
        return bregs[code][lo - s:e - s]
    return leaf_u8(addr, -1 - code, n)[lo:e]


@njit(cache=True, error_model="numpy", nogil=True)
def _run_block_nb(ins, i0, i1, kon, addr, n, s, e, fregs, bregs):
    """Instructions i0..i1-1 over bars [s, e) (float ops over [s-1, e) when s > 0)."""
    for i in range(i0, i1):
        op = ins[i, 0]
        d = ins[i, 1]
        a = ins[i, 2]
        b = ins[i, 3]
        if op <= _LAST_FLOAT_OP:
            lo = s - 1 if s > 0 else 0
            out = fregs[d][lo - s + 1:e - s + 1]
            x = _fslice(a, addr, n, fregs, s, lo, e)
            m = e - lo
            if op == MULK:
                k = kon[b]
                for t in range(m):
                    out[t] = x[t] * k
                continue
            y = _fslice(b, addr, n, fregs, s, lo, e)
            if op == ADD:
                for t in range(m):
                    out[t] = x[t] + y[t]
            elif op == SUB:
                for t in range(m):
                    out[t] = x[t] - y[t]
            elif op == MUL:
                for t in range(m):
                    out[t] = x[t] * y[t]
            else:  # DIV, protected: 1 where |y| < 1e-12 (nb_indicators.protected_div)
                for t in range(m):
                    out[t] = x[t] / y[t] if abs(y[t]) >= 1e-12 else 1.0
            continue
        out = bregs[d][0:e - s]
        m = e - s
        if op == TRUE or op == FALSE:
            v = np.uint8(1 if op == TRUE else 0)
            for t in range(m):
                out[t] = v
        elif op == AND or op == OR:
            p = _bslice(a, addr, n, bregs, s, s, e)
            q = _bslice(b, addr, n, bregs, s, s, e)
            if op == AND:
                for t in range(m):
                    out[t] = p[t] & q[t]
            else:
                for t in range(m):
                    out[t] = p[t] | q[t]
        elif op == NOT:
            p = _bslice(a, addr, n, bregs, s, s, e)
            for t in range(m):
                out[t] = p[t] ^ 1
        elif op == GT or op == LT:
            x = _fslice(a, addr, n, fregs, s, s, e)
            y = _fslice(b, addr, n, fregs, s, s, e)
            if op == GT:
                for t in range(m):
                    out[t] = x[t] > y[t]
            else:
                for t in range(m):
                    out[t] = x[t] < y[t]
        elif op == GTK or op == LTK:
            x = _fslice(a, addr, n, fregs, s, s, e)
            k = kon[b]
            if op == GTK:
                for t in range(m):
                    out[t] = x[t] > k
            else:
                for t in range(m):
                    out[t] = x[t] < k
        else:  # crosses: bar t against bar t-1; never at bar 0 (nb_indicators.cross_*)
            first = 0
            if s == 0:
                out[0] = 0
                first = 1
            lo = s - 1 + first
            if lo >= e:
                continue
            x = _fslice(a, addr, n, fregs, s, lo, e)
            w = e - lo
            if op == XA or op == XB:
                y = _fslice(b, addr, n, fregs, s, lo, e)
                o = out[first:]
                if op == XA:
                    for t in range(w - 1):
                        o[t] = (x[t + 1] > y[t + 1]) & (x[t] <= y[t])
                else:
                    for t in range(w - 1):
                        o[t] = (x[t + 1] < y[t + 1]) & (x[t] >= y[t])
            else:
                k = kon[b]
                o = out[first:]
                if op == XAK:
                    for t in range(w - 1):
                        o[t] = (x[t + 1] > k) & (x[t] <= k)
                else:
                    for t in range(w - 1):
                        o[t] = (x[t + 1] < k) & (x[t] >= k)


@njit(cache=True, error_model="numpy", nogil=True)
def decide_nb(ins, i0, i1, kon, roots, addr, n, fregs, bregs, codes):
    """Run one strategy's program over all n bars and write its decision codes (the layout of
    quant.sim's codes: bits 0-1 when flat, 2-3 when long, 4-5 when short)."""
    nb_ = bregs.shape[1]
    for s in range(0, n, nb_):
        e = min(n, s + nb_)
        _run_block_nb(ins, i0, i1, kon, addr, n, s, e, fregs, bregs)
        a_ = _bslice(roots[0], addr, n, bregs, s, s, e)
        b_ = _bslice(roots[1], addr, n, bregs, s, s, e)
        c_ = _bslice(roots[2], addr, n, bregs, s, s, e)
        d_ = _bslice(roots[3], addr, n, bregs, s, s, e)
        out = codes[s:e]
        for t in range(e - s):
            out[t] = decision_code_nb(a_[t], b_[t], c_[t], d_[t])


@njit(cache=True, error_model="numpy", nogil=True)
def signals_nb(ins, i0, i1, kon, roots, addr, n, fregs, bregs, le, lx, se, sx):
    """Run one strategy's program and write its four signals (bytes 0/1)."""
    nb_ = bregs.shape[1]
    for s in range(0, n, nb_):
        e = min(n, s + nb_)
        _run_block_nb(ins, i0, i1, kon, addr, n, s, e, fregs, bregs)
        le[s:e] = _bslice(roots[0], addr, n, bregs, s, s, e)
        lx[s:e] = _bslice(roots[1], addr, n, bregs, s, s, e)
        se[s:e] = _bslice(roots[2], addr, n, bregs, s, s, e)
        sx[s:e] = _bslice(roots[3], addr, n, bregs, s, s, e)


# --- the compiler -------------------------------------------------------------------------------
class ProgramError(ValueError):
    """A tree the program compiler cannot place (a section that is not boolean, say)."""


class ProgramBuilder:
    """Programs of several strategies over one IndicatorCache, in one instruction table.

    `add(strategy)` returns the strategy's index; after the last one, `arrays()` gives what the
    kernels take. Registers are allocated like a stack (a node's result goes in the lowest slot
    its children used), boolean slots 0-3 hold the four sections' results.
    """

    def __init__(self, cache):
        self.cache = cache
        self.n = len(cache.dataset)
        self.ins: list[tuple[int, int, int, int]] = []
        self.kon: list[float] = []
        self.leaves: list[np.ndarray] = []  # kept alive: the kernel reads them by address
        self._addr: list[int] = []
        self._leaf_of: dict[int, int] = {}  # address -> leaf index
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.roots: list[tuple[int, int, int, int]] = []
        self.float_regs = 1
        self.bool_regs = 4
        self._known = cache._leaves  # node -> (array, address, key): the cache's own table

    def __len__(self) -> int:
        return len(self.starts)

    def add(self, strategy: Strategy) -> int:
        """Compile one strategy (indicators computed or taken from the cache). On an error
        nothing of it is kept."""
        mark = (len(self.ins), len(self.kon))
        start = len(self.ins)
        try:
            bool_ = self._bool
            roots = (bool_(strategy.long_entry, 0, 0), bool_(strategy.long_exit, 0, 1),
                     bool_(strategy.short_entry, 0, 2), bool_(strategy.short_exit, 0, 3))
        except Exception:
            del self.ins[mark[0]:]
            del self.kon[mark[1]:]
            raise
        self.starts.append(start)
        self.ends.append(len(self.ins))
        self.roots.append(roots)
        return len(self.starts) - 1

    def leaf(self, node: Node, boolean: bool) -> int:
        """The leaf index of a node the IndicatorCache evaluates (one per array)."""
        hit = self._known.get(node)
        if hit is not None:
            return self._known_index(hit)
        return self._index(node, *self.cache.leaf(node, np.bool_ if boolean else np.float64))

    def _known_index(self, hit: tuple) -> int:
        """The leaf index of an array the cache already holds for quant.program (an entry of
        its `_leaves`: array, address, stored key), touched as `IndicatorCache.leaf` would:
        the hot path of a warm cache, in as few Python calls as it takes (a population
        compiles thousands of leaves, each call costs ~0.1 µs)."""
        cache = self.cache
        with cache._lock:
            try:  # the very key object stored: the lookup needs no tree comparison
                cache._store.move_to_end(hit[2])
            except KeyError:
                pass  # a data column: not in the store
            cache.hits += 1
        arr, addr, _ = hit
        i = self._leaf_of.get(addr)
        if i is None:  # _index inlined (its lookup just missed)
            if arr.shape != (self.n,):
                raise ProgramError(f"{hit[2]!r} has shape {arr.shape}, expected ({self.n},)")
            self.leaves.append(arr)
            addrs = self._addr
            addrs.append(addr)
            i = self._leaf_of[addr] = len(addrs) - 1
        return i

    def _index(self, node: Node, arr: np.ndarray, addr: int) -> int:
        i = self._leaf_of.get(addr)
        if i is not None:
            return i
        if arr.shape != (self.n,):
            raise ProgramError(f"{node!r} has shape {arr.shape}, expected ({self.n},)")
        self.leaves.append(arr)
        self._addr.append(addr)
        i = self._leaf_of[addr] = len(self._addr) - 1
        return i

    def size_leaf(self, arr: np.ndarray) -> int:
        """The leaf index of a per-bar size array (a cached, contiguous float64 array)."""
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if arr.shape != (self.n,):
            raise ProgramError(f"size has shape {arr.shape}, expected ({self.n},)")
        self.leaves.append(arr)
        self._addr.append(arr.ctypes.data)
        return len(self._addr) - 1

    def _emit(self, op: int, d: int, a: int, b: int, fdepth: int, bdepth: int) -> None:
        self.ins.append((op, d, a, b))
        if fdepth + 1 > self.float_regs:
            self.float_regs = fdepth + 1
        if bdepth + 1 > self.bool_regs:
            self.bool_regs = bdepth + 1

    def _level(self, node: Node) -> int:
        self.kon.append(float(node.value))
        return len(self.kon) - 1

    def _float(self, node: Node, f: int, b: int) -> int:
        """Operand code of a series node evaluated with float slots f.. free."""
        op = _FLOAT_OPS.get(node.name)
        if op is None:
            hit = self._known.get(node)
            if hit is not None:
                return -1 - self._known_index(hit)
            return -1 - self.leaf(node, False)
        kids = node.children
        x = self._float(kids[0], f, b)
        if op == MULK:
            self._emit(op, f, x, self._level(kids[1]), f, b)
        else:
            y = self._float(kids[1], f + 1, b)
            self._emit(op, f, x, y, f + 1, b)
        return f

    def _bool(self, node: Node, f: int, b: int) -> int:
        """Operand code of a boolean node evaluated into slot b (slots above it free)."""
        op = _BOOL_OPS.get(node.name)
        if op is None:
            prim = PRIMITIVES.get(node.name)
            if prim is None or prim.ret is not Kind.BOOL:
                raise ProgramError(f"{node!r} is not a boolean expression")
            hit = self._known.get(node)  # a boolean indicator the cache holds
            if hit is not None:
                return -1 - self._known_index(hit)
            return -1 - self.leaf(node, True)
        kids = node.children
        if op in _ATOMS and kids[0].name not in _FLOAT_OPS and kids[1].name not in _FLOAT_OPS:
            hit = self._known.get(node)  # an atom the cache holds
            if hit is not None:
                return -1 - self._known_index(hit)
            hit = self.cache.atom(node)  # the cache keeps it once it recurs
            if hit is not None:
                return -1 - self._index(node, *hit)
        if op == TRUE or op == FALSE:
            self._emit(op, b, 0, 0, f, b)
        elif op == NOT:
            self._emit(op, b, self._bool(kids[0], f, b), 0, f, b)
        elif op == AND or op == OR:
            p = self._bool(kids[0], f, b)
            q = self._bool(kids[1], f, b + 1)
            self._emit(op, b, p, q, f, b + 1)
        elif op in _WITH_LEVEL:
            self._emit(op, b, self._float(kids[0], f, b), self._level(kids[1]), f, b)
        else:
            x = self._float(kids[0], f, b)
            y = self._float(kids[1], f + 1, b)
            self._emit(op, b, x, y, f + 1, b)
        return b

    def arrays(self):
        """(ins, starts, ends, roots, kon, addr) as the kernels take them."""
        ins = np.array(self.ins, dtype=np.int64).reshape(-1, 4)
        return (ins, np.array(self.starts, dtype=np.int64), np.array(self.ends, dtype=np.int64),
                np.array(self.roots, dtype=np.int64).reshape(-1, 4),
                np.array(self.kon, dtype=np.float64), np.array(self._addr, dtype=np.int64))


class Registers:
    """Scratch registers for one thread: grown when a program needs more slots."""

    def __init__(self, block: int = BLOCK):
        self.block = block
        self.fregs = np.empty((4, block + 1))
        self.bregs = np.empty((8, block), dtype=np.uint8)

    def fit(self, builder: ProgramBuilder) -> None:
        if builder.float_regs > self.fregs.shape[0]:
            self.fregs = np.empty((builder.float_regs, self.block + 1))
        if builder.bool_regs > self.bregs.shape[0]:
            self.bregs = np.empty((builder.bool_regs, self.block), dtype=np.uint8)


__all__ = ["BLOCK", "ProgramBuilder", "ProgramError", "Registers", "decide_nb", "signals_nb"]
