"""The sliding-minute sums behind the venue's per-IP weight budget and execution's weight meter:
a running total must always equal the plain sum over the window."""

from hypothesis import given
from hypothesis import strategies as st

from agents.execution.venue_client import WeightMeter
from venue.limits import IpWeightBudget, SlidingSum


@given(st.lists(st.tuples(st.integers(0, 5_000), st.integers(1, 40)), max_size=200))
def test_running_total_equals_the_sum_over_the_window(steps):
    window = SlidingSum(60_000)
    now, added = 0, []
    for gap, amount in steps:
        now += gap
        window.add(amount, now)
        added.append((now, amount))
        assert window.total(now) == sum(a for t, a in added if t > now - 60_000)


def test_budget_refuses_over_the_minute_and_recovers_after_it():
    budget = IpWeightBudget(per_minute=100)
    assert budget.take("1.2.3.4", 60, now_ms=0)
    assert not budget.take("1.2.3.4", 60, now_ms=59_999)  # 120 > 100 within the minute
    assert budget.take("5.6.7.8", 60, now_ms=59_999)  # another IP has its own budget
    budget.charge("1.2.3.4", 30, now_ms=59_999)  # spent after the fact: 90 now
    assert not budget.take("1.2.3.4", 11, now_ms=59_999)
    assert budget.take("1.2.3.4", 70, now_ms=60_000)  # the first 60 left the window


def test_weight_meter_forgets_after_a_minute():
    meter = WeightMeter()
    meter.add(20, now=100.0)
    meter.add(2, now=130.0)
    assert meter.used(now=150.0) == 22
    assert meter.used(now=160.0) == 2
    assert meter.used(now=190.0) == 0
