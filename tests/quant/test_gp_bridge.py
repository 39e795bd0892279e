"""DEAP can drive our trees: generated, mated and mutated DEAP trees map to valid genomes, and
our trees survive the trip through DEAP's str() / from_string."""

from __future__ import annotations

import random

import numpy as np
from deap import gp

from quant.data import synthetic
from quant.dsl import format_node, parse_node
from quant.gp_bridge import from_node, primitive_set, to_node
from quant.random_genome import random_tree
from quant.signals import IndicatorCache
from quant.types import Kind


def test_our_trees_round_trip_through_deap_strings():
    pset = primitive_set()
    rng = np.random.default_rng(5)
    for _ in range(300):
        node = random_tree(rng, Kind.BOOL, depth=4)
        tree = from_node(node)
        assert to_node(gp.PrimitiveTree.from_string(str(tree), pset)) == node


def test_deap_generated_and_varied_trees_are_valid_genomes():
    pset = primitive_set()
    random.seed(11)
    cache = IndicatorCache(synthetic(seed=3, bars=300))
    trees = [gp.PrimitiveTree(gp.genHalfAndHalf(pset, 1, 4)) for _ in range(60)]
    for i in range(0, 60, 2):
        a, b = gp.cxOnePoint(gp.PrimitiveTree(trees[i]), gp.PrimitiveTree(trees[i + 1]))
        (m,) = gp.mutUniform(gp.PrimitiveTree(trees[i]),
                             expr=lambda pset, type_: gp.genFull(pset, 0, 2, type_), pset=pset)
        trees += [a, b, m]
    for tree in trees:
        node = to_node(tree)
        assert parse_node(format_node(node), Kind.BOOL) == node  # in bounds, well typed
        out = cache.evaluate(node)
        assert out.dtype == np.bool_ and out.shape == (300,)


def test_the_set_is_built_once():
    assert primitive_set() is primitive_set()
