"""The text form: exact round trips, defaults, canonical hashing and errors with positions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.dsl import DslError, format_node, format_strategy, parse_node, parse_strategy
from quant.genome import Sizing, Strategy, canonical_text, strategy_hash, strategy_id
from quant.primitives import PRIMITIVES
from quant.random_genome import random_strategy, random_tree
from quant.types import Kind

EXAMPLE = """(strategy
    (long-entry (cross-above (sma close 10) (sma close 50)))
    (long-exit  (cross-below (sma close 10) (sma close 50)))
    (short-entry false) (short-exit false)
    (size (fixed 1.0)) (stop-loss 0.05) (take-profit none) (max-hold none))"""


def test_the_issue_example_parses_and_round_trips():
    s = parse_strategy(EXAMPLE)
    assert format_node(s.long_entry) == "(cross-above (sma close 10) (sma close 50))"
    assert s.stop_loss == 0.05 and s.take_profit is None and s.max_hold is None
    assert s.size == Sizing("fixed", 1.0)
    text = format_strategy(s)
    assert parse_strategy(text) == s
    assert format_strategy(parse_strategy(text)) == text


def test_omitted_sections_take_the_defaults():
    s = parse_strategy("(strategy (long-entry (> (rsi close 14) 70)))")
    assert s == Strategy(long_entry=s.long_entry)
    assert format_node(s.short_entry) == "false" and s.size.fraction == 1.0
    assert s.stop_loss is s.trailing_stop is s.max_hold is None


@given(st.integers(0, 2**32 - 1))
def test_random_genomes_round_trip_exactly(seed):
    s = random_strategy(np.random.default_rng(seed))
    text = format_strategy(s)
    assert parse_strategy(text) == s
    assert format_strategy(parse_strategy(text)) == text
    assert parse_strategy(format_strategy(s, pretty=False)) == s


def test_overloads_pick_by_argument_kind():
    assert parse_node("(> close (sma close 5))").name == "gt"
    assert parse_node("(> (rsi close 14) 70)").name == "gt-k"
    assert parse_node("(cross-above (rsi close 14) 30)").name == "cross-above-k"
    assert parse_node("(* (atr 14) 2.5)", Kind.SERIES).name == "mul-k"


def test_every_primitive_is_reachable_from_the_text_form():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        for kind in (Kind.BOOL, Kind.SERIES):
            tree = random_tree(rng, kind, depth=3)
            assert parse_node(format_node(tree), kind) == tree
            seen.update(n.name for n in tree.walk())
    missing = set(PRIMITIVES) - seen - {"true", "false"}
    assert not missing


def test_canonical_form_ignores_the_order_of_commutative_arguments():
    a = parse_strategy("(strategy (long-entry (and (> close 1) (< (sma close 5) 2))))")
    b = parse_strategy("(strategy (long-entry (and (< (sma close 5) 2) (> close 1))))")
    c = parse_strategy("(strategy (long-entry (and (< (sma close 6) 2) (> close 1))))")
    assert a != b
    assert canonical_text(a) == canonical_text(b)
    assert strategy_hash(a) == strategy_hash(b) != strategy_hash(c)
    assert len(strategy_hash(a)) == 64


def test_strategy_id_format():
    sid = strategy_id(parse_strategy(EXAMPLE), "gp", 12)
    assert re.fullmatch(r"gp_12_[0-9a-f]{8}", sid)
    assert sid.endswith(strategy_hash(parse_strategy(EXAMPLE))[:8])
    with pytest.raises(ValueError):
        strategy_id(parse_strategy(EXAMPLE), "g_p", 1)


@pytest.mark.parametrize(
    "text, line, col, needle",
    [
        ("(strategy\n  (long-entry (smaa close 10)))", 2, 16, "unknown primitive 'smaa'"),
        ("(strategy\n  (long-entry (sma close 10)))", 2, 16, "expected a boolean"),
        ("(strategy (long-entry (> (sma close 1000) 1)))", 1, 37, "out of range: it must be between 2 and 500"),
        ("(strategy (long-entry (> (sma close 2.5) 1)))", 1, 37, "must be an integer"),
        ("(strategy (long-entry (and true)))", 1, 24, "takes 2 argument"),
        ("(strategy (long-entry (> close 1))", 1, 1, "unclosed '('"),
        ("(strategy (long-entry true)))", 1, 29, "unexpected ')'"),
        ("(strategy (long-exit true) (long-exit true))", 1, 28, "given twice"),
        ("(strategy (entry true))", 1, 12, "unknown section 'entry'"),
        ("(strategy (size (fixed x)))", 1, 24, "'fraction' must be a number"),
        ("(strategy (stop-loss -0.1))", 1, 22, "stop-loss must be > 0"),
        ("(strategy (long-entry (> close returnz)))", 1, 32, "unknown primitive 'returnz'"),
        ("(strategy (long-entry (> close 70 1)))", 1, 24, "takes 2 argument"),
        ("(strategy (long-entry close))", 1, 23, "wrong type: 'close' is a series"),
        ("(strategy (long-entry (> sma 1)))", 1, 26, "'sma' needs arguments"),
    ],
)
def test_errors_name_line_column_and_what_was_expected(text, line, col, needle):
    with pytest.raises(DslError) as err:
        parse_strategy(text, source="s.dsl")
    e = err.value
    assert (e.line, e.col) == (line, col), str(e)
    assert needle in str(e)
    assert str(e).startswith(f"s.dsl:{line}:{col}: ")


def test_comments_are_ignored():
    s = parse_strategy("; a comment\n(strategy ; here too\n (long-entry true))")
    assert format_node(s.long_entry) == "true"


def test_the_readme_lists_every_primitive():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "quant" / "README.md").read_text()
    for p in PRIMITIVES.values():
        assert f"`({p.symbol} " in text or f"`{p.symbol}`" in text, p.key


@given(st.lists(st.sampled_from(["(", ")", " ", "\n", "\t", ";", "x", "sma", "1.5", "\r", "é",
                                 "\u00a0"]), max_size=60))
def test_every_token_is_found_where_the_reader_says(parts):
    # the reader's line and column point at the atom's text and at each list's '('
    from quant.dsl import _List, _read

    text = "".join(parts)
    try:
        forms = _read(text)
    except DslError as exc:
        lines = text.split("\n")
        assert lines[exc.line - 1][exc.col - 1] in "()"
        return
    lines = text.split("\n")

    def check(sx):
        if isinstance(sx, _List):
            assert lines[sx.line - 1][sx.col - 1] == "("
            for item in sx.items:
                check(item)
        else:
            assert lines[sx.line - 1][sx.col - 1:sx.col - 1 + len(sx.text)] == sx.text

    for form in forms:
        check(form)
