"""Markets that drive the books: stored candles and imported L2 snapshots, replayed."""

from __future__ import annotations

import json
from pathlib import Path

from hyperliquid.info import Info

from tests.venue.conftest import SDK_TIMEOUT_S
from venue.testing import SimThread, quiet_config


def test_candle_replay_moves_prices_candle_by_candle(tmp_path: Path, wallet) -> None:
    path = tmp_path / "eth.jsonl"
    closes = ["3000", "3010", "2990.5"]
    lines = [
        {"t": 1_700_000_000_000 + i * 60_000, "T": 0, "s": "ETH", "i": "1m", "o": c, "h": c, "l": c, "c": c, "v": "1", "n": 1}
        for i, c in enumerate(closes)
    ]
    path.write_text("\n".join(json.dumps(line) for line in reversed(lines)))  # order in the file does not matter
    with SimThread(quiet_config(wallet, market=f"candles:{path}")) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        seen = [info.meta_and_asset_ctxs()[1][1]["oraclePx"]]
        for _ in range(3):
            venue.tick()
            seen.append(info.meta_and_asset_ctxs()[1][1]["oraclePx"])
        assert seen == ["3000", "3010", "2990.5", "2990.5"]  # then it holds
        assert info.all_mids()["BTC"] == "60000"  # coins without candles keep their start price


def test_l2_snapshots_become_the_book(tmp_path: Path, wallet) -> None:
    def snapshot(bid: str, ask: str) -> dict:
        data = {
            "coin": "BTC",
            "time": 1_741_683_603_296,
            "levels": [[{"px": bid, "sz": "1.5", "n": 3}, {"px": "59000", "sz": "2", "n": 1}], [{"px": ask, "sz": "0.7", "n": 2}]],
        }
        return {"time": "2025-03-11T09:00:03.296545473", "ver_num": 1, "raw": {"channel": "l2Book", "data": data}}

    path = tmp_path / "BTC.jsonl"
    path.write_text(json.dumps(snapshot("60000", "60010")) + "\n" + json.dumps(snapshot("61000", "61002")) + "\n")
    with SimThread(quiet_config(wallet, market=f"l2:{path}")) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        book = info.l2_snapshot("BTC")
        assert [(lvl["px"], lvl["sz"]) for lvl in book["levels"][0]] == [("60000", "1.5"), ("59000", "2")]
        assert [(lvl["px"], lvl["sz"]) for lvl in book["levels"][1]] == [("60010", "0.7")]
        venue.tick()
        assert info.all_mids()["BTC"] == "61001"
        venue.jump("BTC", "50001")
        assert info.l2_snapshot("BTC")["levels"][1][0]["px"] == "50002"


def test_the_synthetic_market_has_5000_hourly_candles_through_the_sdk(wallet) -> None:
    # the market-data agent backfills them on the first start, so evolution has history at once
    with SimThread(quiet_config(wallet, market="synthetic", history_hours=5000,
                                history_minutes=120)) as venue:
        info = Info(venue.url, skip_ws=True, timeout=SDK_TIMEOUT_S)
        now = venue.now_ms()
        hourly = info.candles_snapshot("BTC", "1h", now - 6000 * 3_600_000, now)
        minutes = info.candles_snapshot("BTC", "1m", now - 6000 * 60_000, now)
    assert len(hourly) == 5000  # Hyperliquid keeps 5000 per interval
    steps = {b["t"] - a["t"] for a, b in zip(hourly, hourly[1:])}
    assert steps == {3_600_000}
    assert all(float(c["l"]) <= min(float(c["o"]), float(c["c"])) for c in hourly)
    assert sum(float(c["h"]) > float(c["l"]) for c in hourly) > 4900  # real ranges, not flat
    assert len(minutes) == 121  # the minute series is not stretched into the older history


def test_older_history_leaves_the_minute_history_and_the_live_path_alone() -> None:
    from venue.config import SimConfig
    from venue.market import make_market

    start = 1_790_000_000_000
    with_old = make_market(SimConfig(history_minutes=90, history_hours=48), start)
    without = make_market(SimConfig(history_minutes=90, history_hours=0), start)
    assert (with_old.candles.snapshot("BTC", "1m", 0, start)
            == without.candles.snapshot("BTC", "1m", 0, start))
    assert [with_old.step() for _ in range(20)] == [without.step() for _ in range(20)]
    assert 48 < len(with_old.candles.snapshot("ETH", "1h", 0, start)) <= 48 + 3  # + the minutes


def test_the_synthetic_history_looks_like_a_real_coin() -> None:
    # what evolution searches on `make run`: the default market's 5000 hourly candles
    import math

    import numpy as np

    from venue.config import SimConfig
    from venue.market import BUSIEST_HOUR_UTC, make_market

    start = 1_790_000_000_000
    market = make_market(SimConfig(), start)
    for coin in ("BTC", "ETH", "SOL"):
        hourly = market.candles.snapshot(coin, "1h", 0, start)
        assert len(hourly) == 5000
        close = np.array([float(c["c"]) for c in hourly])
        volume = np.array([float(c["v"]) for c in hourly])
        hour = np.array([c["t"] for c in hourly]) // 3_600_000 % 24
        returns = np.diff(np.log(close))
        assert 0.005 <= returns.std() <= 0.009, coin  # BTC moves about 0.5-1 % an hour
        assert abs(math.log(close[-1] / close[0])) < 1.5 and close.max() / close.min() < 5, coin
        assert (volume > 0).all() and all(c["n"] > 0 for c in hourly)
        notional = volume * close
        assert 1e7 < notional.mean() < 2e8, coin  # USD an hour, a liquid perpetual's
        by_hour = np.array([notional[hour == h].mean() for h in range(24)])
        busy = by_hour[[(BUSIEST_HOUR_UTC + d) % 24 for d in (-2, -1, 0, 1, 2)]].mean()
        quiet = by_hour[[(BUSIEST_HOUR_UTC + 12 + d) % 24 for d in (-2, -1, 0, 1, 2)]].mean()
        assert busy > 1.8 * quiet, coin  # a daily cycle: the US open is busier than the night
        assert np.corrcoef(np.abs(returns), volume[1:])[0, 1] > 0.05, coin  # busy when moving


def test_the_live_path_trades_volume_and_a_frozen_market_none() -> None:
    from venue.config import SimConfig
    from venue.market import make_market

    start = 497_222 * 3_600_000  # on the hour
    live = make_market(SimConfig(history_minutes=0, history_hours=0), start)
    for i in range(1, 7200):  # an hour of 500 ms ticks
        live.step()
        live.record(start + 500 * i)
    hour = live.candles.snapshot("BTC", "1h", start, start)
    assert len(hour) == 1 and float(hour[0]["v"]) > 0 and hour[0]["n"] > 0
    minutes = live.candles.snapshot("BTC", "1m", start, start + 3_600_000)
    assert len(minutes) == 60 and all(float(c["v"]) > 0 for c in minutes)
    frozen = make_market(SimConfig(market="frozen", history_minutes=0, history_hours=0), start)
    frozen.record(start + 60_000)
    assert [c["v"] for c in frozen.candles.snapshot("BTC", "1m", 0, start + 60_000)] == ["0"]
