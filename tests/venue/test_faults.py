"""Fault injection: failed and slow requests, refused orders, a frozen or jumping market."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info
from hyperliquid.utils.error import ClientError, ServerError

from tests.venue.conftest import SDK_TIMEOUT_S, quiet_config, statuses
from venue.testing import SimThread


def test_5xx_and_429_reach_the_sdk_as_its_errors(sim: SimThread) -> None:
    info = Info(sim.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
    sim.fail_requests("/info", count=1, status=502)
    with pytest.raises(ServerError) as server_error:
        info.all_mids()
    assert server_error.value.status_code == 502
    sim.fail_requests("/info", count=1, status=429)
    with pytest.raises(ClientError) as client_error:
        info.all_mids()
    assert client_error.value.status_code == 429
    assert info.all_mids()["ETH"] == "3000"  # the fault was for one request only


def test_a_delayed_request_times_out_the_client(sim: SimThread) -> None:
    info = Info(sim.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
    slow = Info(sim.url, skip_ws=True, timeout=0.2, meta=info.meta(), spot_meta=info.spot_meta())
    sim.fail_requests("/info", count=1, status=0, delay_ms=2_000)
    with pytest.raises(requests.exceptions.Timeout):
        slow.all_mids()


def test_reject_next_n_orders(sim: SimThread, exchange: SdkExchange) -> None:
    sim.reject_orders(2)
    gtc = {"limit": {"tif": "Gtc"}}
    assert statuses(exchange.order("ETH", True, 0.1, 2900.0, gtc)) == [{"error": "Order rejected by fault injection. asset=1"}]
    sim.reject_orders(1, text="Insufficient margin to place order.")
    assert statuses(exchange.order("ETH", True, 0.1, 2900.0, gtc)) == [{"error": "Insufficient margin to place order. asset=1"}]
    assert "resting" in statuses(exchange.order("ETH", True, 0.1, 2900.0, gtc))[0]


def test_freeze_and_jump(wallet) -> None:
    with SimThread(quiet_config(wallet, market="synthetic")) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        venue.freeze(True)
        before = info.all_mids()
        venue.tick(5)
        assert info.all_mids() == before
        venue.freeze(False)
        venue.tick(5)
        assert info.all_mids() != before
        venue.jump("BTC", "50000")
        assert Decimal(info.all_mids()["BTC"]) == Decimal(50000)


def test_admin_http_api(sim: SimThread, wallet) -> None:
    def admin(name: str, **body) -> dict:
        reply = requests.post(f"{sim.url}/admin/{name}", json=body, timeout=SDK_TIMEOUT_S)
        assert reply.status_code == 200, reply.text
        return reply.json()

    admin("fund", address=wallet.address, usdc="5")
    assert sim.call(lambda ex: ex.accounts[wallet.address.lower()].cash) == Decimal("10005")
    admin("jump", coin="SOL", px="120")
    assert admin("state")["result"]["mids"]["SOL"] == "120"
    admin("fail_requests", path="/exchange", count=1, status=500)
    admin("clear_faults")
    admin("advance", ms=1000)
    admin("tick", n=2)
    assert admin("drop_ws") == {"ok": True, "result": 0}
    bad = requests.post(f"{sim.url}/admin/nope", json={}, timeout=SDK_TIMEOUT_S)
    assert bad.status_code == 400


def test_admin_api_can_be_switched_off(wallet) -> None:
    with SimThread(quiet_config(wallet, admin=False)) as venue:
        reply = requests.post(f"{venue.url}/admin/state", json={}, timeout=SDK_TIMEOUT_S)
        assert reply.status_code in (404, 405)
