"""What `organism up` tells while it runs: one plain line per notable event, so the log of a
service manager (or a terminal) reads like a story.

    2026-11-29 04:50:12Z validation: gp_4_842dc498 FAIL: deflated_sharpe 6.0% (needs >= 95.0%) and 3 more
    2026-11-29 05:02:40Z lifecycle: gp_7_1c0ffee1 validated -> paper (passed the gauntlet)
    2026-11-29 05:10:03Z risk: paper account HALTED (was ACTIVE): daily loss 5.2% [daily_loss]
    2026-11-29 05:11:00Z supervisor: evolution exited with code 1 after 3.2 s; restart #1 in 2.0 s

`line(message)` is pure (a message to its sentence, or None for what is not notable); `follow`
subscribes to the subjects that carry them. On a market without an edge evolution's candidates
fail by the hundred a minute: the first few failures of each minute are told one by one, the
rest in one line when the minute ends (`Digest`), so the story stays readable; every pass, stage
change, halt and restart is always told.

    2026-11-29 04:51:00Z validation: 212 more candidates failed in the last minute, most on deflated_sharpe (198)
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


class Digest:
    """Failed verdicts told one by one up to `per_minute` a minute, the rest counted and told in
    one line when the minute is over (by the next event or `tick`). Pure: times are given."""

    def __init__(self, per_minute: int = 5) -> None:
        self.per_minute = per_minute
        self.window_start: float | None = None
        self.told = 0
        self.held: dict[str, int] = {}  # first failed gate -> failures not told

    def add(self, text: str, failed_on: str | None, now_s: float) -> list[str]:
        """The lines to print now for `text` (failed_on: the first failed gate of a failure,
        None for anything else, which is always told)."""
        out = self.tick(now_s)
        if failed_on is None:
            return [*out, text]
        if self.window_start is None:
            self.window_start = now_s
        if self.told < self.per_minute:
            self.told += 1
            return [*out, text]
        self.held[failed_on] = self.held.get(failed_on, 0) + 1
        return out

    def tick(self, now_s: float) -> list[str]:
        """The summary of the minute just over, if any failures were held back."""
        if self.window_start is None or now_s - self.window_start < 60:
            return []
        out = []
        if self.held:
            n = sum(self.held.values())
            gate, most = max(self.held.items(), key=lambda kv: kv[1])
            noun = "candidate" if n == 1 else "candidates"
            out.append(f"validation: {n:,} more {noun} failed in the last minute, most on "
                       f"{gate} ({most:,})")
        self.window_start, self.told, self.held = None, 0, {}
        return out


def failed_on(message) -> str | None:
    """The first failed gate of a failed ValidationReport (its first reason without one);
    None for anything else."""
    from schemas import ValidationReport

    if not isinstance(message, ValidationReport) or message.verdict == "pass":
        return None
    from quant.gauntlet.report import gate_rows

    failed = [r for r in gate_rows(message) if r[3] == "FAIL"]
    if failed:
        return str(failed[0][0])
    return (message.reasons[0].split(":")[0] if message.reasons else "no reason given")


def restart_line(name: str, code: int | None, lived_s: float, restarts: int, delay_s: float) -> str:
    return (f"supervisor: {name} exited with code {code} after {lived_s:.1f} s; "
            f"restart #{restarts} in {delay_s:.1f} s")


async def follow(bus, say: Callable[[str], None], digest: Digest | None = None) -> list:
    """Subscribe to the notable subjects; each event becomes one `say(line)` (failed verdicts
    beyond a few a minute summed up by `digest`; call `digest.tick` now and then, as up does).
    Returns the subscriptions (unsubscribe them to stop telling)."""
    from bus import subjects
    from bus.codec import DecodeFailure, decode
    from bus.subjects import ANY

    digest = digest or Digest()

    async def on_msg(msg) -> None:
        try:
            message = decode(msg.data)
        except DecodeFailure:
            return  # the agents' dead letters count these
        text = line(message)
        if text:
            for told in digest.add(text, failed_on(message), time.time()):
                say(f"{stamp()} {told}")

    from bus.observe import observe

    # observe: the order path (risk.state) is read through its stream (bus/permissions.py)
    subs: list = []
    for pattern in (subjects.val_report(ANY), subjects.life_event(ANY),
                    subjects.life_deathreport(ANY), subjects.risk_state(ANY)):
        subs += await observe(bus, pattern, on_msg)
    return subs
