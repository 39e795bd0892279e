"""bus.replay: stored messages read back from a real JetStream, and pattern intersection."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import subjects
from bus.connection import Bus, ConnectOptions
from bus.jetstream import _matches, provision
from bus.replay import intersect, stored_messages, streams_for
from tests.schemas.examples import EXAMPLES


@pytest.mark.parametrize("a,b,want", [
    ("md.>", "md.candle.*.*", "md.candle.*.*"),
    ("md.candle.BTC.*", "md.candle.*.1h", "md.candle.BTC.1h"),
    (">", "val.report.*", "val.report.*"),
    ("md.book.*", "md.candle.*.*", None),
    ("md.candle.*", "md.candle.*.*", None),
    ("order.>", "order.intent.*.*", "order.intent.*.*"),
])
def test_intersect(a, b, want):
    assert intersect(a, b) == want
    assert intersect(b, a) == want


_tok = st.sampled_from(["md", "candle", "BTC", "1h", "*"])


@given(st.lists(_tok, min_size=1, max_size=4), st.lists(_tok, min_size=1, max_size=4),
       st.booleans(), st.lists(st.sampled_from(["md", "candle", "BTC", "1h", "x"]),
                               min_size=1, max_size=5))
def test_intersection_matches_exactly_what_both_match(a, b, tail, subject):
    pa = ".".join(a + ([">"] if tail else []))
    pb = ".".join(b)
    s = ".".join(subject)
    both = _matches(pa, s) and _matches(pb, s)
    common = intersect(pa, pb)
    assert both == (common is not None and _matches(common, s))


def test_streams_for_names_the_storing_streams():
    names = {name for name, _ in streams_for(">")}
    assert {"CANDLES", "VALIDATION", "ORDERS"} <= names
    assert streams_for("md.book.*") == []  # books are core NATS only
    assert streams_for("md.candle.BTC.*") == [("CANDLES", "md.candle.BTC.*")]


async def test_last_n_and_since_read_the_store_oldest_first(nats_server):
    bus = await Bus.connect(ConnectOptions(url=nats_server.url, name="replay-test"))
    try:
        await provision(bus.js)
        base = EXAMPLES["Candle"]
        for i in range(12):
            coin = "BTC" if i % 2 == 0 else "ETH"
            msg = msgspec.structs.replace(base, coin=coin, close=float(i))
            await bus.js.publish(subjects.md_candle(coin, "1h"), msgspec.json.encode(msg))
        got = await stored_messages(bus.js, subjects.md_candle("BTC", "*"), last=3)
        closes = [msgspec.json.decode(m.data)["close"] for m in got]
        assert closes == [6.0, 8.0, 10.0]
        assert all(m.subject == "md.candle.BTC.1h" for m in got)
        every = await stored_messages(bus.js, ">", last=100)
        assert len(every) == 12 and [m.seq for m in every] == sorted(m.seq for m in every)
        # the client reads the broker's ns times through a float: allow a few microseconds
        since = await stored_messages(bus.js, "md.>", since_ns=every[9].time_ns - 5_000)
        assert 3 <= len(since) < 12 and since == every[-len(since):]
        assert await stored_messages(bus.js, "md.book.*", last=5) == []
    finally:
        await bus.drain()
