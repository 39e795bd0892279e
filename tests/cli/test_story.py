"""organism/story.py: the plain lines `organism up` prints per notable event, and the helpers
`tail` uses to stay readable (internal subjects hidden, times as dates, what it waits for)."""

from __future__ import annotations

import msgspec

from organism.cli.fmt import parse_utc, pct, usd, utc, utc_ms, utc_ns
from organism.cli.watch_cmds import compact, hidden, waiting_for
from organism.story import line, restart_line
from tests.schemas.examples import EXAMPLES


def test_validation_reports_read_as_one_sentence():
    rep = EXAMPLES["ValidationReport"]
    text = line(rep)
    assert text.startswith(f"validation: {rep.strategy_id} ")
    assert ("PASS, readiness" in text) if rep.verdict == "pass" else ("FAIL: " in text)
    failed = msgspec.structs.replace(rep, verdict="fail", gates=[
        msgspec.structs.replace(rep.gates[0], gate="deflated_sharpe", value=0.06, threshold=0.95,
                                comparator=">=", passed=False, detail="N=85 trials")])
    assert line(failed) == (f"validation: {rep.strategy_id} FAIL: deflated_sharpe 6.0% "
                            f"(needs >= 95.0%)")


def test_lifecycle_risk_and_restarts():
    ev = EXAMPLES["LifecycleEvent"]
    assert line(ev).startswith(f"lifecycle: {ev.strategy_id} ")
    st = EXAMPLES["TradingStateChanged"]
    assert line(st).startswith(f"risk: {st.account} account {st.state}")
    assert line(EXAMPLES["Candle"]) is None  # not notable
    assert restart_line("evolution", 1, 3.21, 2, 4.0) == (
        "supervisor: evolution exited with code 1 after 3.2 s; restart #2 in 4.0 s")


def test_internal_subjects_are_hidden_unless_asked_for():
    assert hidden("_INBOX.abc.1", ">") and hidden("$JS.API.STREAM.INFO.X", ">")
    assert not hidden("md.candle.BTC.1h", ">")
    assert not hidden("_INBOX.abc.1", "_INBOX.>")


def test_a_quiet_tail_says_what_it_waits_for():
    now = parse_utc("2026-11-29 04:50")
    assert waiting_for("md.candle.BTC.1h", now) == (
        "1h candles are published when they close; the next closes at 2026-11-29 05:00Z "
        "(in 10m00s)")
    assert "when they close" in waiting_for("md.candle.>", now)
    assert "evolution publishes a candidate" in waiting_for("evo.candidate", now)


def test_times_money_and_returns_as_a_trader_reads_them():
    ns = 1_795_928_372_796_882_325
    assert utc_ns(ns) == "2026-11-29 04:59:32Z"
    assert utc(ns) == utc(ns // 1_000_000) == utc(ns // 1_000_000_000)
    assert utc_ms(parse_utc("2026-11-29T04:50Z")) == "2026-11-29 04:50Z"
    assert usd(12345.678) == "$12,345.68" and usd(-1234.5) == "-$1,234.50"
    assert usd(3, sign=True) == "+$3.00" and usd(float("nan")) == "n/a"
    assert pct(0.1234) == "+12.3%" and pct(-0.05, sign=False) == "-5.0%"
    body = msgspec.to_builtins(EXAMPLES["Candle"])
    text = compact(body)
    assert "open_time=20" in text and "Z" in text and "ts_event" not in text


def test_failed_verdicts_beyond_a_few_a_minute_are_told_as_one_line():
    from organism.story import Digest

    d = Digest(per_minute=2)
    told = []
    for i in range(5):
        told += d.add(f"validation: s{i} FAIL: x", "deflated_sharpe", 100.0 + i)
    told += d.add("validation: s5 FAIL: y", "pbo", 110.0)
    assert told == ["validation: s0 FAIL: x", "validation: s1 FAIL: x"]
    # a pass, a stage change, a halt: always told, even in a full minute
    assert d.add("validation: p PASS, readiness 80.0 / 100", None, 120.0) == [
        "validation: p PASS, readiness 80.0 / 100"]
    assert d.tick(159.0) == []  # the minute is not over
    assert d.tick(160.0) == [
        "validation: 4 more candidates failed in the last minute, most on deflated_sharpe (3)"]
    assert d.tick(300.0) == []  # told once
    # the next minute starts afresh with its first failures told one by one
    assert d.add("validation: s6 FAIL: x", "deflated_sharpe", 301.0) == [
        "validation: s6 FAIL: x"]


def test_a_failed_report_names_its_first_failed_gate():
    from organism.story import failed_on

    rep = EXAMPLES["ValidationReport"]
    failed = msgspec.structs.replace(rep, verdict="fail", gates=[
        msgspec.structs.replace(rep.gates[0], gate="deflated_sharpe", value=0.06, threshold=0.95,
                                comparator=">=", passed=False, detail="N=85 trials")])
    assert failed_on(failed) == "deflated_sharpe"
    assert failed_on(msgspec.structs.replace(rep, verdict="pass")) is None
    assert failed_on(EXAMPLES["Candle"]) is None
