"""The operator bandit shifts rates toward operators whose offspring improve, never to zero."""

from __future__ import annotations

import random

import pytest

from quant.gp.bandit import OperatorBandit

ARMS = ("cx", "a", "b", "c")


def test_rates_move_toward_the_rewarded_operator_and_stay_a_distribution():
    bandit = OperatorBandit(ARMS, p_min=0.05)
    for _ in range(30):
        bandit.update({"cx": [0.0, 0.0], "a": [1.0, 1.0, 0.0], "b": [0.0], "c": []})
        assert sum(bandit.rates.values()) == pytest.approx(1.0)
        assert min(bandit.rates.values()) >= 0.05 - 1e-12
    assert bandit.rates["a"] == pytest.approx(bandit.p_max, abs=1e-3)
    assert max(bandit.rates, key=bandit.rates.get) == "a"


def test_bandit_follows_a_change_in_which_operator_works():
    bandit = OperatorBandit(ARMS)
    for _ in range(20):
        bandit.update({"a": [1.0], "b": [0.0]})
    for _ in range(40):
        bandit.update({"a": [0.0], "b": [1.0]})
    assert max(bandit.rates, key=bandit.rates.get) == "b"


def test_choices_follow_the_rates():
    bandit = OperatorBandit(ARMS, initial={"cx": 0.7, "a": 0.1, "b": 0.1, "c": 0.1})
    rng = random.Random(0)
    picks = [bandit.choose(rng) for _ in range(4000)]
    assert picks.count("cx") / 4000 == pytest.approx(bandit.rates["cx"], abs=0.03)
    assert set(picks) == set(ARMS)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        OperatorBandit([])
    with pytest.raises(ValueError):
        OperatorBandit(ARMS, p_min=0.3)
