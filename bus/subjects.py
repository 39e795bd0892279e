"""The subject catalogue: the only place subject strings are written.

Subjects go broad to narrow (`md.candle.BTC.1h`). Pass `ANY` ("*") for a token, or use `everything`
helpers (`>`), only when subscribing; publishing to a wildcard is refused by `check_publishable`.
"""

from __future__ import annotations

import functools
import re

ANY = "*"
REST = ">"

_TOKEN = re.compile(r"^[^\s.*>]+$")


class SubjectError(ValueError):
    """A subject token is empty or contains whitespace, '.', '*' or '>'."""


def _token(value: str, what: str) -> str:
    if value == ANY or _TOKEN.match(value):
        return value
    raise SubjectError(
        f"invalid {what} {value!r} for a NATS subject: it must be non-empty and contain no "
        "whitespace, '.', '*' or '>'"
    )


def _join(*parts: str) -> str:
    return ".".join(parts)


# market data -------------------------------------------------------------------------------
def md_candle(coin: str, interval: str) -> str:
    return _join("md", "candle", _token(coin, "coin"), _token(interval, "interval"))


def md_book(coin: str) -> str:
    return _join("md", "book", _token(coin, "coin"))


def md_trade(coin: str) -> str:
    return _join("md", "trade", _token(coin, "coin"))


def md_ctx(coin: str) -> str:
    return _join("md", "ctx", _token(coin, "coin"))


def md_status() -> str:
    return "md.status"


def md_all() -> str:
    return "md.>"


# research ----------------------------------------------------------------------------------
def evo_candidate() -> str:
    return "evo.candidate"


def evo_progress() -> str:
    return "evo.progress"


def eval_batch() -> str:
    return "eval.batch"


def val_report(strategy_id: str) -> str:
    return _join("val", "report", _token(strategy_id, "strategy id"))


def life_event(strategy_id: str) -> str:
    return _join("life", "event", _token(strategy_id, "strategy id"))


def life_deathreport(strategy_id: str) -> str:
    return _join("life", "deathreport", _token(strategy_id, "strategy id"))


def regime_state(coin: str) -> str:
    return _join("regime", "state", _token(coin, "coin"))


def alloc_target() -> str:
    return "alloc.target"


# the order path ------------------------------------------------------------------------------
# Every order-path subject carries the account ("paper" | "live") right after its family, so
# permissions, consumers and watchers can take one account: `exec.cmd.live.>`.
def _account(account: str) -> str:
    if account not in ("paper", "live", ANY):
        raise SubjectError(f"invalid account {account!r}: use 'paper' or 'live'")
    return account


def order_intent(account: str, strategy_id: str) -> str:
    return _join("order", "intent", _account(account), _token(strategy_id, "strategy id"))


def risk_decision(account: str, strategy_id: str) -> str:
    return _join("risk", "decision", _account(account), _token(strategy_id, "strategy id"))


def risk_state(account: str) -> str:
    """TradingStateChanged of one account, on every change."""
    return _join("risk", "state", _account(account))


def risk_deactivate(strategy_id: str) -> str:
    """DeactivationRequested: risk saw a strategy's drawdown over k x its validated one."""
    return _join("risk", "deactivate", _token(strategy_id, "strategy id"))


def risk_flatten(account: str) -> str:
    """FlattenRequested: risk or the operator is closing positions; the trader zeroes them."""
    return _join("risk", "flatten", _account(account))


def exec_cmd(account: str, coin: str) -> str:
    """SubmitOrder / CancelOrder. Only risk may publish here (broker permissions)."""
    return _join("exec", "cmd", _account(account), _token(coin, "coin"))


EXEC_EVENT_KINDS = (
    "submitted", "accepted", "rejected", "filled", "canceled", "expired", "reconciled",
)


def exec_event(account: str, kind: str, coin: str) -> str:
    """kind: one of EXEC_EVENT_KINDS (ANY when subscribing)."""
    if kind != ANY and kind not in EXEC_EVENT_KINDS:
        raise SubjectError(f"invalid execution event kind {kind!r}: one of {EXEC_EVENT_KINDS}")
    return _join("exec", "event", _account(account), kind, _token(coin, "coin"))


def exec_outcomes() -> tuple[str, ...]:
    """What risk and the trader read of EXEC_EVENTS (their consumers' broker-side filters):
    what fills or ends an order, and the venue's positions and accounts. Submitted, accepted and
    reconciled events change neither, so they are never delivered to them."""
    return tuple([exec_event(ANY, kind, ANY) for kind in ("rejected", "filled", "canceled",
                                                           "expired")]
                 + [exec_position(ANY, ANY), exec_account(ANY)])


def exec_position(account: str, coin: str) -> str:
    return _join("exec", "position", _account(account), _token(coin, "coin"))


def exec_account(account: str) -> str:
    """AccountReport: equity, margin, transfers, positions at the venue."""
    return _join("exec", "account", _account(account))


def exec_status(account: str) -> str:
    """ExecutionStatus every heartbeat (core NATS): ready, reconciling, not ready (VPN down)."""
    return _join("exec", "status", _account(account))


# system and control --------------------------------------------------------------------------
def sys_heartbeat(agent: str) -> str:
    return _join("sys", "heartbeat", _token(agent, "agent name"))


def sys_deadletter(agent: str) -> str:
    return _join("sys", "deadletter", _token(agent, "agent name"))


def sys_clock() -> str:
    return "sys.clock"


def sys_warehouse_query() -> str:
    """Read-only SQL for the recorder's warehouse, request/reply (core NATS, never stored)."""
    return "sys.warehouse.query"


def ctl_kill() -> str:
    return "ctl.kill"


def ctl_resume() -> str:
    return "ctl.resume"


def ctl_strategy(strategy_id: str) -> str:
    """StrategyControl: the operator pauses, resumes or flattens one strategy."""
    return _join("ctl", "strategy", _token(strategy_id, "strategy id"))


def ctl_all() -> str:
    return "ctl.>"


def bench(name: str) -> str:
    """Scratch subjects for `organism bench` (in none of the organism's streams, never consumed
    by agents; a benchmark may store them in a stream of its own throwaway broker)."""
    return _join("bench", _token(name, "benchmark name"))


# helpers -----------------------------------------------------------------------------------
def family(subject: str) -> str:
    """The subject family used as a metric label: the first two tokens (`md.candle`)."""
    head, _, rest = subject.partition(".")
    second = rest.partition(".")[0]
    return f"{head}.{second}" if second else head


def is_wildcard(subject: str) -> bool:
    return any(tok in (ANY, REST) for tok in subject.split("."))


@functools.lru_cache(maxsize=65536)
def check_publishable(subject: str) -> str:
    if not subject or is_wildcard(subject) or any(not t for t in subject.split(".")):
        raise SubjectError(f"cannot publish to {subject!r}: publish subjects must be concrete")
    return subject


def validate_pattern(subject: str) -> str:
    """Check a subscription pattern typed by a user (`organism tail`)."""
    tokens = subject.split(".")
    for i, tok in enumerate(tokens):
        if tok == REST and i != len(tokens) - 1:
            raise SubjectError(f"invalid subject {subject!r}: '>' may only be the last token")
        if tok not in (ANY, REST) and not _TOKEN.match(tok):
            raise SubjectError(
                f"invalid subject {subject!r}: token {tok!r} is empty or contains whitespace"
            )
    return subject
