"""Logging for agents and the CLI: loguru, human-readable on stderr, JSON lines in a file.

Every record passes through a masker that replaces known secret values with ********, so a key
pasted into an exception message still never reaches a log. `log_failure` tells a step that
failed because the broker was away (one warning line: it is retried, this is weather) from a bug
(its traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nats.errors
import nats.js.errors
from loguru import logger

from settings import mask


# The broker away (restarting, unreachable, or too slow to answer a request): what failed for it
# is retried, by redelivery or the next round, so it is told in one line without a traceback.
BROKER_AWAY = (
    nats.errors.TimeoutError, nats.errors.ConnectionClosedError, nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError, nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError, nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


def log_failure(exc: BaseException, text: str, *args) -> None:
    """Log a step that raised `exc`: a warning line saying the broker did not answer when it was
    away, else an ERROR with the traceback. `text` and `args` as for loguru."""
    if isinstance(exc, BROKER_AWAY):
        logger.opt(depth=1).warning(text + " (the broker did not answer: {}: {})", *args,
                                    type(exc).__name__, exc)
    else:
        logger.opt(depth=1, exception=exc).error(text, *args)


def setup_logging(
    agent: str,
    *,
    level: str = "INFO",
    log_dir: Path | None = None,
    secrets: list[str] | None = None,
) -> None:
    secret_values = [s for s in (secrets or []) if s]

    def patch(record) -> None:
        if secret_values:
            record["message"] = mask(record["message"], secret_values)
            if record["exception"] is not None:
                exc = record["exception"]
                if exc.value is not None:
                    exc.value.args = tuple(
                        mask(a, secret_values) if isinstance(a, str) else a for a in exc.value.args
                    )
        record["extra"].setdefault("agent", agent)

    logger.remove()
    logger.configure(patcher=patch, extra={"agent": agent})
    logger.add(
        sys.stderr,
        level=level,
        format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{extra[agent]}</cyan> {message}",
        backtrace=False,
        diagnose=False,  # diagnose prints local variables: they may hold secrets
    )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_dir / f"{agent}.jsonl",
            level=level,
            serialize=True,
            rotation="50 MB",
            retention=5,
            backtrace=False,
            diagnose=False,
            enqueue=False,
        )
