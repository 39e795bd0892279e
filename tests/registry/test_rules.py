"""The registry's pure rules: legal stage moves, who may change what, the minimal paper rule."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.registry import (
    MOVES,
    REGISTRY_STAGES,
    IllegalChange,
    RegistryError,
    account_for,
    apply_flag,
    apply_move,
    check_create,
    check_flag,
    check_key,
    check_move,
    check_update,
    is_trading,
    paper_admissions,
)
from schemas.registry import Flag, StrategyLimits
from tests.registry.conftest import NOW, make_entry

WRITERS = ["validation", "lifecycle", "operator", "risk", "trader"]


def at(stage, entry=None):
    e = entry or make_entry()
    return msgspec.structs.replace(e, stage=stage, account=account_for(stage))


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("src", REGISTRY_STAGES)
@pytest.mark.parametrize("dst", REGISTRY_STAGES)
def test_every_move_is_legal_exactly_for_its_writers(writer, src, dst):
    entry = at(src)
    allowed = MOVES.get((src, dst), frozenset())
    if writer in allowed:
        check_move(entry, dst, writer)
    else:
        with pytest.raises(IllegalChange):
            check_move(entry, dst, writer)


def test_the_issue_table():
    assert MOVES[("validated", "paper")] >= {"lifecycle", "validation"}
    assert MOVES[("paper", "live")] == {"lifecycle", "operator"}
    for src in ("validated", "paper", "live"):
        assert MOVES[(src, "retired")] == {"lifecycle", "operator"}
    assert not any(src == "retired" for src, _ in MOVES), "retired is terminal"
    assert not any("risk" in w or "trader" in w for w in MOVES.values())


def test_an_illegal_move_says_where_it_may_go():
    with pytest.raises(IllegalChange, match="from paper it may go to live, retired"):
        check_move(at("paper"), "validated", "operator")
    with pytest.raises(IllegalChange, match="retired strategy never trades again"):
        check_move(at("retired"), "paper", "operator")
    with pytest.raises(IllegalChange, match="lifecycle and operator may"):
        check_move(at("paper"), "live", "validation")


def test_a_move_appends_history_and_sets_the_account():
    e = apply_move(at("validated"), "paper", "minimal rule", "validation", NOW + 5)
    assert (e.stage, e.account, e.stage_since, e.ts_event) == ("paper", "paper", NOW + 5, NOW + 5)
    assert e.history[-1].reason == "minimal rule" and e.history[-1].by == "validation"
    e = apply_move(e, "live", "a week of paper", "operator", NOW + 9)
    assert e.account == "live"
    e = apply_move(e, "retired", "decay", "lifecycle", NOW + 10)
    assert e.account == "live" and [c.stage for c in e.history] == ["paper", "live", "retired"]


def test_only_validation_and_the_operator_create_and_only_as_validated():
    check_create(make_entry(), "validation")
    check_create(make_entry(), "operator")
    for writer in ("lifecycle", "risk", "trader"):
        with pytest.raises(IllegalChange):
            check_create(make_entry(), writer)
    with pytest.raises(IllegalChange, match="starts as `validated`"):
        check_create(at("paper"), "operator")


def test_flags_by_their_writers():
    check_flag("paused", "operator")
    check_flag("deactivated", "lifecycle")
    check_flag("decaying", "lifecycle")
    with pytest.raises(IllegalChange, match="lifecycle may"):
        check_flag("decaying", "operator")
    with pytest.raises(IllegalChange):
        check_flag("paused", "risk")
    with pytest.raises(IllegalChange, match="unknown flag"):
        check_flag("sleepy", "operator")


def test_update_changes_only_what_the_writer_owns():
    old = make_entry()
    limits = msgspec.structs.replace(old, limits=StrategyLimits(max_trades_per_day=5))
    check_update(old, limits, "operator")
    with pytest.raises(IllegalChange, match="`limits`"):
        check_update(old, limits, "validation")
    with pytest.raises(IllegalChange, match="never changes"):
        check_update(old, msgspec.structs.replace(old, dsl="(x)"), "operator")
    with pytest.raises(IllegalChange, match="only through move"):
        check_update(old, at("paper", old), "operator")
    flagged = apply_flag(old, "paused", Flag(reason="r", at=NOW, by="operator"), NOW)
    with pytest.raises(IllegalChange, match="set_flag"):
        check_update(old, flagged, "operator")


def test_trading_means_paper_or_live_and_not_paused_or_deactivated():
    assert not is_trading(at("validated"))
    assert is_trading(at("paper")) and is_trading(at("live"))
    assert not is_trading(at("retired"))
    paused = apply_flag(at("paper"), "paused", Flag(reason="r", at=NOW, by="operator"), NOW)
    assert not is_trading(paused)
    decaying = apply_flag(at("live"), "decaying", Flag(reason="r", at=NOW, by="lifecycle"), NOW)
    assert is_trading(decaying)


def test_keys_the_kv_cannot_hold_are_refused_by_name():
    check_key("gp_12_ab12cd34")
    for bad in ("has space", "a*b", "a>b", ".lead", "ü"):
        with pytest.raises(RegistryError, match="cannot be a registry key"):
            check_key(bad)


def test_the_minimal_rule_fills_free_slots_best_score_first():
    entries = [make_entry(f"gp_{i}", score=float(i)) for i in range(5)]
    entries.append(at("paper", make_entry("gp_in_paper")))
    entries.append(make_entry("user_x", kind="user", score=99.0))
    entries.append(make_entry("gp_blocked", coin="DOGE", score=98.0))
    got = paper_admissions(entries, paper_slots=3, blocked_coins=["DOGE"])
    assert [i for i, _ in got] == ["gp_4", "gp_3"]
    assert "paper slot 2 of 3" in got[0][1] and "score 4.0" in got[0][1]
    assert paper_admissions(entries, paper_slots=1) == []


@given(scores=st.lists(st.floats(0, 100), max_size=12), slots=st.integers(0, 15),
       in_paper=st.integers(0, 6))
def test_the_minimal_rule_never_overfills(scores, slots, in_paper):
    entries = [make_entry(f"gp_v{i}", score=s) for i, s in enumerate(scores)]
    entries += [at("paper", make_entry(f"gp_p{i}")) for i in range(in_paper)]
    got = paper_admissions(entries, slots)
    assert len(got) == min(len(scores), max(0, slots - in_paper))
    chosen = {i for i, _ in got}
    rest = [e.validation.score for e in entries if e.stage == "validated" and e.strategy_id not in chosen]
    assert all(e.validation.score >= max(rest, default=-1) for e in entries if e.strategy_id in chosen)
