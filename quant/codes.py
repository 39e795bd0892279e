"""What a close decides, as one byte a bar: the layout the simulation reads and the signal
programs (quant/program.py) and the simulation's own signal path (quant/sim.py) write.

Bits 0-1 hold the action when flat, 2-3 when long, 4-5 when short, each one of `_NONE`,
`_OPEN_LONG`, `_OPEN_SHORT`, `_CLOSE`. Same-side entry and exit cancel, long and short entries
cancel (vectorbt's defaults).
"""

from __future__ import annotations

from numba import njit

# Pending actions decided at a close.
_NONE, _OPEN_LONG, _OPEN_SHORT, _CLOSE = 0, 1, 2, 3


@njit(cache=True, nogil=True, inline="always")
def decision_code_nb(a, b, c, d):
    """The code of one close from its four signals as uint8 0/1 (long entry, long exit, short
    entry, short exit), without a branch."""
    l_in = a & (b ^ 1)
    s_in = c & (d ^ 1)
    go_long = l_in & (s_in ^ 1)
    go_short = s_in & (l_in ^ 1)
    l_out = b & (a ^ 1)
    s_out = d & (c ^ 1)
    flat = go_long * _OPEN_LONG + go_short * _OPEN_SHORT
    lng = go_short * _OPEN_SHORT + (go_short ^ 1) * l_out * _CLOSE
    sht = go_long * _OPEN_LONG + (go_long ^ 1) * s_out * _CLOSE
    return flat | (lng << 2) | (sht << 4)
