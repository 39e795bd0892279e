"""`organism bench orderpath` end to end with a few intents (a benchmark: `pytest -m benchmark`)."""

from __future__ import annotations

import argparse

import pytest


@pytest.mark.benchmark
def test_bench_orderpath_reports_its_keys():
    from organism.bench import orderpath

    out = orderpath.run(argparse.Namespace(intents=20, warmup=2, rr=100))
    assert out["acknowledged"] == 20 and out["failures"] == {}
    for key in ("intent_to_ack_p50_us", "intent_to_ack_p99_us", "raw_request_reply_p50_us"):
        assert out[key] > 0
    # each step of the path found in the streams, and together they are the whole round trip
    steps = out["steps_p50_us"]
    assert set(steps) == {key for key, _, _ in orderpath.STEPS}
    assert all(v > 0 for v in steps.values())
    assert 0.5 * out["intent_to_ack_p50_us"] < sum(steps.values()) < 2 * out["intent_to_ack_p50_us"]
    # the serial steps timed alone: each measured, and together below the whole round trip
    floor = out["floor_us"]
    assert all(floor[key] > 0 for key, _ in orderpath.FLOOR)
    assert floor["sum_us"] == pytest.approx(sum(floor[k] * n for k, n in orderpath.FLOOR), abs=0.2)
    assert floor["sum_us"] < out["intent_to_ack_p50_us"]
