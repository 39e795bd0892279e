"""What `organism up` tells while it runs: one plain line per notable event, so the log of a
service manager (or a terminal) reads like a story.

    2026-11-29 04:50:12Z validation: gp_4_842dc498 FAIL: deflated_sharpe 6.0% (needs >= 95.0%) and 3 more
    2026-11-29 05:02:40Z lifecycle: gp_7_1c0ffee1 validated -> paper (passed the gauntlet)
    2026-11-29 05:10:03Z risk: paper account HALTED (was ACTIVE): daily loss 5.2% [daily_loss]
    2026-11-29 05:11:00Z supervisor: evolution exited with code 1 after 3.2 s; restart #1 in 2.0 s

`line(message)` is pure (a message to its sentence, or None for what is not notable); `follow`
subscribes to the subjects that carry them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from organism.cli.fmt import utc_ms


def stamp(now_ms: int | None = None) -> str:
    return utc_ms(int(time.time() * 1000) if now_ms is None else now_ms, seconds=True)


def line(message) -> str | None:
    from schemas import DeathReport, LifecycleEvent, TradingStateChanged, ValidationReport

    if isinstance(message, ValidationReport):
        if message.verdict == "pass":
            return (f"validation: {message.strategy_id} PASS, readiness {message.score:.1f} / 100 "
                    f"({message.trial_count:,} trials counted)")
        from quant.gauntlet.report import gate_rows

        failed = [r for r in gate_rows(message) if r[3] == "FAIL"]
        if failed:
            first = f"{failed[0][0]} {failed[0][1]} (needs {failed[0][2]})"
            more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
            return f"validation: {message.strategy_id} FAIL: {first}{more}"
        why = message.reasons[0] if message.reasons else "no reason given"
        return f"validation: {message.strategy_id} FAIL: {why}"
    if isinstance(message, LifecycleEvent):
        src = f"{message.from_stage} -> " if message.from_stage else ""
        why = f" ({message.reason})" if message.reason else ""
        return f"lifecycle: {message.strategy_id} {src}{message.to_stage}{why}"
    if isinstance(message, DeathReport):
        return f"lifecycle: {message.strategy_id} died: {message.cause}"
    if isinstance(message, TradingStateChanged):
        was = f" (was {message.previous})" if message.previous else ""
        breaker = f" [{message.breaker}]" if message.breaker else ""
        return f"risk: {message.account} account {message.state}{was}: {message.reason}{breaker}"
    return None


def restart_line(name: str, code: int | None, lived_s: float, restarts: int, delay_s: float) -> str:
    return (f"supervisor: {name} exited with code {code} after {lived_s:.1f} s; "
            f"restart #{restarts} in {delay_s:.1f} s")


async def follow(bus, say: Callable[[str], None]) -> None:
    """Subscribe to the notable subjects; each event becomes one `say(line)`."""
    from bus import subjects
    from bus.codec import DecodeFailure, decode
    from bus.subjects import ANY

    async def on_msg(msg) -> None:
        try:
            text = line(decode(msg.data))
        except DecodeFailure:
            return  # the agents' dead letters count these
        if text:
            say(f"{stamp()} {text}")

    from bus.observe import observe

    # observe: the order path (risk.state) is read through its stream (bus/permissions.py)
    for pattern in (subjects.val_report(ANY), subjects.life_event(ANY),
                    subjects.life_deathreport(ANY), subjects.risk_state(ANY)):
        await observe(bus, pattern, on_msg)
