"""Fixtures for the local exchange: a venue on a free loopback port, a funded wallet, the real SDK."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import eth_account
import pytest
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange as SdkExchange

from venue.testing import SimThread, quiet_config, signed_post  # noqa: F401 - re-exported for tests

SDK_TIMEOUT_S = 10.0


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


def statuses(reply: dict) -> list:
    assert reply["status"] == "ok", reply
    return reply["response"]["data"]["statuses"]
