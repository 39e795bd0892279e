from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bus import subjects as s
from bus.jetstream import STREAMS, stream_for
from bus.subjects import ANY, SubjectError


def test_subjects_go_broad_to_narrow():
    assert s.md_candle("BTC", "1h") == "md.candle.BTC.1h"
    assert s.order_intent("live", "gp_12_3fa9c2d1") == "order.intent.live.gp_12_3fa9c2d1"
    assert s.exec_event("paper", "filled", "ETH") == "exec.event.paper.filled.ETH"
    assert s.exec_cmd("live", "BTC") == "exec.cmd.live.BTC"
    assert s.sys_deadletter("risk") == "sys.deadletter.risk"
    assert s.md_candle(ANY, "1h") == "md.candle.*.1h"


@pytest.mark.parametrize("bad", ["", "BT C", "a.b", "*x", ">", "tab\t"])
def test_bad_tokens_are_refused_with_a_reason(bad):
    with pytest.raises(SubjectError, match="must be non-empty"):
        s.md_book(bad)


def test_hip3_style_coin_names_are_fine():
    assert s.md_book("xyz:XYZ100") == "md.book.xyz:XYZ100"


def test_wildcards_cannot_be_published():
    with pytest.raises(SubjectError, match="concrete"):
        s.check_publishable(s.md_candle(ANY, "1h"))
    assert s.check_publishable("md.candle.BTC.1h")


@pytest.mark.parametrize("pattern", ["md.>", "md.candle.*.1h", ">", "order.intent.gp_1_ab"])
def test_valid_patterns(pattern):
    assert s.validate_pattern(pattern) == pattern


@pytest.mark.parametrize("pattern", ["md.>.x", "md..x", "md. x"])
def test_invalid_patterns(pattern):
    with pytest.raises(SubjectError):
        s.validate_pattern(pattern)


def test_family():
    assert s.family("md.candle.BTC.1h") == "md.candle"
    assert s.family("alloc.target") == "alloc.target"
    assert s.family("x") == "x"


def test_streams_cover_the_durable_subjects_and_do_not_overlap():
    assert stream_for(s.order_intent("paper", "a")) == "ORDERS"
    assert stream_for(s.risk_state("live")) == "ORDERS"
    assert stream_for(s.exec_cmd("live", "BTC")) == "EXEC_CMD"
    assert stream_for(s.exec_event("paper", "filled", "BTC")) == "EXEC_EVENTS"
    assert stream_for(s.exec_account("paper")) == "EXEC_EVENTS"
    assert stream_for(s.exec_status("paper")) is None  # liveness: core NATS only
    assert stream_for(s.ctl_strategy("x")) == "CONTROL"
    assert stream_for(s.sys_deadletter("x")) == "DEADLETTER"
    assert stream_for(s.md_candle("BTC", "1h")) == "CANDLES"
    assert stream_for(s.md_book("BTC")) is None  # high rate: core NATS only
    assert stream_for(s.sys_heartbeat("x")) is None
    names = [spec.name for spec in STREAMS]
    assert len(names) == len(set(names))


def _catalogue_families() -> set[str]:
    """The first two tokens of every subject the catalogue builds (e.g. `md.candle`)."""
    import inspect

    families = set()
    for name, fn in inspect.getmembers(s, inspect.isfunction):
        if fn.__module__ != s.__name__ or name.startswith("_") or name in (
            "family", "is_wildcard", "check_publishable", "validate_pattern", "bench"):
            continue
        params = inspect.signature(fn).parameters
        args = ["paper" if p == "account" else "filled" if p == "kind" else "x" for p in params]
        out = fn(*args)  # a subject, or a tuple of them (exec_outcomes)
        families.update(s.family(subject) for subject in ((out,) if isinstance(out, str) else out))
    return families


def test_no_subject_literals_outside_the_catalogue():
    """Subject strings are written only in bus/subjects.py (the catalogue is the contract)."""
    root = Path(__file__).resolve().parents[2]
    families = _catalogue_families()
    assert {"md.candle", "exec.cmd", "risk.decision", "sys.deadletter"} <= families
    offenders = []
    for folder in ("agents", "bus", "organism", "schemas", "quant", "venue", "marketdata",
                   "settings"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "subjects.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    v = node.value
                    if " " not in v and (v in families or s.family(v) in families and v.count(".") >= 2):
                        offenders.append(f"{path.relative_to(root)}:{node.lineno}: {v!r}")
    assert not offenders, "use bus.subjects instead of literals:\n" + "\n".join(offenders)
