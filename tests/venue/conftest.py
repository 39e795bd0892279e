"""Fixtures for the local exchange: a venue on a free loopback port, a funded wallet, the real SDK."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import eth_account
import pytest
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange as SdkExchange

from venue.config import AccountSpec, SimConfig
from venue.testing import SimThread

SDK_TIMEOUT_S = 10.0


def quiet_config(*accounts: LocalAccount, usdc: str = "10000", **overrides: Any) -> SimConfig:
    """A venue whose prices move only when a test says so: frozen market, no background ticks."""
    base: dict[str, Any] = dict(
        port=0,
        market="frozen",
        tick_ms=3_600_000,
        history_minutes=30,
        accounts=tuple(AccountSpec(address=a.address, usdc=usdc) for a in accounts),
    )
    base.update(overrides)
    return SimConfig(**base)


@pytest.fixture
def wallet() -> LocalAccount:
    return eth_account.Account.create()


@pytest.fixture
def other_wallet() -> LocalAccount:
    return eth_account.Account.create()


@pytest.fixture
def sim(wallet: LocalAccount, other_wallet: LocalAccount) -> Iterator[SimThread]:
    with SimThread(quiet_config(wallet, other_wallet)) as venue:
        yield venue


@pytest.fixture
def exchange(sim: SimThread, wallet: LocalAccount) -> SdkExchange:
    return SdkExchange(wallet, sim.url, timeout=SDK_TIMEOUT_S)


@pytest.fixture
def other_exchange(sim: SimThread, other_wallet: LocalAccount) -> SdkExchange:
    return SdkExchange(other_wallet, sim.url, timeout=SDK_TIMEOUT_S)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def signed_post(url: str, wallet: LocalAccount, action: dict, nonce: int | None = None) -> Any:
    """POST an action signed as the SDK signs it (testnet source), returning the parsed reply."""
    import requests
    from hyperliquid.utils.signing import get_timestamp_ms, sign_l1_action

    nonce = get_timestamp_ms() if nonce is None else nonce
    signature = sign_l1_action(wallet, action, None, nonce, None, False)
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}
    return requests.post(url + "/exchange", json=body, timeout=SDK_TIMEOUT_S).json()


def statuses(reply: dict) -> list:
    assert reply["status"] == "ok", reply
    return reply["response"]["data"]["statuses"]
