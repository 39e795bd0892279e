"""The candle closer: every open time emitted exactly once, in order, only after it ended."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marketdata.candles import Bar, CandleCloser

H = 3_600_000


def bar(i: int, c: float = 1.0) -> Bar:
    return Bar(t=i * H, T=(i + 1) * H - 1, o=1.0, h=max(1.0, c), l=min(1.0, c), c=c, v=1.0)


def test_next_open_closes_the_previous_once():
    cl = CandleCloser(H)
    assert cl.on_push(bar(0, 1.0), 10) == []
    assert cl.on_push(bar(0, 1.5), 20) == []
    assert cl.on_push(bar(1), H + 5) == [bar(0, 1.5)]
    assert cl.on_push(bar(0, 9.9), H + 6) == []  # a late push for a closed candle is ignored
    assert cl.on_push(bar(1, 2.0), H + 7) == []


def test_grace_timer_closes_a_quiet_candle_and_the_next_push_does_not_repeat_it():
    cl = CandleCloser(H, grace_ms=5_000)
    cl.on_push(bar(0), 10)
    assert cl.on_timer(H - 1 + 4_000) == []
    assert cl.on_timer(H - 1 + 5_001) == [bar(0)]
    assert cl.on_push(bar(1), H + 6_000) == []
    assert cl.on_timer(2 * H + 10_000) == [bar(1)]


def test_backfill_trusts_the_venue_about_which_candles_closed():
    """The venue's clock may run ahead of ours: a candle with a newer one after it is closed."""
    cl = CandleCloser(H)
    got = cl.on_backfill([bar(i) for i in range(10, 14)], now_ms=0)
    assert [b.t for b in got] == [10 * H, 11 * H, 12 * H] and cl.current == bar(13)


def test_backfill_fills_the_gap_without_duplicates_and_keeps_the_open_candle():
    cl = CandleCloser(H, last_closed=bar(2).t)
    assert cl.backfill_from() == 3 * H
    now = 7 * H + 100
    got = cl.on_backfill([bar(i) for i in range(1, 8)], now)
    assert [b.t for b in got] == [3 * H, 4 * H, 5 * H, 6 * H]
    assert cl.current == bar(7)
    assert cl.on_backfill([bar(i) for i in range(5, 8)], now) == []
    assert cl.on_push(bar(8), 8 * H + 1) == [bar(7)]


@given(st.lists(st.tuples(st.sampled_from(["push", "timer", "backfill"]), st.integers(0, 3)), max_size=60))
def test_any_interleaving_emits_each_ended_candle_at_most_once_in_order(events):
    """Property: whatever mix of pushes, timers and backfills, emitted open times are strictly
    increasing (so never duplicated) and every emitted candle had ended when it was emitted."""
    cl = CandleCloser(H, grace_ms=1_000)
    now, i, emitted = 0, 0, []
    for kind, step in events:
        now += step * H // 2 + 1
        i = max(i, now // H)
        if kind == "push":
            out = cl.on_push(bar(now // H), now)
        elif kind == "timer":
            out = cl.on_timer(now)
        else:
            out = cl.on_backfill([bar(k) for k in range(max(0, now // H - 3), now // H + 1)], now)
        for b in out:
            assert b.T < now
        emitted += [b.t for b in out]
    assert emitted == sorted(set(emitted))


def test_a_push_that_jumps_over_candles_is_recognised():
    c = CandleCloser(H, last_closed=0)
    assert not c.skips(bar(1))  # the next one
    assert c.skips(bar(2))  # one candle never seen
    c.on_push(bar(1), H + 1)
    assert not c.skips(bar(1)) and not c.skips(bar(2))
    assert c.skips(bar(3))
    assert not CandleCloser(H).skips(bar(10))  # nothing seen yet: nothing skipped
