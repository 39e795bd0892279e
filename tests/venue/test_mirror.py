"""A local exchange mirroring another (`market = "mirror:URL"`): one local exchange plays the real
venue (a frozen market moved by jump/tick), a second one mirrors it, and paper orders on the
mirror meet the source's book, trades and funding without the source ever seeing them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.info import Info
from loguru import logger

from tests.venue.conftest import SDK_TIMEOUT_S, statuses, wait_for
from venue.config import CoinSpec, MirrorConfig
from venue.mirror_feed import MirrorError, prepare, ws_url
from venue.testing import SimThread, quiet_config

PUSH_ONLY = MirrorConfig(quiet_poll_s=600.0, stale_after_s=1200.0, ctx_poll_s=600.0)
BRISK = MirrorConfig(quiet_poll_s=0.2, stale_after_s=1.0, ctx_poll_s=0.2)


@pytest.fixture
def source(other_wallet: LocalAccount) -> Iterator[SimThread]:
    """The "real" venue: a frozen market that moves only when jumped or ticked."""
    with SimThread(quiet_config(other_wallet, usdc="1000000")) as venue:
        yield venue


def mirror_of(source: SimThread, *wallets, mirror: MirrorConfig = PUSH_ONLY, **overrides) -> SimThread:
    return SimThread(quiet_config(*wallets, usdc="100000", market=f"mirror:{source.url}",
                                  mirror=mirror, **overrides))


def following(mirror: SimThread) -> dict:
    """Wait until every coin follows its source and the funding baseline is read."""
    def ready():
        st = mirror.admin("mirror")
        fresh = not any(c["stale"] for c in st["coins"].values())
        return st if fresh and None not in st["funding_known"].values() else None
    return wait_for(ready, what="the mirror to follow its source")


def book(info: Info, coin: str) -> list:
    return [[(lvl["px"], lvl["sz"], lvl["n"]) for lvl in side] for side in info.l2_snapshot(coin)["levels"]]


def user_orders(venue: SimThread) -> list:
    """Every order the venue has seen from someone other than its own liquidity."""
    return venue.call(lambda core: [r.order.user for r in core.records.values()])


def test_the_mirror_takes_coins_lots_and_prices_from_its_source(other_wallet) -> None:
    coins = (CoinSpec(name="BTC", sz_decimals=4, max_leverage=50, start_px="61000"),
             CoinSpec(name="ETH", sz_decimals=3, max_leverage=20, start_px="2500"),
             CoinSpec(name="DOGE", sz_decimals=0, max_leverage=10, start_px="0.2"))
    with SimThread(quiet_config(coins=coins)) as src:
        mirrored = quiet_config(market=f"mirror:{src.url}",
                                coins=tuple(c for c in quiet_config().coins if c.name != "SOL"))
        with SimThread(mirrored) as mirror:
            info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
            universe = info.meta()["universe"]
            assert [(u["name"], u["szDecimals"], u["maxLeverage"]) for u in universe] == [
                ("BTC", 4, 50), ("ETH", 3, 20)]
            following(mirror)
            assert info.all_mids() == {"BTC": "61000", "ETH": "2500"}
        with pytest.raises(MirrorError, match="lists no SOL: take it out of market.coins"):
            asyncio.run(prepare(quiet_config(market=f"mirror:{src.url}")))


def test_an_unreachable_source_or_a_bad_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="mirror:URL needs the REST base URL"):
        asyncio.run(prepare(quiet_config(market="mirror:api.hyperliquid.xyz")))
    # port 9 on loopback: nothing listens (discard), nothing leaves the machine
    with pytest.raises(MirrorError, match="cannot read the meta of the mirror's source http://127.0.0.1:9"):
        asyncio.run(prepare(quiet_config(market="mirror:http://127.0.0.1:9"), attempts=1))
    assert ws_url("https://api.hyperliquid.xyz") == "wss://api.hyperliquid.xyz/ws"


def test_the_book_equals_the_sources_within_a_push(source: SimThread) -> None:
    with mirror_of(source) as mirror:  # REST polls are off: only the websocket can move it
        following(mirror)
        src_info = Info(source.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        for coin in ("BTC", "ETH", "SOL"):
            assert book(info, coin) == book(src_info, coin)
        source.jump("ETH", "2912.5")
        wait_for(lambda: book(info, "ETH") == book(src_info, "ETH"), what="the pushed book")
        assert book(info, "ETH")[1][0][0] == "2912.8"
        # marks, oracle and the day's figures are the source's
        ctx = info.meta_and_asset_ctxs()[1][1]
        assert (ctx["markPx"], ctx["oraclePx"]) == ("2912.5", "2912.5")
        assert ctx["prevDayPx"] == src_info.meta_and_asset_ctxs()[1][1]["prevDayPx"]
        # a dropped websocket is reconnected and followed again
        assert source.drop_websockets() >= 1
        wait_for(lambda: mirror.admin("mirror")["connects"] >= 2, what="a reconnect")
        source.jump("ETH", "2950")
        wait_for(lambda: book(info, "ETH") == book(src_info, "ETH"), what="a push after the reconnect")
        with pytest.raises(Exception, match="follow the source"):
            mirror.jump("ETH", "100")


def test_a_quiet_book_is_read_over_rest(source: SimThread) -> None:
    with mirror_of(source, mirror=BRISK) as mirror:
        following(mirror)
        src_info = Info(source.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        now = source.now_ms()
        source.call(lambda core: core.jump("SOL", Decimal("171.5"), now))  # nothing pushed
        wait_for(lambda: book(info, "SOL") == book(src_info, "SOL"), what="the book over REST")
        assert mirror.admin("mirror")["rest_reads"] > 3


def test_a_paper_order_fills_at_the_sources_prices_and_depth_and_never_reaches_it(
        source: SimThread, wallet: LocalAccount) -> None:
    with mirror_of(source, wallet) as mirror:
        following(mirror)
        src_info = Info(source.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        asks = src_info.l2_snapshot("ETH")["levels"][1]
        size = Decimal(asks[0]["sz"]) + Decimal(asks[1]["sz"]) + Decimal("3.5")
        reply = SdkExchange(wallet, mirror.url, timeout=SDK_TIMEOUT_S).order(
            "ETH", True, float(size), 3010.0, {"limit": {"tif": "Ioc"}})
        filled = statuses(reply)[0]["filled"]
        assert Decimal(filled["totalSz"]) == size
        fills = sorted(info.user_fills(wallet.address), key=lambda f: f["tid"])
        assert [(f["px"], f["sz"]) for f in fills] == [
            (asks[0]["px"], asks[0]["sz"]), (asks[1]["px"], asks[1]["sz"]), (asks[2]["px"], "3.5")]
        fee = sum(Decimal(f["px"]) * Decimal(f["sz"]) for f in fills) * Decimal("0.00045")
        assert sum(Decimal(f["fee"]) for f in fills) == pytest.approx(fee, abs=Decimal("0.00001"))
        # the source never saw it: no order, no account, its book as it was
        assert user_orders(source) == []
        assert source.call(lambda core: core.account(wallet.address)) is None
        assert src_info.l2_snapshot("ETH")["levels"][1] == asks
        # what the order took is gone on the mirror until the source's next book restores it
        assert info.l2_snapshot("ETH")["levels"][1][0]["px"] == asks[2]["px"]
        source.tick()
        wait_for(lambda: info.l2_snapshot("ETH")["levels"][1][:3] == asks[:3], what="the book restored")


def test_resting_orders_fill_when_the_source_moves_or_trades_through_them(
        source: SimThread, wallet: LocalAccount, other_wallet: LocalAccount) -> None:
    with mirror_of(source, wallet) as mirror:
        following(mirror)
        ex = SdkExchange(wallet, mirror.url, timeout=SDK_TIMEOUT_S)
        info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        through = statuses(ex.order("ETH", True, 1.0, 2999.0, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
        at = statuses(ex.order("ETH", True, 1.0, 2998.5, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
        # someone on the source sells 100 ETH: trades at 2999.7, 2999.1 and 2998.5
        sold = SdkExchange(other_wallet, source.url, timeout=SDK_TIMEOUT_S).order(
            "ETH", False, 100.0, 2990.0, {"limit": {"tif": "Ioc"}})
        assert statuses(sold)[0]["filled"]["avgPx"].startswith("2999")
        fills = wait_for(lambda: info.user_fills(wallet.address), what="the trade-through fill")
        assert [(f["oid"], f["px"], f["sz"], f["crossed"]) for f in fills] == [(through, "2999", "1", False)]
        assert info.query_order_by_oid(wallet.address, at)["order"]["status"] == "open"  # at, not through
        # the source's book falls through the other bid: it fills at its own price
        source.jump("ETH", "2950")
        wait_for(lambda: len(info.user_fills(wallet.address)) == 2, what="the fill by the moving book")
        fill = [f for f in info.user_fills(wallet.address) if f["oid"] == at][0]
        assert (fill["px"], fill["sz"], fill["crossed"]) == ("2998.5", "1", False)
        assert user_orders(source) == [other_wallet.address.lower()]


def test_funding_follows_the_sources(source: SimThread, wallet: LocalAccount) -> None:
    # the mirror's own formula would pay another rate: what it pays must be the source's
    with mirror_of(source, wallet, funding_interest_8h="0.0008") as mirror:
        following(mirror)
        ex = SdkExchange(wallet, mirror.url, timeout=SDK_TIMEOUT_S)
        statuses(ex.order("ETH", True, 2.0, 3010.0, {"limit": {"tif": "Ioc"}}))
        info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        src_info = Info(source.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        start = mirror.now_ms() - 3_600_000
        mirror.advance(3_700_000)  # the mirror's own clock pays nothing
        assert info.funding_history("ETH", start) == []
        source.advance(3_700_000)
        rows = wait_for(lambda: info.funding_history("ETH", start), what="the source's funding")
        assert rows == src_info.funding_history("ETH", start)
        paid = info.user_funding_history(wallet.address, start)
        assert len(paid) == 1
        delta = paid[0]["delta"]
        assert delta["fundingRate"] == rows[0]["fundingRate"] == "0.0000125"
        assert Decimal(delta["usdc"]) == -Decimal("2") * Decimal("3000") * Decimal("0.0000125")
        assert paid[0]["time"] == rows[0]["time"]


def test_a_stale_source_withdraws_the_book_and_refuses_orders_loudly(
        source: SimThread, wallet: LocalAccount) -> None:
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(str(m)), level="ERROR")
    try:
        with mirror_of(source, wallet, mirror=BRISK) as mirror:
            following(mirror)
            ex = SdkExchange(wallet, mirror.url, timeout=SDK_TIMEOUT_S)
            info = Info(mirror.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
            resting = statuses(ex.order("ETH", True, 1.0, 2990.0, {"limit": {"tif": "Gtc"}}))[0]
            # the source stops answering (its websocket stays up, silent: a frozen feed)
            source.fail_requests("/info", count=10**6, status=502)
            st = wait_for(lambda: (s := mirror.admin("mirror"))["coins"]["ETH"]["stale"] and s,
                          what="the mirror to call the source stale")
            assert "no newer book" in st["coins"]["ETH"]["stale"] and "502" in st["coins"]["ETH"]["stale"]
            assert any("ETH is STALE" in e for e in errors)
            assert info.l2_snapshot("ETH")["levels"][1] == []  # nothing to fill against
            refused = statuses(ex.order("ETH", True, 1.0, 3010.0, {"limit": {"tif": "Ioc"}}))[0]["error"]
            assert refused.startswith("Mirrored market data for ETH is stale (") and refused.endswith("asset=1")
            assert "no orders at stale prices" in refused
            assert info.query_order_by_oid(wallet.address, resting["resting"]["oid"])["order"]["status"] == "open"
            # the source answers again: the book is back and orders fill at its prices
            source.clear_faults()
            wait_for(lambda: not mirror.admin("mirror")["coins"]["ETH"]["stale"], what="recovery")
            filled = statuses(ex.order("ETH", True, 1.0, 3010.0, {"limit": {"tif": "Ioc"}}))[0]["filled"]
            assert filled["avgPx"] == "3000.3"
    finally:
        logger.remove(sink)
