"""The deactivation rule risk and the lifecycle share (quant.lifecycle.drawdown)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.lifecycle.drawdown import (
    deactivation_limit,
    exceeds_validated_drawdown,
    strategy_drawdown,
)


def test_drawdown_is_the_fall_from_the_peak_over_the_capital():
    assert strategy_drawdown(D("-50"), D("50"), D("1000")) == 0.1
    assert strategy_drawdown(D("60"), D("50"), D("1000")) == 0.0  # above the old peak
    assert strategy_drawdown(D("-50"), D("50"), D("0")) == 0.0  # no capital to measure against


def test_deactivated_strictly_past_k_times_the_validated_drawdown():
    assert deactivation_limit(0.05, 2.0) == 0.1
    assert not exceeds_validated_drawdown(0.1, 0.05, 2.0)
    assert exceeds_validated_drawdown(0.1001, 0.05, 2.0)
    with pytest.raises(ValueError):
        deactivation_limit(0.05, 0.0)


@given(st.floats(0, 1), st.floats(0.001, 1), st.floats(0.1, 5))
def test_the_rule_is_monotone_in_the_drawdown(dd, validated, k):
    if exceeds_validated_drawdown(dd, validated, k):
        assert exceeds_validated_drawdown(min(1.0, dd * 1.5 + 1e-9), validated, k)
