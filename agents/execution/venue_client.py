"""Talking to the venue for trading: one signer with a monotonic nonce, signed /exchange actions,
/info queries, and the request weight spent, over one aiohttp session.

Signing is the SDK's own (`hyperliquid.utils.signing.sign_l1_action`), so what the venue verifies
is exactly what the SDK would send; the action wires are built here from exact Decimals (the
SDK's `Exchange` takes floats and picks its own nonce). The key lives in an eth_account
LocalAccount inside `Signer` and is never formatted into any text.

Errors: `TemporaryError` for what a retry may cure (timeouts, connection failures, HTTP 5xx and
429); `VenueError` for a refusal a retry will not change (another 4xx). A 2xx reply is returned as
parsed JSON even when it says `"status": "err"`: the caller reads it.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
from hyperliquid.utils.signing import sign_l1_action

from venue.limits import SlidingSum, exchange_weight, info_weight
from venue.signing import l1_digest
from venue.wire import fmt

MAINNET_URL = "https://api.hyperliquid.xyz"


class TemporaryError(RuntimeError):
    """A failure a retry may cure: timeout, connection refused or reset, HTTP 5xx or 429."""

    def __init__(self, text: str, *, status: int = 0, processed_maybe: bool = True) -> None:
        super().__init__(text)
        self.status = status
        # False when the venue refused the request before looking at it (429): nothing to ask
        self.processed_maybe = processed_maybe


class VenueError(RuntimeError):
    """A refusal a retry will not change (HTTP 4xx other than 429)."""


class Signer:
    """One signing key per process, with a strictly increasing nonce (ms): two actions in the same
    millisecond would otherwise collide ("Invalid nonce: duplicate nonce")."""

    def __init__(self, private_key: str, is_mainnet: bool) -> None:
        from eth_account import Account

        self._wallet = Account.from_key(private_key)
        self.address = self._wallet.address.lower()
        self.is_mainnet = is_mainnet
        self._last_nonce = 0
        try:  # the same signature as the SDK's, 20x faster (venue/signing.py, tested equal)
            import coincurve

            self._fast = coincurve.PrivateKey(bytes(self._wallet.key))
        except ImportError:  # pragma: no cover
            self._fast = None

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.address})"

    def next_nonce(self, now_ms: int | None = None) -> int:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self._last_nonce = max(now, self._last_nonce + 1)
        return self._last_nonce

    def sign(self, action: dict, nonce: int, expires_after: int | None = None) -> dict:
        """{r, s, v} as the SDK's sign_l1_action writes them."""
        if self._fast is None:
            return sign_l1_action(self._wallet, action, None, nonce, expires_after,
                                  self.is_mainnet)
        digest = l1_digest(action, None, nonce, expires_after, self.is_mainnet)
        sig = self._fast.sign_recoverable(digest, hasher=None)
        return {"r": hex(int.from_bytes(sig[:32], "big")),
                "s": hex(int.from_bytes(sig[32:64], "big")), "v": 27 + sig[64]}

    def envelope(self, action: dict, expires_after: int | None = None) -> dict:
        nonce = self.next_nonce()
        return {"action": action, "nonce": nonce, "signature": self.sign(action, nonce, expires_after),
                "vaultAddress": None, "expiresAfter": expires_after}


class WeightMeter:
    """Request weight spent over the last minute (Hyperliquid: 1200 a minute per IP)."""

    def __init__(self) -> None:
        self._spent = SlidingSum(60.0)

    def add(self, weight: int, now: float | None = None) -> None:
        self._spent.add(weight, time.monotonic() if now is None else now)

    def used(self, now: float | None = None) -> int:
        return self._spent.total(time.monotonic() if now is None else now)


class VenueClient:
    """POST /info and /exchange of one venue (base URL), no retries: the caller decides."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, signer: Signer | None,
                 *, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.signer = signer
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.weights = WeightMeter()

    async def _post(self, path: str, body: dict, weight: int) -> Any:
        self.weights.add(weight)
        try:
            async with self.session.post(self.base_url + path, json=body,
                                         timeout=self.timeout) as resp:
                if resp.status == 200:
                    return await resp.json(content_type=None)
                text = (await resp.text())[:300]
        except asyncio.TimeoutError:
            raise TemporaryError(f"{path} timed out after {self.timeout.total} s") from None
        except aiohttp.ClientConnectionError as exc:
            # refused before anything was sent, or reset after: either may have been processed
            raise TemporaryError(f"{path} connection failed: {exc}") from None
        except aiohttp.ClientError as exc:
            raise TemporaryError(f"{path} failed: {exc}") from None
        if resp.status == 429:
            raise TemporaryError(f"{path} answered 429 (rate limited)", status=429,
                                 processed_maybe=False)
        if resp.status >= 500:
            raise TemporaryError(f"{path} answered {resp.status}: {text}", status=resp.status)
        raise VenueError(f"{path} answered {resp.status}: {text}")

    async def info(self, body: dict) -> Any:
        return await self._post("/info", body, info_weight(str(body.get("type"))))

    async def exchange(self, action: dict, expires_after: int | None = None) -> dict:
        assert self.signer is not None, "a read-only client cannot sign"
        batch = 1
        for key in ("orders", "cancels", "modifies"):
            if isinstance(action.get(key), list):
                batch = len(action[key])
        return await self._post("/exchange", self.signer.envelope(action, expires_after),
                                exchange_weight(batch))


# --- action wires (Hyperliquid's field order: the signature hashes the msgpack of the action) ---
def order_wire(asset: int, is_buy: bool, px: Decimal, sz: Decimal, reduce_only: bool,
               cloid: str, *, tif: str = "Ioc", trigger_px: Decimal | None = None,
               tpsl: str = "sl") -> dict:
    if trigger_px is not None:
        kind: dict = {"trigger": {"isMarket": True, "triggerPx": fmt(trigger_px), "tpsl": tpsl}}
    else:
        kind = {"limit": {"tif": tif}}
    return {"a": asset, "b": is_buy, "p": fmt(px), "s": fmt(sz), "r": reduce_only, "t": kind,
            "c": cloid}


def order_action(wires: list[dict]) -> dict:
    return {"type": "order", "orders": wires, "grouping": "na"}


def cancel_by_cloid_action(asset: int, cloid: str) -> dict:
    return {"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": cloid}]}


def leverage_action(asset: int, leverage: int, cross: bool) -> dict:
    return {"type": "updateLeverage", "asset": asset, "isCross": cross, "leverage": leverage}


def schedule_cancel_action(when_ms: int | None) -> dict:
    return {"type": "scheduleCancel", "time": when_ms} if when_ms else {"type": "scheduleCancel"}
