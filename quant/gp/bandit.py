"""Adaptive operator rates: a multi-armed bandit over the variation operators.

Adaptive pursuit (Thierens 2005): each operator's quality is an exponential average of its
reward (the share of its offspring that beat their parent); every generation the rates move a
step `beta` toward giving the best operator `p_max` and every other `p_min`, so no operator is
ever switched off and the rates follow the search as it moves from exploration to refinement.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


class OperatorBandit:
    def __init__(self, arms: Sequence[str], p_min: float = 0.04, alpha: float = 0.3,
                 beta: float = 0.3, initial: Mapping[str, float] | None = None):
        if not arms:
            raise ValueError("the bandit needs at least one operator")
        if p_min * len(arms) >= 1.0:
            raise ValueError(f"p_min {p_min} too large for {len(arms)} operators")
        self.arms = tuple(arms)
        self.p_min, self.alpha, self.beta = float(p_min), float(alpha), float(beta)
        self.p_max = 1.0 - (len(arms) - 1) * self.p_min
        if initial:
            total = sum(max(self.p_min, float(initial.get(a, 0.0))) for a in self.arms)
            self.rates = {a: max(self.p_min, float(initial.get(a, 0.0))) / total
                          for a in self.arms}
        else:
            self.rates = {a: 1.0 / len(self.arms) for a in self.arms}
        self.quality = {a: 0.0 for a in self.arms}

    def choose(self, rng: random.Random | None = None) -> str:
        """One operator, drawn with the current rates (global `random` unless `rng` given)."""
        x = (rng or random).random()
        acc = 0.0
        for arm in self.arms:
            acc += self.rates[arm]
            if x < acc:
                return arm
        return self.arms[-1]

    def update(self, rewards: Mapping[str, Sequence[float]]) -> None:
        """Feed one generation's rewards (per operator, one value in [0, 1] per offspring)."""
        for arm, values in rewards.items():
            if arm in self.quality and len(values):
                mean = sum(values) / len(values)
                self.quality[arm] += self.alpha * (mean - self.quality[arm])
        best = max(self.arms, key=lambda a: (self.quality[a], -self.arms.index(a)))
        for arm in self.arms:
            target = self.p_max if arm == best else self.p_min
            self.rates[arm] += self.beta * (target - self.rates[arm])
        total = sum(self.rates.values())
        self.rates = {a: r / total for a, r in self.rates.items()}
