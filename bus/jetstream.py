"""JetStream streams and KV buckets the architecture names, provisioned idempotently.

Core NATS carries high-rate market data (books, trades, contexts); everything that must not be
lost is stored: closed candles, candidates, reports, lifecycle events, the order path, control
commands and dead letters. Every stream has a de-duplication window, so a publish that carries the
same `Nats-Msg-Id` twice (a retry) is stored once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from bus import subjects as s
from bus.subjects import ANY


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_days: float | None = None  # None: the configured default
    max_msgs_per_subject: int = -1


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("CANDLES", (s.md_candle(ANY, ANY),), "closed candles", max_age_days=14),
    StreamSpec("EVOLUTION", (s.evo_candidate(),), "strategy candidates from evolution"),
    StreamSpec("VALIDATION", (s.val_report(ANY),), "validation reports"),
    StreamSpec("LIFECYCLE", (s.life_event(ANY), s.life_deathreport(ANY)), "lifecycle and deaths"),
    StreamSpec("REGIME", (s.regime_state(ANY),), "regime states", max_msgs_per_subject=1000),
    StreamSpec("ALLOCATION", (s.alloc_target(),), "allocation targets"),
    StreamSpec(
        "ORDERS",
        (s.order_intent(ANY, ANY), s.risk_decision(ANY, ANY), s.risk_state(ANY),
         s.risk_deactivate(ANY), s.risk_flatten(ANY)),
        "order intents, risk decisions, trading state, deactivations and flattens",
    ),
    StreamSpec("EXEC_CMD", (s.exec_cmd(ANY, ANY),), "execution commands (only risk publishes)"),
    StreamSpec(
        "EXEC_EVENTS",
        (s.exec_event(ANY, ANY, ANY), s.exec_position(ANY, ANY), s.exec_account(ANY)),
        "execution events, positions and accounts",
    ),
    StreamSpec("CONTROL", (s.ctl_kill(), s.ctl_resume(), s.ctl_strategy(ANY)),
               "operator commands"),
    StreamSpec("DEADLETTER", (s.sys_deadletter(ANY),), "messages agents could not decode"),
)

@dataclass(frozen=True)
class BucketSpec:
    """A KV bucket: current state, one key per thing, and the one agent that writes it."""

    history: int
    owner: str  # the writer (broker permissions follow); "" = several, by compare-and-set
    ttl_days: float = 0.0  # 0 = keys live until deleted
    description: str = ""


KV_BUCKETS: dict[str, BucketSpec] = {
    "registry": BucketSpec(10, "", description="strategy id -> RegistryEntry (bus/registry.py)"),
    "allocations": BucketSpec(5, "allocation", description="allocation weights"),
    "regime": BucketSpec(5, "regime", description="coin -> regime state"),
    "risk": BucketSpec(5, "risk", description="state.{account}, strategy.{id}: risk's state"),
    "risk_decisions": BucketSpec(1, "risk", ttl_days=7.0,
                                 description="intent id -> the one decision it got"),
    "trader": BucketSpec(5, "trader", description="virtual positions and handled bars"),
    "exec_paper": BucketSpec(1, "execution_paper", ttl_days=30.0,
                             description="the paper account's orders, fills seen, positions"),
    "exec_live": BucketSpec(1, "execution_live", ttl_days=30.0,
                            description="the live account's orders, fills seen, positions"),
}


def exec_bucket(account: str) -> str:
    return f"exec_{account}"


@functools.lru_cache(maxsize=4096)
def stream_for(subject: str) -> str | None:
    """The stream that stores `subject`, or None for core-NATS-only subjects."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if _matches(pattern, subject):
                return spec.name
    return None


def _matches(pattern: str, subject: str) -> bool:
    p, t = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(t) > i
        if i >= len(t) or (tok != "*" and tok != t[i]):
            return False
    return len(p) == len(t)


async def provision(
    js: JetStreamContext,
    *,
    duplicate_window_s: float = 120.0,
    max_age_days: float = 30.0,
    replicas: int = 1,
) -> list[str]:
    """Create or update every stream and KV bucket; safe to call from every agent at start."""
    done = []
    for spec in STREAMS:
        config = StreamConfig(
            name=spec.name,
            description=spec.description,
            subjects=list(spec.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=(spec.max_age_days or max_age_days) * 86400.0,
            max_msgs_per_subject=spec.max_msgs_per_subject,
            duplicate_window=duplicate_window_s,
            num_replicas=replicas,
        )
        try:
            await js.add_stream(config)
        except BadRequestError as exc:
            if exc.err_code != 10058:  # stream name already in use
                raise
            await js.update_stream(config)
        done.append(spec.name)
    for bucket, kv in KV_BUCKETS.items():
        try:
            await js.key_value(bucket)
        except (NotFoundError, BadRequestError):
            await js.create_key_value(KeyValueConfig(
                bucket=bucket, history=kv.history, replicas=replicas,
                ttl=kv.ttl_days * 86400.0 if kv.ttl_days else None,
                description=kv.description,
            ))
        done.append(f"KV_{bucket}")
    return done
