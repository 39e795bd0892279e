"""The local exchange's order-side behaviour execution relies on, through the real SDK: the
non-funding ledger (deposits, liquidations), and the dead-man switch cancelling every open
order, trigger orders included, as Hyperliquid's does ("cancel all open orders"; protective
stops are open orders: frontendOpenOrders lists them)."""

from __future__ import annotations

import eth_account
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info

from venue.testing import SimThread, quiet_config


def test_deposits_and_liquidations_are_ledger_rows():
    wallet = eth_account.Account.create()
    with SimThread(quiet_config(wallet, usdc="1000")) as sim:
        info = Info(sim.url, skip_ws=True, timeout=10)
        rows = info.user_non_funding_ledger_updates(wallet.address, 0)
        assert [r["delta"] for r in rows] == [{"type": "deposit", "usdc": "1000"}]
        sim.fund(wallet.address, "250.5")
        rows = info.user_non_funding_ledger_updates(wallet.address, 0)
        assert rows[-1]["delta"] == {"type": "deposit", "usdc": "250.5"}
        assert rows[-1]["time"] >= rows[0]["time"]
        ex = SdkExchange(wallet, sim.url, timeout=10)
        ex.update_leverage(20, "ETH")
        ex.market_open("ETH", True, 6.0, None, 0.01)
        sim.jump("ETH", "2800")
        rows = info.user_non_funding_ledger_updates(wallet.address, 0)
        liq = [r["delta"] for r in rows if r["delta"]["type"] == "liquidation"]
        assert liq and liq[0]["liquidatedPositions"] == [{"coin": "ETH", "szi": "6"}]
        assert info.user_non_funding_ledger_updates(wallet.address, rows[-1]["time"] + 1) == []


def test_the_dead_man_switch_cancels_trigger_orders_too():
    wallet = eth_account.Account.create()
    with SimThread(quiet_config(wallet)) as sim:
        ex = SdkExchange(wallet, sim.url, timeout=10)
        ex.market_open("ETH", True, 0.1, None, 0.01)
        stop = {"trigger": {"triggerPx": 2500.0, "isMarket": True, "tpsl": "sl"}}
        ex.order("ETH", False, 0.1, 2250.0, stop, reduce_only=True)
        ex.order("ETH", True, 0.1, 2800.0, {"limit": {"tif": "Gtc"}})
        info = Info(sim.url, skip_ws=True, timeout=10)
        assert len(info.frontend_open_orders(wallet.address)) == 2
        assert ex.schedule_cancel(sim.now_ms() + 6_000)["status"] == "ok"
        sim.advance(7_000)
        assert info.frontend_open_orders(wallet.address) == []
        statuses = [r["status"] for r in info.historical_orders(wallet.address)]
        assert statuses.count("scheduledCancel") == 2
        assert info.user_state(wallet.address)["assetPositions"][0]["position"]["szi"] == "0.1"


def test_organism_sim_funds_the_generated_paper_and_live_keys(tmp_path, monkeypatch):
    import argparse
    import stat

    import pytest

    from organism.cli.sim_cmd import sim_config
    from venue.keys import KeyFileError, key_path, local_address

    data = tmp_path / "data"
    config = tmp_path / "organism.toml"
    config.write_text(f'[organism]\ndata_dir = "{data}"\n[venue.live]\ncapital_usdc = "2500"\n')
    monkeypatch.delenv("ORGANISM_CONFIG", raising=False)
    sim = sim_config(argparse.Namespace(config=str(config), host=None, port=None, market=None,
                                        seed=None))
    funded = {a.address: a.usdc for a in sim.accounts}
    assert funded == {local_address(data, "paper"): "10000", local_address(data, "live"): "2500"}
    for account in ("paper", "live"):
        path = key_path(data, account)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = sim_config(argparse.Namespace(config=str(config), host=None, port=None, market=None,
                                          seed=None))
    assert {a.address for a in again.accounts} == set(funded)  # the same keys, not new ones
    key_path(data, "paper").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600") as err:
        local_address(data, "paper")
    assert key_path(data, "paper").read_text().strip() not in str(err.value)
