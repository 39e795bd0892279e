"""Every variation operator: valid typed trees out, static limits respected, inputs untouched."""

from __future__ import annotations

import random

import pytest
from deap import gp

from quant.gp.operators import GA_OPERATORS, GP_OPERATORS, is_binary, make_operators
from quant.gp.pset import Individual, build_pset, from_strategy, gen_half_and_half, to_strategy
from quant.gp.seeding import template
from quant.types import Kind
from tests.gp.test_pset import assert_valid

MAX_HEIGHT, MAX_SIZE = 7, 40


def _population(pset, n=30, seed=0):
    random.seed(seed)
    return [Individual(gen_half_and_half(pset, 2, 5)) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(set(GP_OPERATORS) | set(GA_OPERATORS)))
def test_operator_gives_valid_trees_within_the_limits(name):
    pset = build_pset(150)
    ops = make_operators(pset, MAX_HEIGHT, MAX_SIZE)
    pop = [p for p in _population(pset) if p.height <= MAX_HEIGHT and len(p) <= MAX_SIZE]
    changed = 0
    for i in range(len(pop) - 1):
        a, b = pop[i], pop[i + 1]
        before = (str(a), a.genes, str(b), b.genes)
        kids = ops[name](a.clone(), b.clone()) if is_binary(name) else ops[name](a.clone())
        assert (str(a), a.genes, str(b), b.genes) == before  # parents untouched
        for kid in kids:
            assert isinstance(kid, Individual)
            assert kid.height <= MAX_HEIGHT and len(kid) <= MAX_SIZE
            assert_valid(kid, pset)
            changed += (str(kid), kid.genes) != (str(a), a.genes)
    assert changed > 0, f"{name} never changed anything"


def test_static_limit_replaces_an_oversized_child_by_a_parent():
    pset = build_pset(150)
    ops = make_operators(pset, max_height=3, max_size=20)
    random.seed(1)
    small = Individual(gen_half_and_half(pset, 2, 2))
    assert small.height <= 3 and len(small) <= 20
    for _ in range(50):
        (kid,) = ops["mut_uniform"](small.clone())
        assert kid.height <= 3 and len(kid) <= 20


def test_window_and_constant_mutation_respect_bounds():
    pset = build_pset(60)
    ops = make_operators(pset, 10, 100)
    ind = from_strategy(pset, template("donchian-breakout"))
    random.seed(5)
    for _ in range(200):
        (ind,) = ops["mut_window"](ind.clone())
        (ind,) = ops["mut_constant"](ind.clone())
        for node in ind:
            if isinstance(node, gp.Terminal) and getattr(node.ret, "kind", None) is Kind.WINDOW:
                assert node.ret.lo <= node.value <= 60
    assert_valid(ind, pset)


def test_parameter_ga_operators_never_change_structure():
    pset = build_pset(200)
    ops = make_operators(pset, 10, 100)
    base = from_strategy(pset, template("rsi-reversion"))
    shape = [n.name for n in base if not (isinstance(n, gp.Terminal) and n.ret.__name__.startswith(
        ("Window", "Threshold")))]
    random.seed(2)
    pop = [base.clone() for _ in range(6)]
    for _ in range(30):
        for name in GA_OPERATORS:
            i, j = random.randrange(6), random.randrange(6)
            kids = ops[name](pop[i].clone(), pop[j].clone()) if is_binary(name) else ops[name](
                pop[i].clone())
            pop[i] = kids[0]
    for ind in pop:
        assert [n.name for n in ind if not (isinstance(n, gp.Terminal) and n.ret.__name__.startswith(
            ("Window", "Threshold")))] == shape
        assert_valid(ind, pset)
    assert len({str(p) for p in pop} | {str(p.genes) for p in pop}) > 2


def test_gene_mutation_keeps_genes_in_range():
    pset = build_pset(200)
    ops = make_operators(pset)
    ind = from_strategy(pset, template("sma-cross"))
    random.seed(9)
    for _ in range(300):
        (ind,) = ops["mut_genes"](ind.clone())
        g = ind.genes
        assert g.stop_loss is None or 0 < g.stop_loss <= 0.15
        assert g.take_profit is None or 0 < g.take_profit <= 0.3
        assert g.trailing_stop is None or 0 < g.trailing_stop <= 0.15
        assert g.max_hold is None or 2 <= g.max_hold <= 500
        assert g.size.kind in ("fixed", "vol-target")
    s = to_strategy(ind)
    from quant.dsl import format_strategy, parse_strategy

    assert parse_strategy(format_strategy(s)) == s
