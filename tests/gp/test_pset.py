"""The DEAP bridge: typed trees from quant's catalogue, lossless conversion both ways."""

from __future__ import annotations

import random

import pytest
from deap import gp
from hypothesis import given
from hypothesis import strategies as st

from quant.dsl import format_strategy, parse_strategy
from quant.gp.pset import (
    BoolT,
    Individual,
    SeriesT,
    StrategyT,
    build_pset,
    from_strategy,
    gen_full,
    gen_grow,
    gen_half_and_half,
    to_strategy,
    window_bounds,
)
from quant.gp.seeding import TEMPLATES, template
from quant.primitives import PRIMITIVES
from quant.types import Kind


def test_every_catalogue_primitive_is_in_the_typed_set():
    pset = build_pset(200)
    for key, p in PRIMITIVES.items():
        assert key in pset.mapping
        node = pset.mapping[key]
        assert node.ret is (SeriesT if p.ret is Kind.SERIES else BoolT)
    assert pset.ret is StrategyT
    # every type a primitive asks for can end in a terminal: trees never dead-end
    for prims in pset.primitives.values():
        for prim in prims:
            for t in prim.args:
                assert pset.terminals.get(t), t


def assert_valid(ind: Individual, pset) -> None:
    """A typed tree whose every argument has the type its primitive asks for, with every
    window inside its bounds, that survives the DSL round trip."""
    stack = [pset.ret]
    for node in ind:
        want = stack.pop()
        assert node.ret is want, (node.name, node.ret, want)
        if isinstance(node, gp.Terminal) and node.ret not in (SeriesT, BoolT):
            if node.ret.kind is Kind.WINDOW:
                lo, hi = window_bounds(node.ret, pset.max_window)
                assert lo <= node.value <= hi and isinstance(node.value, int)
            else:
                if node.ret.lo is not None:
                    assert node.ret.lo <= node.value <= node.ret.hi
        if isinstance(node, gp.Primitive):
            stack.extend(reversed(node.args))
    assert not stack
    s = to_strategy(ind)
    assert parse_strategy(format_strategy(s)) == s


@given(st.integers(0, 10_000), st.integers(1, 4), st.sampled_from([gen_full, gen_grow,
                                                                  gen_half_and_half]))
def test_generated_trees_are_typed_valid_and_round_trip(seed, extra, gen):
    pset = build_pset(120)
    random.seed(seed)
    ind = Individual(gen(pset, 2, 2 + extra))
    assert ind[0].name == "strategy"
    assert ind.height <= 2 + extra + 1  # constants sit one level below the limit at most
    assert_valid(ind, pset)
    back = from_strategy(pset, to_strategy(ind))
    assert str(back) == str(ind)


def test_full_trees_reach_the_height_and_grow_trees_vary():
    pset = build_pset(200)
    random.seed(3)
    heights = {Individual(gen_full(pset, 4, 4)).height for _ in range(20)}
    assert min(heights) >= 4
    grown = {Individual(gen_grow(pset, 2, 5)).height for _ in range(60)}
    assert len(grown) > 1


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_convert_losslessly(name):
    s = template(name)
    pset = build_pset(200)
    ind = from_strategy(pset, s)
    assert to_strategy(ind) == s
    assert_valid(ind, pset)
