"""Death reports: structure shared with strategies that died is penalised by how they died."""

from __future__ import annotations

import pytest

from quant.dsl import parse_strategy
from quant.gp.death import DeathMemory, structure_hashes
from quant.gp.seeding import template

DEAD = template("rsi-reversion")
COUSIN = parse_strategy("""(strategy
  (long-entry (cross-above (rsi close 14) 30.0)) (long-exit (> (rsi close 14) 55.0)))""")
STRANGER = template("donchian-breakout")


def test_structure_is_canonical():
    a = parse_strategy("(strategy (long-entry (and (> close 1.0) (< volume 2.0))))")
    b = parse_strategy("(strategy (long-entry (and (< volume 2.0) (> close 1.0))))")
    assert structure_hashes(a) == structure_hashes(b)
    assert structure_hashes(a)


def test_penalty_scales_with_shared_structure_severity_and_cause():
    memory = DeathMemory()
    memory.add(structure_hashes(DEAD), "sharpe_decay", severity=1.0)
    same = memory.penalty(structure_hashes(DEAD))
    part = memory.penalty(structure_hashes(COUSIN))
    none = memory.penalty(structure_hashes(STRANGER))
    assert same == pytest.approx(1.0)
    assert 0 < part < same
    assert none == 0.0

    mild = DeathMemory()
    mild.add(structure_hashes(DEAD), "sharpe_decay", severity=0.3)
    assert mild.penalty(structure_hashes(DEAD)) == pytest.approx(0.3)
    redundant = DeathMemory()
    redundant.add(structure_hashes(DEAD), "correlated_with_better", severity=1.0)
    assert 0 < redundant.penalty(structure_hashes(DEAD)) < same
    operator = DeathMemory()
    assert operator.add(structure_hashes(DEAD), "operator", 1.0) == 0.0
    assert operator.penalty(structure_hashes(DEAD)) == 0.0


def test_memory_is_bounded():
    memory = DeathMemory(max_reports=3)
    for i in range(10):
        memory.add([f"h{i}"], "drawdown_breach", 1.0)
    assert len(memory) == 3
    assert memory.penalty(["h0"]) == 0.0 and memory.penalty(["h9"]) == 1.0
