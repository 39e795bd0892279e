"""The trial counter the deflated Sharpe needs: how many distinct genomes were evaluated on a
dataset, exactly, and the variance of their per-bar Sharpe ratios.

Memory is 8 bytes per distinct genome (a sorted uint64 array of the first 64 bits of each
genome's SHA-256, plus a small unsorted buffer merged in batches), never the genomes themselves.
A collision of two distinct genomes in 64 bits has probability ~n²/2⁶⁵ (1e-9 at 10⁵ trials).
"""

from __future__ import annotations

import io
import math

import numpy as np

from quant.genome import Strategy, strategy_hash


def genome_digest(strategy: Strategy) -> int:
    """The first 64 bits of the strategy's canonical hash, as an int."""
    return int(strategy_hash(strategy)[:16], 16)


def digest_of_hash(genome_hash: str) -> int:
    return int(genome_hash[:16], 16)


class TrialCounter:
    """Exact count of distinct 64-bit digests, with a running (Welford) variance of per-bar
    Sharpe over those distinct trials."""

    _MERGE_AT = 4096

    def __init__(self) -> None:
        self._sorted = np.empty(0, np.uint64)
        self._pending: set[int] = set()
        self._mean = 0.0
        self._m2 = 0.0
        self._n_sharpe = 0

    def __len__(self) -> int:
        return int(self._sorted.shape[0]) + len(self._pending)

    @property
    def count(self) -> int:
        return len(self)

    def __contains__(self, digest: int) -> bool:
        if digest in self._pending:
            return True
        i = int(np.searchsorted(self._sorted, np.uint64(digest)))
        return i < self._sorted.shape[0] and int(self._sorted[i]) == digest

    def add(self, digest: int, sharpe_per_bar: float | None = None) -> bool:
        """Count `digest` once; True if it was new. Its Sharpe joins the variance only then."""
        if digest in self:
            return False
        self._pending.add(int(digest))
        if len(self._pending) >= self._MERGE_AT:
            self._merge()
        if sharpe_per_bar is not None and math.isfinite(sharpe_per_bar):
            self._n_sharpe += 1
            d = sharpe_per_bar - self._mean
            self._mean += d / self._n_sharpe
            self._m2 += d * (sharpe_per_bar - self._mean)
        return True

    def _merge(self) -> None:
        if self._pending:
            extra = np.fromiter(self._pending, np.uint64, len(self._pending))
            self._sorted = np.union1d(self._sorted, extra)
            self._pending = set()

    @property
    def sharpe_variance(self) -> float:
        """Sample variance of per-bar Sharpe across the distinct trials (0 with fewer than 2)."""
        return self._m2 / (self._n_sharpe - 1) if self._n_sharpe > 1 else 0.0

    @property
    def nbytes(self) -> int:
        return int(self._sorted.nbytes) + 8 * len(self._pending)

    def to_bytes(self) -> bytes:
        self._merge()
        buf = io.BytesIO()
        np.savez(buf, digests=self._sorted,
                 stats=np.array([self._mean, self._m2, self._n_sharpe], np.float64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrialCounter:
        with np.load(io.BytesIO(data)) as z:
            tc = cls()
            tc._sorted = np.ascontiguousarray(z["digests"], dtype=np.uint64)
            tc._mean, tc._m2, n = (float(x) for x in z["stats"])
            tc._n_sharpe = int(n)
        return tc
