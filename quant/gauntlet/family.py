"""Families for the probability of backtest overfitting.

PBO is a property of a search, not of one strategy: it needs the per-bar returns of the
candidates a search produced on the same history. `FamilyBook` keeps, per (family, dataset),
the full-history returns of the most recent `max_members` candidates seen. A family with fewer
members than the gauntlet asks for is padded with random-genome controls (seeded by the
candidate's hash, so a report is reproducible); the report says how many of each were used.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from quant.genome import Strategy
from quant.random_genome import random_strategy


class FamilyBook:
    def __init__(self, max_members: int = 32):
        self.max_members = int(max_members)
        self._book: dict[tuple[str, str], OrderedDict[str, np.ndarray]] = {}

    def add(self, family: str, data_key: str, strategy_id: str, returns: np.ndarray) -> None:
        members = self._book.setdefault((family, data_key), OrderedDict())
        members.pop(strategy_id, None)
        members[strategy_id] = np.asarray(returns, dtype=np.float64).copy()
        while len(members) > self.max_members:
            members.popitem(last=False)

    def members(self, family: str, data_key: str, exclude: str = "") -> list[np.ndarray]:
        got = self._book.get((family, data_key), {})
        return [r for sid, r in got.items() if sid != exclude]

    def __len__(self) -> int:
        return sum(len(m) for m in self._book.values())


def random_controls(seed_text: str, k: int, max_window: int = 200) -> list[Strategy]:
    """k random genomes seeded by `seed_text` (the candidate's hash): no-skill controls."""
    seed = int.from_bytes(seed_text.encode()[:8].ljust(8, b"\0"), "little")
    rng = np.random.default_rng(seed)
    return [random_strategy(rng, depth=3, max_window=max_window) for _ in range(k)]
