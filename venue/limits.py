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


class IpWeightBudget:
    """`per_minute` weight per IP over a sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.spent: dict[str, deque[tuple[int, int]]] = {}

    def take(self, ip: str, weight: int, now_ms: int) -> bool:
        window = self.spent.setdefault(ip, deque())
        while window and window[0][0] <= now_ms - WINDOW_MS:
            window.popleft()
        used = sum(w for _, w in window)
        if used + weight > self.per_minute:
            return False
        window.append((now_ms, weight))
        return True

    def charge(self, ip: str, weight: int, now_ms: int) -> None:
        """Spend weight after the fact (may overdraw: the next request is then refused)."""
        if weight > 0:
            self.spent.setdefault(ip, deque()).append((now_ms, weight))


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
