"""Hyperliquid's limits: signer nonces, the per-IP weight budget, the per-address action budget."""

from __future__ import annotations

import bisect
from collections import deque
from decimal import Decimal

from venue import rules

DAY_MS = 86_400_000
NONCES_KEPT = 100
WINDOW_MS = 60_000


class NonceBook:
    """Per signer: the 100 highest nonces; a new one must be unused, above the smallest kept, and
    within (now − 2 days, now + 1 day)."""

    def __init__(self) -> None:
        self.kept: dict[str, list[int]] = {}

    def check_and_use(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """None if accepted (and recorded), else the refusal text."""
        kept = self.kept.setdefault(signer, [])
        i = bisect.bisect_left(kept, nonce)
        if i < len(kept) and kept[i] == nonce:
            return rules.DUPLICATE_NONCE.format(nonce=nonce)
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            return rules.NONCE_TOO_LOW.format(nonce=nonce, least=kept[0])
        if nonce <= now_ms - 2 * DAY_MS:
            return rules.NONCE_TOO_LOW.format(nonce=nonce, least=now_ms - 2 * DAY_MS)
        if nonce >= now_ms + DAY_MS:
            return rules.NONCE_TOO_HIGH.format(nonce=nonce, most=now_ms + DAY_MS)
        kept.insert(i, nonce)
        if len(kept) > NONCES_KEPT:
            del kept[0]
        return None


class SlidingSum:
    """Amounts added over time and their total over the last `window`, kept as a running total:
    O(1) per add, where summing the window would cost a pass over every request of the last
    minute (thousands under a benchmark's load, on every request)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._items: deque[tuple[float, int]] = deque()
        self._total = 0

    def total(self, now: float) -> int:
        """The sum of what was added after `now - window`."""
        items = self._items
        cutoff = now - self.window
        while items and items[0][0] <= cutoff:
            self._total -= items.popleft()[1]
        return self._total

    def add(self, amount: int, now: float) -> None:
        self._items.append((now, amount))
        self._total += amount


class IpWeightBudget:
    """`per_minute` weight per IP over a sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.spent: dict[str, SlidingSum] = {}

    def _window(self, ip: str) -> SlidingSum:
        window = self.spent.get(ip)
        if window is None:
            window = self.spent[ip] = SlidingSum(WINDOW_MS)
        return window

    def take(self, ip: str, weight: int, now_ms: int) -> bool:
        window = self._window(ip)
        if window.total(now_ms) + weight > self.per_minute:
            return False
        window.add(weight, now_ms)
        return True

    def charge(self, ip: str, weight: int, now_ms: int) -> None:
        """Spend weight after the fact (may overdraw: the next request is then refused)."""
        if weight > 0:
            self._window(ip).add(weight, now_ms)


def info_weight(kind: str, returned_items: int = 0) -> int:
    """/info weight: 2 for the light queries, 20 for the rest, +1 per 60 candles (or items)."""
    if kind in {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}:
        return 2
    if kind == "userRole":
        return 60
    return 20 + returned_items // 60


def exchange_weight(batch: int) -> int:
    return 1 + batch // 40


class AddressBudget:
    """Each address may send `initial` actions plus one per USDC it has traded."""

    def __init__(self, initial: int) -> None:
        self.initial = initial
        self.sent: dict[str, int] = {}

    def take(self, address: str, n: int, volume: Decimal) -> str | None:
        limit = self.initial + int(volume)
        sent = self.sent.get(address, 0) + n
        if sent > limit:
            vol = volume.quantize(Decimal("0.01")).normalize()
            return rules.ADDRESS_BUDGET.format(sent=sent, limit=limit, volume=f"{vol:f}")
        self.sent[address] = sent
        return None
